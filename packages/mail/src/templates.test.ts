import { describe, expect, it } from 'vitest';
import { isTemplateName, renderEmail, type TemplateData, type TemplateName } from './templates.ts';

const rater: Omit<TemplateData['invitation'], 'surveys'> = {
  raterName: 'Sam Patel',
  organisationName: 'Acme & Co',
  programmeName: 'Leadership programme',
  deadline: '2026-12-05',
};

const samples: { [N in TemplateName]: TemplateData[N] } = {
  invitation: {
    ...rater,
    surveys: [{ leaderName: 'Dana Lee', link: 'https://survey.example/s/tok-dana', self: false }],
  },
  reminder: {
    ...rater,
    surveys: [{ leaderName: 'Dana Lee', link: 'https://survey.example/s/tok-dana', self: false }],
  },
  nomination: {
    leaderName: 'Dana Lee',
    organisationName: 'Acme & Co',
    programmeName: 'Leadership programme',
    deadline: '2026-11-30',
    link: 'https://report.example/nominate/tok-n',
    minimums: [
      { group: 'Peers', count: 3 },
      { group: 'Direct reports', count: 3 },
    ],
  },
  'sign-in': { name: 'Robin Hart', link: 'https://report.example/sign-in/tok-s', expiresInMinutes: 15 },
  'report-released': {
    leaderName: 'Dana Lee',
    programmeName: 'Leadership programme',
    link: 'https://report.example/reports/r1',
  },
};

const names = Object.keys(samples) as TemplateName[];
const htmlTag = /<\/?[a-z][a-z0-9-]*(\s[^>]*)?>/i;

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describe('renderEmail', () => {
  it.each(names)('renders %s with a subject, an HTML part and a text part', (name) => {
    const data = samples[name];
    const email = renderEmail(name, data);
    expect(email.subject.length).toBeGreaterThan(5);
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.html).toMatch(/^<!DOCTYPE html>/);
    expect(email.html).toContain('<html lang="en">');
    expect(email.html).toContain('max-width:600px');
    expect(email.text).not.toMatch(htmlTag);
    // The plain URL is printed as well as the button, for clients that do not show buttons.
    const link = 'link' in data ? data.link : 'https://survey.example/s/tok-dana';
    expect(count(email.html, `href="${link}"`)).toBe(2);
    expect(email.html).toContain(`>${link}</a>`);
    expect(count(email.text, link)).toBe(1);
  });

  it('words the subjects for one colleague, several colleagues and a self-assessment', () => {
    const with_ = (surveys: TemplateData['invitation']['surveys']) =>
      renderEmail('invitation', { ...rater, surveys }).subject;
    const dana = { leaderName: 'Dana Lee', link: 'https://s.example/1', self: false };
    const kim = { leaderName: 'Kim Ng', link: 'https://s.example/2', self: false };
    const ali = { leaderName: 'Ali Khan', link: 'https://s.example/3', self: false };
    const self = { leaderName: 'Sam Patel', link: 'https://s.example/4', self: true };

    expect(with_([dana])).toBe('Your feedback for Dana Lee — Leadership programme');
    expect(with_([dana, kim, ali])).toBe('Feedback for 3 colleagues — Leadership programme');
    expect(with_([self])).toBe('Your self-assessment — Leadership programme');
    expect(with_([self, dana])).toBe('Your self-assessment and feedback for Dana Lee — Leadership programme');
    expect(renderEmail('reminder', { ...rater, surveys: [dana] }).subject).toBe(
      'Reminder: your feedback for Dana Lee — Leadership programme',
    );
  });

  it('calls a self survey "your self-assessment" and does not promise the leader anonymity', () => {
    const email = renderEmail('invitation', {
      ...rater,
      surveys: [{ leaderName: 'Sam Patel', link: 'https://s.example/self', self: true }],
    });
    expect(email.text).toContain('your self-assessment');
    expect(email.text).toContain('Start your self-assessment:\nhttps://s.example/self');
    expect(email.text).not.toContain('anonymous');
    expect(email.text).not.toContain('Feedback for Sam Patel');
  });

  it('tells a rater about time, anonymity, combined results and not forwarding the link', () => {
    const { text, html } = renderEmail('invitation', samples.invitation);
    for (const part of [text, html]) {
      expect(part).toContain('about ten minutes');
      expect(part).toContain('anonymous');
      expect(part).toContain('Ratings from peers, direct reports and others are only ever shown combined');
      expect(part).toMatch(/do not forward it/);
    }
  });

  it('lists every link of a multi-leader invitation exactly once, each under its leader', () => {
    const surveys = [
      { leaderName: 'Dana Lee', link: 'https://survey.example/s/aaa', self: false },
      { leaderName: 'Kim Ng', link: 'https://survey.example/s/bbb', self: false },
      { leaderName: 'Sam Patel', link: 'https://survey.example/s/ccc', self: true },
    ];
    for (const name of ['invitation', 'reminder'] as const) {
      const { html, text } = renderEmail(name, { ...rater, surveys });
      for (const { link } of surveys) {
        expect(count(text, link)).toBe(1);
        expect(count(html, `href="${link}"`)).toBe(2); // button + plain URL
        expect(count(html, `>${link}</a>`)).toBe(1);
      }
      expect(text).toContain('Give feedback on Dana Lee:\nhttps://survey.example/s/aaa');
      expect(text).toContain('Give feedback on Kim Ng:\nhttps://survey.example/s/bbb');
      expect(text).toContain('Start your self-assessment:\nhttps://survey.example/s/ccc');
      expect(count(html, '<h2')).toBe(3);
      expect(text).toMatch(/These links are personal to you/);
    }
  });

  it('escapes names in HTML and prints them as they are in text', () => {
    const evil = '<script>alert(1)</script> "quotes" & O\'Brien';
    const email = renderEmail('invitation', {
      ...rater,
      raterName: evil,
      organisationName: '<b>Org</b>',
      surveys: [{ leaderName: evil, link: 'https://survey.example/s/x', self: false }],
    });
    expect(email.html).not.toContain('<script>');
    expect(email.html).not.toContain('<b>Org</b>');
    expect(email.html).not.toContain('"quotes"');
    expect(email.html).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt; &quot;quotes&quot; &amp; O&#x27;Brien',
    );
    expect(email.html).toContain('&lt;b&gt;Org&lt;/b&gt;');
    expect(email.text).toContain(`Hello ${evil},`);
    expect(email.text).not.toContain('&quot;');
    expect(email.text).not.toContain('&amp;');
    expect(email.subject).toBe(`Your feedback for ${evil} — Leadership programme`);
  });

  it('escapes a link inside the href and keeps it verbatim in text', () => {
    const link = 'https://survey.example/s/t?a=1&b="2"';
    const email = renderEmail('report-released', { ...samples['report-released'], link });
    expect(email.html).toContain('href="https://survey.example/s/t?a&#x3D;1&amp;b&#x3D;&quot;2&quot;"');
    expect(email.text).toContain(link);
  });

  it('renders the deadline in words', () => {
    expect(renderEmail('invitation', samples.invitation).text).toContain('by 5 December 2026.');
    expect(renderEmail('nomination', samples.nomination).html).toContain('by 30 November 2026.');
    expect(renderEmail('reminder', { ...samples.reminder, deadline: '2027-01-01' }).text).toContain(
      '1 January 2027',
    );
  });

  it('lists the nomination minimums', () => {
    const { text, html } = renderEmail('nomination', samples.nomination);
    expect(text).toContain('- Peers: at least 3\n- Direct reports: at least 3');
    expect(html).toContain('<li>Direct reports: at least 3</li>');
    const none = renderEmail('nomination', { ...samples.nomination, minimums: [] });
    expect(none.html).not.toContain('<ul');
  });

  it('says a sign-in link works once, when it expires, and what to do if unasked', () => {
    const { text } = renderEmail('sign-in', samples['sign-in']);
    expect(text).toContain('It works once and expires in 15 minutes.');
    expect(text).toContain('If you did not ask for it, you can safely ignore this email');
    expect(renderEmail('sign-in', { ...samples['sign-in'], expiresInMinutes: 60 }).text).toContain(
      'expires in 1 hour.',
    );
  });

  describe('refuses data it cannot print', () => {
    const cases: [string, () => unknown][] = [
      [
        'a missing rater name',
        () => renderEmail('invitation', { ...samples.invitation, raterName: undefined as never }),
      ],
      [
        'an empty leader name',
        () =>
          renderEmail('invitation', {
            ...rater,
            surveys: [{ leaderName: ' ', link: 'https://s.example/1', self: false }],
          }),
      ],
      ['no surveys', () => renderEmail('reminder', { ...rater, surveys: [] })],
      [
        'a missing link',
        () => renderEmail('report-released', { leaderName: 'Dana', programmeName: 'P' } as never),
      ],
      [
        'a javascript: link',
        () => renderEmail('sign-in', { ...samples['sign-in'], link: 'javascript:alert(1)' }),
      ],
      ['a relative link', () => renderEmail('sign-in', { ...samples['sign-in'], link: '/sign-in/x' })],
      ['a missing expiry', () => renderEmail('sign-in', { name: 'R', link: 'https://x.example/' } as never)],
      [
        'a deadline that is not a date',
        () => renderEmail('nomination', { ...samples.nomination, deadline: '2026-02-30' }),
      ],
      [
        'a deadline in another format',
        () => renderEmail('nomination', { ...samples.nomination, deadline: '05/12/2026' }),
      ],
      [
        'a missing minimum count',
        () => renderEmail('nomination', { ...samples.nomination, minimums: [{ group: 'Peers' }] as never }),
      ],
      ['an unknown template', () => renderEmail('welcome' as TemplateName, {} as never)],
    ];
    it.each(cases)('%s', (_label, render) => {
      expect(render).toThrow();
    });
  });
});

describe('isTemplateName', () => {
  it('knows the five templates and nothing else', () => {
    for (const name of names) expect(isTemplateName(name)).toBe(true);
    expect(isTemplateName('welcome')).toBe(false);
    expect(isTemplateName('toString')).toBe(false);
  });
});

describe('manager wording', () => {
  const base = {
    raterName: 'Kim Wu',
    organisationName: 'Acme',
    programmeName: 'Leadership 2027',
    deadline: '2027-02-28',
  };
  it('tells a manager their ratings are shown on their own, not that they are anonymous', () => {
    const email = renderEmail('invitation', {
      ...base,
      surveys: [{ leaderName: 'Dana Lee', link: 'https://survey.example/s/abc', self: false, manager: true }],
    });
    expect(email.text).toContain('As their manager, your ratings are shown in the report on their own');
    expect(email.text).not.toContain('Your answers are anonymous');
  });
  it('names the leaders a mixed rater manages', () => {
    const email = renderEmail('invitation', {
      ...base,
      surveys: [
        { leaderName: 'Dana Lee', link: 'https://survey.example/s/abc', self: false, manager: true },
        { leaderName: 'Eli Ng', link: 'https://survey.example/s/def', self: false },
      ],
    });
    expect(email.text).toContain('Your answers are anonymous');
    expect(email.text).toContain('Where you are the manager (Dana Lee)');
  });
});
