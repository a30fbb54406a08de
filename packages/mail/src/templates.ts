import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';

export type TemplateName = 'invitation' | 'reminder' | 'nomination' | 'sign-in' | 'report-released';

const TEMPLATE_NAMES: readonly TemplateName[] = [
  'invitation',
  'reminder',
  'nomination',
  'sign-in',
  'report-released',
];

/** One survey a rater is asked to fill in: feedback on a colleague, or (`self`) the leader's own. */
export interface SurveyLink {
  leaderName: string;
  link: string;
  self: boolean;
  /** The rater is this leader's manager: their ratings are shown on their own, not combined. */
  manager?: boolean;
}

/** Invitation and reminder: one email per rater and cycle, listing every survey that rater is asked for. */
export interface RaterSurveysData {
  raterName: string;
  organisationName: string;
  programmeName: string;
  /** 'YYYY-MM-DD'; printed as '5 December 2026'. */
  deadline: string;
  surveys: SurveyLink[];
}

/** The data each email needs, by template name. */
export interface TemplateData {
  invitation: RaterSurveysData;
  reminder: RaterSurveysData;
  nomination: {
    leaderName: string;
    organisationName: string;
    programmeName: string;
    /** 'YYYY-MM-DD'. */
    deadline: string;
    link: string;
    /** The fewest raters each group needs for it to appear in the report. */
    minimums: { group: string; count: number }[];
  };
  'sign-in': { name: string; link: string; expiresInMinutes: number };
  'report-released': { leaderName: string; programmeName: string; link: string };
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export function isTemplateName(s: string): s is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(s);
}

/**
 * Renders one email: its subject, an HTML part and a plain-text part. Throws when `data` lacks a field or
 * holds a value the email cannot print (a deadline that is not a date, a link that is not http(s)).
 * Templates are read and compiled once, on the first call.
 */
export function renderEmail<N extends TemplateName>(name: N, data: TemplateData[N]): RenderedEmail {
  if (!isTemplateName(name)) throw new Error(`Unknown email template: ${String(name)}`);
  const view = VIEW_MODELS[name](data);
  const { html, text } = compiled()[name];
  return { subject: view.subject, html: html(view), text: text(view) };
}

// ---------------------------------------------------------------------------------------------------------
// View models: exactly what each template prints, worked out here so the templates hold no decisions.

/** What the shared layout prints around every email. */
interface LayoutView {
  subject: string;
  /** Shown by most inboxes after the subject; hidden in the body. */
  preheader: string;
  /** Small line above the heading saying who the email is from, e.g. 'Acme · Leadership programme'. */
  eyebrow: string;
  heading: string;
  greeting: string;
  footer: string;
}

/** What the button partial prints. */
interface ButtonView {
  buttonLabel: string;
  link: string;
}

interface RaterSurveysView extends LayoutView {
  intro: string;
  several: boolean;
  surveys: (ButtonView & { title: string })[];
  timeAndDeadline: string;
  notes: string[];
}

interface NominationView extends LayoutView, ButtonView {
  intro: string;
  deadlineNote: string;
  hasMinimums: boolean;
  minimums: string[];
  notes: string[];
}

interface SimpleLinkView extends LayoutView, ButtonView {
  intro: string;
  notes: string[];
}

type ViewModels = { [N in TemplateName]: (data: TemplateData[N]) => LayoutView };

// Typed as the mapped type (not `satisfies`) so `VIEW_MODELS[name]` takes `TemplateData[N]` in renderEmail.
const VIEW_MODELS: ViewModels = {
  invitation: (data) => raterSurveysView(data, 'invitation'),
  reminder: (data) => raterSurveysView(data, 'reminder'),
  nomination: nominationView,
  'sign-in': signInView,
  'report-released': reportReleasedView,
};

const COMBINED =
  'Ratings from peers, direct reports and others are only ever shown combined with others’, never on their own.';

function raterSurveysView(data: RaterSurveysData, kind: 'invitation' | 'reminder'): RaterSurveysView {
  const raterName = requireText(data, 'raterName');
  const organisationName = requireText(data, 'organisationName');
  const programmeName = requireText(data, 'programmeName');
  const deadline = formatDate(requireText(data, 'deadline'));
  if (!Array.isArray(data.surveys) || data.surveys.length === 0) {
    throw new Error('Email data: "surveys" must list at least one survey');
  }
  const surveys = data.surveys.map((s, i) => {
    const where = `surveys[${i}]`;
    const leaderName = requireText(s, 'leaderName', where);
    if (typeof s.self !== 'boolean') throw new Error(`Email data: "${where}.self" must be true or false`);
    return {
      leaderName,
      self: s.self,
      manager: s.manager === true,
      link: requireLink(s.link, `${where}.link`),
    };
  });

  const others = surveys.filter((s) => !s.self).map((s) => s.leaderName);
  const hasSelf = others.length < surveys.length;
  const several = surveys.length > 1;
  const firstOther = others[0] ?? '';
  const othersPhrase = others.length === 1 ? firstOther : `${others.length} colleagues`;
  // 'your feedback for Dana Lee' | 'your self-assessment' | 'your self-assessment and feedback for 2 colleagues'
  const summary =
    others.length === 0
      ? 'your self-assessment'
      : hasSelf
        ? `your self-assessment and feedback for ${othersPhrase}`
        : `your feedback for ${othersPhrase}`;
  const title = others.length > 1 && !hasSelf ? `Feedback for ${othersPhrase}` : capitalise(summary);

  const howTheyLead =
    others.length === 1
      ? `how ${firstOther} leads`
      : `how each of ${others.length === 2 ? 'these two colleagues' : `these ${others.length} colleagues`} leads`;
  const asking =
    others.length === 0
      ? 'It is time for your self-assessment. You answer the same questions as your colleagues, so your report ' +
        'can show where your view and theirs agree and where they differ.'
      : hasSelf
        ? `It is time for your self-assessment, and we would also value your honest view of ${howTheyLead}.`
        : `We would value your honest view of ${howTheyLead}. Your feedback helps them see their strengths ` +
          'and where to grow.';
  const intro =
    kind === 'reminder' ? `Just a gentle reminder that there is still time for ${summary}.` : asking;

  const notes = [
    ...(() => {
      const managed = surveys.filter((s) => !s.self && s.manager).map((s) => s.leaderName);
      if (others.length === 0) return [];
      if (managed.length === others.length) {
        return [
          'As their manager, your ratings are shown in the report on their own, labelled as the manager’s. ' +
            COMBINED,
        ];
      }
      return [
        `Your answers are anonymous. ${COMBINED}`,
        ...(managed.length > 0
          ? [`Where you are the manager (${managed.join(', ')}), your ratings are shown on their own.`]
          : []),
      ];
    })(),
    ...(hasSelf
      ? ['Your self-assessment is shown beside your colleagues’ combined feedback in your report.']
      : []),
    several
      ? 'These links are personal to you, so please do not forward them.'
      : 'This link is personal to you, so please do not forward it.',
    ...(kind === 'reminder'
      ? [
          'If you have already started, continue with the link in your first email: your saved answers stay ' +
            'with that link. This new link works too, starting afresh.',
          'If you have finished since we wrote, thank you, and please ignore this email.',
        ]
      : []),
  ];

  return {
    subject: kind === 'reminder' ? `Reminder: ${summary} — ${programmeName}` : `${title} — ${programmeName}`,
    preheader:
      kind === 'reminder'
        ? `Please finish by ${deadline}. It takes about ten minutes.`
        : `It takes about ten minutes. Please respond by ${deadline}.`,
    eyebrow: `${organisationName} · ${programmeName}`,
    heading: kind === 'reminder' ? 'A gentle reminder' : title,
    greeting: greeting(raterName),
    footer: `You are receiving this because ${organisationName} invited you to take part in ${programmeName}.`,
    intro,
    several,
    surveys: surveys.map((s) =>
      s.self
        ? { title: 'Your self-assessment', buttonLabel: 'Start your self-assessment', link: s.link }
        : {
            title: `Feedback for ${s.leaderName}`,
            buttonLabel: `Give feedback on ${s.leaderName}`,
            link: s.link,
          },
    ),
    timeAndDeadline: `${several ? 'Each one takes' : 'It takes'} about ten minutes. Please respond by ${deadline}.`,
    notes,
  };
}

function nominationView(data: TemplateData['nomination']): NominationView {
  const leaderName = requireText(data, 'leaderName');
  const organisationName = requireText(data, 'organisationName');
  const programmeName = requireText(data, 'programmeName');
  const deadline = formatDate(requireText(data, 'deadline'));
  if (!Array.isArray(data.minimums)) throw new Error('Email data: "minimums" must be a list');
  const minimums = data.minimums.map((m, i) => {
    const group = requireText(m, 'group', `minimums[${i}]`);
    if (!Number.isInteger(m.count) || m.count < 1) {
      throw new Error(`Email data: "minimums[${i}].count" must be a positive whole number`);
    }
    return `${group}: at least ${m.count}`;
  });
  return {
    subject: `Choose who gives you feedback — ${programmeName}`,
    preheader: `Please choose your raters by ${deadline}.`,
    eyebrow: `${organisationName} · ${programmeName}`,
    heading: 'Choose who gives you feedback',
    greeting: greeting(leaderName),
    footer: `You are receiving this because you are taking part in ${programmeName} at ${organisationName}.`,
    intro:
      'Your feedback starts with the people you ask. Please choose colleagues who see your work often enough ' +
      'to give a fair view: people you work with easily, and people you find it harder to work with.',
    deadlineNote: `Please choose them by ${deadline}. We will then email each of them their own personal link.`,
    hasMinimums: minimums.length > 0,
    minimums,
    notes: [COMBINED, 'This link is personal to you, so please do not forward it.'],
    buttonLabel: 'Choose your raters',
    link: requireLink(data.link, 'link'),
  };
}

function signInView(data: TemplateData['sign-in']): SimpleLinkView {
  const name = requireText(data, 'name');
  const minutes = data.expiresInMinutes;
  if (!Number.isInteger(minutes) || minutes < 1) {
    throw new Error('Email data: "expiresInMinutes" must be a positive whole number');
  }
  const expiry = formatDuration(minutes);
  return {
    subject: 'Your sign-in link',
    preheader: `It works once and expires in ${expiry}.`,
    eyebrow: 'Panorama',
    heading: 'Your sign-in link',
    greeting: greeting(name),
    footer: 'You are receiving this because someone asked to sign in with this email address.',
    intro: `Here is the sign-in link you asked for. It works once and expires in ${expiry}.`,
    notes: [
      'If you did not ask for it, you can safely ignore this email: nobody can sign in without the link.',
      'Please do not share it with anyone.',
    ],
    buttonLabel: 'Sign in',
    link: requireLink(data.link, 'link'),
  };
}

function reportReleasedView(data: TemplateData['report-released']): SimpleLinkView {
  const leaderName = requireText(data, 'leaderName');
  const programmeName = requireText(data, 'programmeName');
  return {
    subject: `Your feedback report is ready — ${programmeName}`,
    preheader: 'Your colleagues’ feedback, brought together in one report.',
    eyebrow: programmeName,
    heading: 'Your feedback report is ready',
    greeting: greeting(leaderName),
    footer: `You are receiving this because you are taking part in ${programmeName}.`,
    intro:
      'Your report brings together the feedback your colleagues gave. Take your time with it: many people find ' +
      'it helps to read it once, let it settle, and come back to it a day or two later.',
    notes: ['This link is for you alone, so please do not forward it.'],
    buttonLabel: 'Open your report',
    link: requireLink(data.link, 'link'),
  };
}

function requireText(obj: unknown, key: string, where?: string): string {
  const value = typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`Email data: "${where ? `${where}.${key}` : key}" is missing or empty`);
  }
  // One line, single spaces: a line break in a name must not reach a subject header or break the layout.
  return value.replace(/\s+/g, ' ').trim();
}

/** Only absolute http(s) links may reach an href: a `javascript:` URL survives HTML escaping and still runs. */
function requireLink(value: unknown, label: string): string {
  if (typeof value !== 'string') throw new Error(`Email data: "${label}" is missing`);
  if (!URL.canParse(value) || !['https:', 'http:'].includes(new URL(value).protocol)) {
    throw new Error(`Email data: "${label}" must be an absolute http(s) URL`);
  }
  return value;
}

function greeting(name: string): string {
  return `Hello ${name},`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const DATE_FORMAT = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  timeZone: 'UTC',
});

/** 'YYYY-MM-DD' -> '5 December 2026'. A deadline is a calendar day: read and print it in UTC so no zone shifts it. */
function formatDate(isoDate: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDate);
  const date = match
    ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))
    : undefined;
  // Date.UTC rolls 2026-02-30 over to 2 March; comparing back catches it.
  if (!date || date.toISOString().slice(0, 10) !== isoDate) {
    throw new Error(`Email data: deadline "${isoDate}" is not a date (YYYY-MM-DD)`);
  }
  return DATE_FORMAT.format(date);
}

function formatDuration(minutes: number): string {
  if (minutes % 60 === 0) return minutes === 60 ? '1 hour' : `${minutes / 60} hours`;
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

// ---------------------------------------------------------------------------------------------------------
// Compilation: once, on first use, into a Handlebars instance of our own so no helper or partial leaks in
// from, or out to, other users of the global instance.

type CompileOptions = NonNullable<Parameters<typeof Handlebars.compile>[1]>;
type Compiled = Record<
  TemplateName,
  { html: Handlebars.TemplateDelegate; text: Handlebars.TemplateDelegate }
>;

const TEMPLATES_DIR = new URL('../templates/', import.meta.url);
let cache: Compiled | undefined;

function compiled(): Compiled {
  if (cache) return cache;
  const hb = Handlebars.create();
  // strict: a field a template names but its view model lacks throws instead of printing nothing.
  const htmlOptions: CompileOptions = { strict: true };
  // Plain text is not HTML: escaping would print "O'Brien" as "O&#x27;Brien" and "&" in a link as "&amp;".
  const textOptions: CompileOptions = { strict: true, noEscape: true };
  const read = (file: string): string => readFileSync(new URL(file, TEMPLATES_DIR), 'utf8');

  // Registered compiled: a partial registered as source would be compiled again on every render.
  hb.registerPartial('html-layout', hb.compile(read('partials/layout.html.hbs'), htmlOptions));
  hb.registerPartial('html-button', hb.compile(read('partials/button.html.hbs'), htmlOptions));
  hb.registerPartial('text-layout', hb.compile(read('partials/layout.text.hbs'), textOptions));

  const result = {} as Compiled;
  for (const name of TEMPLATE_NAMES) {
    result[name] = {
      html: hb.compile(read(`${name}.html.hbs`), htmlOptions),
      text: hb.compile(read(`${name}.text.hbs`), textOptions),
    };
  }
  cache = result;
  return cache;
}
