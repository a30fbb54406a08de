import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WebText } from '@panorama/web';

export type MessageVars = Record<string, string | number>;

/** Every rater-facing string of one language, looked up by dotted key. */
export interface Locale {
  /** For `<html lang>`. */
  htmlLang: string;
  /** For Intl date and plural rules. */
  intlLocale: string;
  /** The message at `key` with `{name}` placeholders filled; a missing key or variable throws. */
  t(key: string, vars?: MessageVars): string;
  /** Picks `<key>.one`, `<key>.other`, … by the language's plural rules; `{count}` is filled in. */
  plural(key: string, count: number, vars?: MessageVars): string;
}

const LOCALES_DIR = path.resolve(import.meta.dirname, '../locales');
const PLACEHOLDER = /\{([a-zA-Z][a-zA-Z0-9]*)\}/g;

function flatten(tree: unknown, prefix: string, into: Map<string, string>): void {
  if (typeof tree === 'string') {
    into.set(prefix, tree);
    return;
  }
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) {
    throw new Error(`locale: ${prefix || '(root)'} must be a string or an object of strings`);
  }
  for (const [key, child] of Object.entries(tree)) flatten(child, prefix ? `${prefix}.${key}` : key, into);
}

/** Builds a locale from a nested object of strings (the parsed `locales/<lang>.json`). */
export function createLocale(tree: unknown): Locale {
  const messages = new Map<string, string>();
  flatten(tree, '', messages);
  const htmlLang = messages.get('meta.htmlLang');
  const intlLocale = messages.get('meta.intlLocale');
  if (!htmlLang || !intlLocale) throw new Error('locale: meta.htmlLang and meta.intlLocale are required');
  const rules = new Intl.PluralRules(intlLocale);

  function t(key: string, vars: MessageVars = {}): string {
    const message = messages.get(key);
    if (message === undefined) throw new Error(`locale ${htmlLang}: no message "${key}"`);
    return message.replace(PLACEHOLDER, (_match, name: string) => {
      const value = vars[name];
      if (value === undefined) throw new Error(`locale ${htmlLang}: message "${key}" needs {${name}}`);
      return String(value);
    });
  }

  function plural(key: string, count: number, vars: MessageVars = {}): string {
    const form = `${key}.${rules.select(count)}`;
    return t(messages.has(form) ? form : `${key}.other`, { ...vars, count });
  }

  return { htmlLang, intlLocale, t, plural };
}

const loaded = new Map<string, Locale>();

/** Reads `locales/<lang>.json` once per process. */
export function loadLocale(lang = 'en'): Locale {
  if (!/^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/.test(lang)) throw new Error(`locale: bad language tag ${lang}`);
  let locale = loaded.get(lang);
  if (!locale) {
    locale = createLocale(JSON.parse(readFileSync(path.join(LOCALES_DIR, `${lang}.json`), 'utf8')));
    loaded.set(lang, locale);
  }
  return locale;
}

/** The shared layout's and error pages' words in this language (`chrome.*` in the locale file). */
export function webText(locale: Locale): WebText {
  const t = (key: string) => locale.t(`chrome.${key}`);
  const e = (key: string) => t(`errors.${key}`);
  return {
    skipLink: t('skipLink'),
    footer: t('footer'),
    backToStart: t('backToStart'),
    errors: {
      badRequest: e('badRequest'),
      notFound: { title: e('notFoundTitle'), message: e('notFoundMessage') },
      forbidden: e('forbidden'),
      conflict: e('conflict'),
      unavailable: { title: e('unavailableTitle'), message: e('unavailableMessage') },
      notAccepted: e('notAccepted'),
      formExpired: e('formExpired'),
      tooLarge: e('tooLarge'),
      unsupported: e('unsupported'),
      tooMany: { title: e('tooManyTitle'), message: e('tooManyMessage') },
      internal: { title: e('internalTitle'), message: e('internalMessage') },
    },
  };
}
