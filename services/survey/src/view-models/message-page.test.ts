import { describe, expect, it } from 'vitest';
import { loadLocale } from '../locale.ts';
import { declinePageView, messagePageView, type MessagePage } from './message-page.ts';

const locale = loadLocale('en');
const PAGES: MessagePage[] = [
  'home',
  'thanks',
  'declined',
  'saved',
  'linkUnusable',
  'alreadySubmitted',
  'tooLarge',
  'tooMany',
  'formExpired',
  'badRequest',
];

describe('messagePageView', () => {
  it.each(PAGES)('%s has a title and text from the locale', (page) => {
    const view = messagePageView(page, locale);
    expect(view.lang).toBe('en');
    expect(view.title).not.toBe('');
    expect(view.pageTitle).toBe(view.title);
    expect(view.paragraphs.length).toBeGreaterThan(0);
  });

  it('an unusable link says the same thing whatever the reason, without a way to probe further', () => {
    expect(messagePageView('linkUnusable', locale)).toEqual({
      lang: 'en',
      pageTitle: 'This link cannot be used',
      title: 'This link cannot be used',
      paragraphs: [
        'It may be incomplete, expired, or already used. If you still want to give feedback, ask the person who invited you for a new link.',
      ],
      link: undefined,
    });
  });
});

describe('declinePageView', () => {
  it('names the leader for a rater, and speaks to the leader on the self-assessment', () => {
    const token = 'T'.repeat(43);
    const rater = declinePageView({
      survey: { leaderName: 'Dana Lee', perspective: 'rater' },
      token,
      csrfToken: 'c',
      locale,
    });
    expect(rater.heading).toBe('Decline to give feedback for Dana Lee?');
    expect(rater.action).toBe(`/s/${token}/decline`);
    expect(rater.cancel.href).toBe(`/s/${token}`);
    const self = declinePageView({
      survey: { leaderName: 'Dana Lee', perspective: 'self' },
      token,
      csrfToken: 'c',
      locale,
    });
    expect(self.heading).toBe('Decline your self-assessment?');
  });
});
