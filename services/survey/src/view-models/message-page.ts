import type { Locale } from '../locale.ts';
import type { FormSurvey, LinkView } from './form-page.ts';

/** A page that only says something: thanks, declined, saved, and every error a rater can meet. */
export interface MessagePageView {
  lang: string;
  pageTitle: string;
  title: string;
  paragraphs: string[];
  link?: LinkView | undefined;
}

/** Which locale keys make up each message page. */
const PAGES = {
  home: { title: 'home.title', lede: 'home.lede', body: ['home.body'] },
  thanks: { title: 'thanks.title', body: ['thanks.body'] },
  declined: { title: 'decline.doneTitle', body: ['decline.doneBody'] },
  saved: { title: 'saved.title', body: ['saved.body', 'saved.keep'] },
  linkUnusable: { title: 'linkUnusable.title', body: ['linkUnusable.body'] },
  alreadySubmitted: { title: 'alreadySubmitted.title', body: ['alreadySubmitted.body'] },
  tooLarge: { title: 'problem.tooLargeTitle', body: ['problem.tooLargeBody'] },
  tooMany: { title: 'problem.tooManyTitle', body: ['problem.tooManyBody'] },
  formExpired: { title: 'problem.formExpiredTitle', body: ['problem.formExpiredBody'] },
  badRequest: { title: 'problem.badRequestTitle', body: ['problem.badRequestBody'] },
} as const satisfies Record<string, { title: string; lede?: string; body: readonly string[] }>;

export type MessagePage = keyof typeof PAGES;

export function messagePageView(page: MessagePage, locale: Locale): MessagePageView {
  const keys: { title: string; lede?: string; body: readonly string[] } = PAGES[page];
  const title = locale.t(keys.title);
  return {
    lang: locale.htmlLang,
    pageTitle: title,
    title,
    paragraphs: [...(keys.lede ? [keys.lede] : []), ...keys.body].map((key) => locale.t(key)),
    link: ['tooLarge', 'formExpired', 'badRequest'].includes(page)
      ? { href: '/', text: locale.t('problem.backToStart') }
      : undefined,
  };
}

export interface DeclinePageView {
  lang: string;
  pageTitle: string;
  heading: string;
  body: string;
  action: string;
  csrfToken: string;
  confirm: string;
  cancel: LinkView;
}

export function declinePageView(input: {
  survey: Pick<FormSurvey, 'leaderName' | 'perspective'>;
  token: string;
  csrfToken: string;
  locale: Locale;
}): DeclinePageView {
  const { survey, token, locale } = input;
  return {
    lang: locale.htmlLang,
    pageTitle: locale.t('decline.pageTitle'),
    heading:
      survey.perspective === 'self'
        ? locale.t('decline.headingSelf')
        : locale.t('decline.headingRater', { name: survey.leaderName }),
    body: locale.t('decline.body'),
    action: `/s/${token}/decline`,
    csrfToken: input.csrfToken,
    confirm: locale.t('decline.confirm'),
    cancel: { href: `/s/${token}`, text: locale.t('decline.cancel') },
  };
}
