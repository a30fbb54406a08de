import { describe, expect, it } from 'vitest';
import { createLocale, loadLocale } from './locale.ts';

const tree = {
  meta: { htmlLang: 'en', intlLocale: 'en-GB' },
  greeting: 'Hello {name}, you have {count} items',
  items: { one: '1 item', other: '{count} items' },
};

describe('locale', () => {
  it('fills {name} placeholders', () => {
    expect(createLocale(tree).t('greeting', { name: 'Dana', count: 3 })).toBe('Hello Dana, you have 3 items');
  });

  it('throws on a missing key or a missing variable, instead of printing a gap', () => {
    const locale = createLocale(tree);
    expect(() => locale.t('nope.missing')).toThrow(/no message "nope.missing"/);
    expect(() => locale.t('greeting', { name: 'Dana' })).toThrow(/needs \{count\}/);
    // A branch is not a message.
    expect(() => locale.t('items')).toThrow(/no message "items"/);
  });

  it('picks plural forms by the language rules', () => {
    const locale = createLocale(tree);
    expect(locale.plural('items', 1)).toBe('1 item');
    expect(locale.plural('items', 0)).toBe('0 items');
    expect(locale.plural('items', 7)).toBe('7 items');
  });

  it('refuses a file that is not an object of strings, or lacks its meta', () => {
    expect(() => createLocale({ ...tree, bad: 3 })).toThrow(/bad must be a string/);
    expect(() => createLocale({ greeting: 'hi' })).toThrow(/meta/);
    expect(() => createLocale([])).toThrow();
  });

  it('loads en.json once and answers from it', () => {
    const en = loadLocale('en');
    expect(loadLocale('en')).toBe(en);
    expect(en.htmlLang).toBe('en');
    expect(en.t('form.headingRater', { name: 'Dana Lee' })).toBe('Feedback for Dana Lee');
    expect(() => loadLocale('../../etc/passwd')).toThrow(/bad language tag/);
  });
});
