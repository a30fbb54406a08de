import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadySubmittedError, programmeRepository } from '@panorama/db';
import { tokenMac, newToken, type Instrument } from '@panorama/domain';
import { createCompletionSet, createRedis } from '@panorama/jobs';
import { sendReminders } from '@panorama/report';
import { buildSurveyApp, createSurveyService, type SurveyAppDeps } from '@panorama/survey';
import { openSurveyCycle } from '../e2e/support/survey-cycle.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { keys, linksFromOutbox, SURVEY_URL, TEST_SECRET } from '../support/scenario.ts';

let t: TestDatabase;
let redis: Redis;
let app: FastifyInstance;
const logs: string[] = [];
/** Every link these tests used, to check that none reached a log line. */
const usedTokens = new Set<string>();

async function surveyApp(extra: Partial<SurveyAppDeps> = {}) {
  return buildSurveyApp({
    db: t.db,
    redis,
    keys,
    config: { LOG_LEVEL: 'info', APP_SECRET: TEST_SECRET, SURVEY_PUBLIC_URL: SURVEY_URL, TRUST_PROXY: false },
    logStream: { write: (line: string) => void logs.push(line) },
    ...extra,
  });
}

beforeAll(async () => {
  t = await createTestDatabase();
  redis = new Redis(redisUrl());
  app = await surveyApp();
});
afterAll(async () => {
  await app.close();
  redis.disconnect();
  await t.drop();
});

let ipCount = 0;
/** Each simulated rater comes from an address of its own, so per-IP limits never couple tests. */
const freshIp = () => {
  ipCount++;
  return `10.77.${Math.floor(ipCount / 250)}.${(ipCount % 250) + 1}`;
};

/** The visible text of a page, entities decoded, whitespace collapsed. */
function text(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&#x3D;/g, '=')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

/** A browser: keeps the CSRF cookie and the form's `_csrf` value from the last page it loaded. */
class Browser {
  cookie: string | undefined;
  csrf: string | undefined;
  readonly ip = freshIp();

  constructor(
    readonly server: FastifyInstance,
    readonly token: string,
  ) {
    usedTokens.add(token);
  }

  step(n: number | string) {
    return `/s/${this.token}/${n}`;
  }

  private remember(response: LightMyRequestResponse) {
    const setCookie = response.headers['set-cookie'];
    const cookies = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
    for (const c of cookies) if (c.startsWith('panorama-csrf=')) this.cookie = c.split(';')[0];
    const csrf = /name='_csrf' value='([^']+)'/.exec(response.body);
    if (csrf) this.csrf = csrf[1];
    return response;
  }

  async get(url: string) {
    return this.remember(
      await this.server.inject({
        method: 'GET',
        url,
        remoteAddress: this.ip,
        headers: this.cookie ? { cookie: this.cookie } : {},
      }),
    );
  }

  /** Posts fields (pairs, so a name may repeat) plus the page's CSRF token, as a browser would. */
  async post(
    url: string,
    fields: [string, string][] | Record<string, string>,
    options: { raw?: string | Buffer; contentType?: string; withCsrf?: boolean } = {},
  ) {
    const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
    if (options.withCsrf !== false && this.csrf) pairs.push(['_csrf', this.csrf]);
    return this.remember(
      await this.server.inject({
        method: 'POST',
        url,
        remoteAddress: this.ip,
        headers: {
          'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
          ...(this.cookie ? { cookie: this.cookie } : {}),
        },
        payload: options.raw ?? new URLSearchParams(pairs).toString(),
      }),
    );
  }
}

const itemsOfStep = (instrument: Instrument, step: number) =>
  instrument.competencies.slice((step - 1) * 2, step * 2).flatMap((c) => c.items.map((i) => i.id));

/** Loads a step and posts it complete with `value` for every item. */
async function answerStep(browser: Browser, instrument: Instrument, step: number, value = '4') {
  await browser.get(browser.step(step));
  return browser.post(browser.step(step), [
    ...itemsOfStep(instrument, step).map((id): [string, string] => [`r.${id}`, value]),
    ['action', 'next'],
  ]);
}

const service = () => createSurveyService({ db: t.db, keys });

async function responsesOf(cycleId: string) {
  return t.db
    .selectFrom('responses')
    .select(['id', 'relationship'])
    .where('cycle_id', '=', cycleId)
    .execute();
}

describe('the rater form', () => {
  it('walks every step with CSRF, resumes from the draft, and stores exactly one response on submit', async () => {
    const cycle = await openSurveyCycle(t.db);
    const { instrument } = cycle;
    const browser = new Browser(app, cycle.tokens.peers[0]!);

    const first = await browser.get(`/s/${browser.token}`);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/text\/html/);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(first.body).not.toMatch(/style=|<script/);
    expect(text(first.body)).toContain('Feedback for Dana Lee');
    expect(text(first.body)).toContain('Step 1 of 7');
    expect(first.body).toMatch(/<progress max="7" value="1" aria-labelledby="survey-progress-label">/);
    expect(text(first.body)).toContain('4 — Often');
    expect(browser.csrf).toBeDefined();

    // Step 1 done; leaving and coming back by the emailed link resumes at step 2.
    const posted = await answerStep(browser, instrument, 1);
    expect(posted.statusCode).toBe(303);
    expect(posted.headers.location).toBe(browser.step(2));
    const resumed = await browser.get(`/s/${browser.token}`);
    expect(text(resumed.body)).toContain('Step 2 of 7');
    // Step 1 shows what was saved.
    const again = await browser.get(browser.step(1));
    const firstItem = itemsOfStep(instrument, 1)[0]!;
    expect(again.body).toContain(`id="r-${firstItem}-4" name="r.${firstItem}" value="4" checked`);

    // Back saves too, without requiring the step to be complete.
    await browser.get(browser.step(2));
    const back = await browser.post(browser.step(2), {
      [`r.${itemsOfStep(instrument, 2)[0]}`]: 'na',
      action: 'back',
    });
    expect(back.headers.location).toBe(browser.step(1));

    for (let step = 2; step <= 6; step++) {
      // Two "Can't say" on step 3.
      const response =
        step === 3
          ? await (async () => {
              await browser.get(browser.step(3));
              const ids = itemsOfStep(instrument, 3);
              return browser.post(browser.step(3), [
                ...ids.map((id, n): [string, string] => [`r.${id}`, n < 2 ? 'na' : '5']),
                ['action', 'next'],
              ]);
            })()
          : await answerStep(browser, instrument, step);
      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe(browser.step(step + 1));
    }

    const review = await browser.get(`/s/${browser.token}`);
    expect(text(review.body)).toContain('Step 7 of 7');
    expect(text(review.body)).toContain('You have answered 44 of 44 statements.');
    expect(text(review.body)).toContain("For 2 of them you chose “Can't say”.");
    expect(review.body).toMatch(/<textarea id="c-keep_doing" name="c.keep_doing" rows="6" maxlength="2000"/);

    const submitted = await browser.post(browser.step(7), {
      'c.keep_doing': 'Clear priorities & calm under pressure <3',
      'c.start_doing': '',
      action: 'submit',
    });
    expect(submitted.statusCode).toBe(303);
    expect(submitted.headers.location).toBe('/thanks');
    const thanks = await browser.get('/thanks');
    expect(thanks.statusCode).toBe(200);
    expect(text(thanks.body)).toContain('Your feedback has been received.');

    const responses = await responsesOf(cycle.cycleId);
    expect(responses).toEqual([{ id: expect.any(String), relationship: 'peer' }]);
    const ratings = await t.db
      .selectFrom('response_ratings')
      .select(['item_id', 'value'])
      .where('response_id', '=', responses[0]!.id)
      .execute();
    expect(ratings).toHaveLength(44);
    expect(ratings.filter((r) => r.value === null)).toHaveLength(2);
    const comments = await t.db
      .selectFrom('response_comments')
      .select(['question_id', 'body'])
      .where('response_id', '=', responses[0]!.id)
      .execute();
    expect(comments).toEqual([
      { question_id: 'keep_doing', body: 'Clear priorities & calm under pressure <3' },
    ]);
    const jobs = await t.db
      .selectFrom('job_outbox')
      .select(['name', 'data'])
      .where('name', '=', 'aggregate-subject')
      .execute();
    expect(jobs.filter((j) => (j.data as { subjectId?: string }).subjectId === cycle.subjectId)).toHaveLength(
      1,
    );

    // The draft is gone and the link is spent.
    expect(await service().loadDraft(browser.token)).toEqual({ ratings: {}, comments: {} });
    expect((await browser.get(`/s/${browser.token}`)).statusCode).toBe(404);
  });

  it('a rejected step is shown again with status 400, the answers kept and each message beside its item', async () => {
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.peers[0]!);
    await browser.get(browser.step(1));
    const [answered, missing] = itemsOfStep(cycle.instrument, 1);
    const response = await browser.post(browser.step(1), { [`r.${answered}`]: '2', action: 'next' });

    expect(response.statusCode).toBe(400);
    const body = response.body;
    expect(body).toContain(`id="r-${answered}-2" name="r.${answered}" value="2" checked`);
    expect(body).toContain('<div class="error-summary" role="alert"');
    expect(body).toContain(`<a href="#r-${missing}">`);
    expect(body).toContain(`<fieldset class="rating rating-error" aria-describedby="r-${missing}-error">`);
    expect(body).toContain(`<p class="field-error" id="r-${missing}-error">`);
    expect(text(body)).toContain("Choose an answer, or “Can't say” if you have not seen this.");
    expect(body).toContain('<title>Error: Step 1 of 7: Feedback for Dana Lee · Panorama</title>');
    // Nothing was saved by a rejected "next".
    expect(await service().loadDraft(browser.token)).toEqual({ ratings: {}, comments: {} });

    // "Save and come back later" keeps a partial step and says how to return.
    const saved = await browser.post(browser.step(1), { [`r.${answered}`]: '2', action: 'save' });
    expect(saved.statusCode).toBe(303);
    expect(saved.headers.location).toBe('/saved');
    expect(text((await browser.get('/saved')).body)).toContain('open the link from your email again');
    expect((await service().loadDraft(browser.token)).ratings).toEqual({ [answered!]: 2 });
  });

  it('on submit, items left unanswered on earlier steps are listed with links to them', async () => {
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.peers[1]!);
    await browser.get(browser.step(7));
    const response = await browser.post(browser.step(7), { 'c.keep_doing': 'Kept', action: 'submit' });
    expect(response.statusCode).toBe(400);
    const firstItem = itemsOfStep(cycle.instrument, 1)[0]!;
    expect(response.body).toContain(`href="/s/${browser.token}/1#r-${firstItem}"`);
    expect(text(response.body)).toContain('You have answered 0 of 44 statements.');
    // The comment typed on the final step survives.
    expect(response.body).toContain('>Kept</textarea>');
    expect(await service().loadDraft(browser.token)).toEqual({
      ratings: {},
      comments: { keep_doing: 'Kept' },
    });
    expect(await responsesOf(cycle.cycleId)).toEqual([]);

    // The review's step buttons save what was typed, then go to the step; an emptied comment is dropped.
    const goto = await browser.post(browser.step(7), {
      'c.keep_doing': '',
      'c.start_doing': 'Delegate',
      action: 'goto-2',
    });
    expect(goto.statusCode).toBe(303);
    expect(goto.headers.location).toBe(browser.step(2));
    expect(await service().loadDraft(browser.token)).toEqual({
      ratings: {},
      comments: { start_doing: 'Delegate' },
    });
  });

  it('words the form for the leader on the self-assessment', async () => {
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.self);
    const page = text((await browser.get(`/s/${browser.token}`)).body);
    expect(page).toContain('Your self-assessment');
    expect(page).toContain('I let others finish their point before I respond.');
    expect(page).not.toContain('Feedback for Dana Lee');
  });

  it('two concurrent submissions of the final step store exactly one response', async () => {
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.peers[2]!);
    for (let step = 1; step <= 6; step++) await answerStep(browser, cycle.instrument, step, '3');
    await browser.get(browser.step(7));
    const both = await Promise.all([
      browser.post(browser.step(7), { action: 'submit' }),
      browser.post(browser.step(7), { action: 'submit' }),
    ]);
    const statuses = both.map((r) => r.statusCode).sort();
    expect(statuses[0]).toBe(303);
    expect([404, 409]).toContain(statuses[1]);
    const loser = both.find((r) => r.statusCode !== 303)!;
    expect(text(loser.body)).toMatch(/already been received|This link cannot be used/);
    expect(await responsesOf(cycle.cycleId)).toHaveLength(1);
    // The losing request left no draft behind.
    expect(await service().loadDraft(browser.token)).toEqual({ ratings: {}, comments: {} });
  });

  it('a submission that opened the link before another one spent it is told so, not asked for answers', async () => {
    // The losing interleaving of a double submit, made deterministic: the loser opened the link while it was
    // still unspent, then read the draft after the winner had consumed it, so its answers look incomplete.
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.peers[1]!);
    for (let step = 1; step <= 6; step++) await answerStep(browser, cycle.instrument, step, '4');
    const opened = await service().open(browser.token);
    expect((await browser.post(browser.step(7), { action: 'submit' })).statusCode).toBe(303);
    await expect(
      service().submit(browser.token, opened, await service().loadDraft(browser.token)),
    ).rejects.toBeInstanceOf(AlreadySubmittedError);
    expect(await responsesOf(cycle.cycleId)).toHaveLength(1);
    expect(await service().loadDraft(browser.token)).toEqual({ ratings: {}, comments: {} });
  });

  it('declining takes a confirmation, then the link stops working', async () => {
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.manager);
    const confirm = await browser.get(`/s/${browser.token}/decline`);
    expect(confirm.statusCode).toBe(200);
    expect(text(confirm.body)).toContain('Decline to give feedback for Dana Lee?');
    // A post without the form's CSRF token declines nothing.
    expect((await browser.post(`/s/${browser.token}/decline`, {}, { withCsrf: false })).statusCode).toBe(403);
    const declined = await browser.post(`/s/${browser.token}/decline`, {});
    expect(declined.statusCode).toBe(303);
    expect(declined.headers.location).toBe('/declined');
    expect(text((await browser.get('/declined')).body)).toContain('You have declined this invitation.');
    const invitation = await t.db
      .selectFrom('invitations')
      .select('status')
      .where('relationship', '=', 'manager')
      .where('subject_id', '=', cycle.subjectId)
      .executeTakeFirstOrThrow();
    expect(invitation.status).toBe('declined');
    expect((await browser.get(`/s/${browser.token}`)).statusCode).toBe(404);
  });
});

describe('single use while Redis is unreachable', () => {
  it('a reminder link of an invitation already answered through another link gets 503 with Retry-After, not the form', async () => {
    const up = createRedis(redisUrl(), 'worker');
    // Nothing listens on port 1: every command fails at once, as when Redis is down.
    const down = createRedis('redis://127.0.0.1:1', 'producer');
    const prefix = queuePrefix();
    const upApp = await surveyApp({ completions: createCompletionSet(up, prefix) });
    const downApp = await surveyApp({ completions: createCompletionSet(down, prefix) });
    try {
      const cycle = await openSurveyCycle(t.db);
      const first = new Set(cycle.links.map((l) => l.token));
      // A reminder before anyone answered: every invitation now has a second link.
      await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();
      await sendReminders({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, cycle.cycleId);
      const peer = cycle.links.find((l) => l.token === cycle.tokens.peers[0])!;
      const reminder = (await linksFromOutbox(t.db)).find((l) => l.to === peer.to && !first.has(l.token))!;
      expect(reminder).toBeDefined();

      // Answered through the first link while Redis is up: the completion waits in the Redis set.
      const answered = new Browser(upApp, peer.token);
      for (let step = 1; step <= 6; step++) await answerStep(answered, cycle.instrument, step);
      await answered.get(answered.step(7));
      expect((await answered.post(answered.step(7), { action: 'submit' })).statusCode).toBe(303);
      expect((await new Browser(upApp, reminder.token).get(`/s/${reminder.token}`)).statusCode).toBe(404);

      // Redis down: the set cannot be read, so the reminder link is neither opened nor accepted. (The
      // browser holds a form token from a page it loaded before, so its post passes the CSRF check.)
      const single = await openSurveyCycle(t.db);
      const second = new Browser(downApp, reminder.token);
      // A link that is its invitation's only one is still guarded by its own spent record: it opens.
      expect((await second.get(`/s/${single.tokens.peers[0]}`)).statusCode).toBe(200);
      expect(second.csrf).toBeDefined();
      const page = await second.get(`/s/${reminder.token}`);
      expect(page.statusCode).toBe(503);
      expect(Number(page.headers['retry-after'])).toBeGreaterThan(0);
      expect(text(page.body)).toContain('Temporarily unavailable');
      expect(page.body).not.toContain('<form');
      const post = await second.post(second.step(1), [
        ...itemsOfStep(cycle.instrument, 1).map((id): [string, string] => [`r.${id}`, '2']),
        ['action', 'next'],
      ]);
      expect(post.statusCode).toBe(503);
      expect(post.headers['retry-after']).toBeDefined();
      await expect(
        createSurveyService({ db: t.db, keys, completions: createCompletionSet(down, prefix) }).open(
          reminder.token,
        ),
      ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(await responsesOf(cycle.cycleId)).toHaveLength(1);
    } finally {
      await upApp.close();
      await downApp.close();
      up.disconnect();
      down.disconnect();
    }
  });
});

describe('pages without a link', () => {
  it('the home page and the outcome pages carry no token and no form', async () => {
    for (const [url, words] of [
      ['/', 'open the personal link in the email you received'],
      ['/thanks', 'Your feedback has been received.'],
      ['/declined', 'You have declined this invitation.'],
      ['/saved', 'Your answers are saved'],
    ]) {
      const response = await app.inject({ method: 'GET', url: url!, remoteAddress: freshIp() });
      expect(response.statusCode, url).toBe(200);
      expect(text(response.body), url).toContain(words);
      expect(response.body, url).not.toContain('<form');
    }
  });
});

describe('the layout and error pages', () => {
  it('take their words from the locale file, like every other rater-facing text', async () => {
    const chrome = (
      JSON.parse(readFileSync(new URL('../../services/survey/locales/en.json', import.meta.url), 'utf8')) as {
        chrome: {
          skipLink: string;
          footer: string;
          errors: { notFoundTitle: string; notFoundMessage: string };
        };
      }
    ).chrome;
    const response = await app.inject({ method: 'GET', url: '/no/such/page', remoteAddress: freshIp() });
    expect(response.statusCode).toBe(404);
    const body = text(response.body);
    for (const words of [
      chrome.skipLink,
      chrome.footer,
      chrome.errors.notFoundTitle,
      chrome.errors.notFoundMessage,
    ]) {
      expect(body).toContain(words);
    }
  });
});

describe('unusable links', () => {
  it('garbled, unknown, expired, used, declined and closed-cycle links all get the same 404 page', async () => {
    const cycle = await openSurveyCycle(t.db, { peers: 5 });
    const [expired, used, declined, other] = cycle.tokens.peers;
    await t.db
      .updateTable('invitation_links')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', tokenMac(keys.invitation, expired!))
      .execute();
    const user = new Browser(app, used!);
    for (let step = 1; step <= 6; step++) await answerStep(user, cycle.instrument, step);
    await user.get(user.step(7));
    expect((await user.post(user.step(7), { action: 'submit' })).statusCode).toBe(303);
    const decliner = new Browser(app, declined!);
    await decliner.get(`/s/${declined}/decline`);
    expect((await decliner.post(`/s/${declined}/decline`, {})).statusCode).toBe(303);

    const closed = await openSurveyCycle(t.db);
    await programmeRepository.transitionCycle(t.db, closed.cycleId, 'closed');

    const urls = {
      garbled: '/s/not-a-token',
      truncated: `/s/${other!.slice(0, 30)}`,
      unknown: `/s/${newToken()}`,
      expired: `/s/${expired}`,
      used: `/s/${used}`,
      declined: `/s/${declined}`,
      closed: `/s/${closed.tokens.peers[0]}`,
      'unknown step page': `/s/${newToken()}/3`,
      'used step page': `/s/${used}/7`,
      'declined decline page': `/s/${declined}/decline`,
      'extra segments': `/s/${other}/1/2`,
      'empty token': '/s/',
    };
    const bodies = new Map<string, string>();
    for (const [name, url] of Object.entries(urls)) {
      const browser = new Browser(app, url.split('/')[2] ?? '');
      const response = await browser.get(url);
      expect(response.statusCode, name).toBe(404);
      expect(response.headers['set-cookie'], name).toBeUndefined();
      bodies.set(name, response.body);
    }
    expect(new Set(bodies.values()).size).toBe(1);
    expect(text(bodies.get('unknown')!)).toContain('This link cannot be used');
    expect(text(bodies.get('unknown')!)).toContain('ask the person who invited you for a new link');
    // The still-valid link of the same cycle works.
    expect((await new Browser(app, other!).get(`/s/${other}`)).statusCode).toBe(200);
  });
});

describe('malformed posts', () => {
  it('are refused with a 4xx page, and nothing is stored', async () => {
    const cycle = await openSurveyCycle(t.db);
    const browser = new Browser(app, cycle.tokens.peers[0]!);
    const [first] = itemsOfStep(cycle.instrument, 1);
    await browser.get(browser.step(1));
    const step1 = browser.step(1);
    const step7 = browser.step(7);

    const cases: { name: string; status: number; send: () => Promise<LightMyRequestResponse> }[] = [
      {
        name: 'unknown item',
        status: 400,
        send: () => browser.post(step1, { 'r.nope.item': '3', action: 'save' }),
      },
      {
        name: 'item of another step',
        status: 400,
        send: () => browser.post(step7, { [`r.${first}`]: '3', action: 'save' }),
      },
      {
        name: 'value 7',
        status: 400,
        send: () => browser.post(step1, { [`r.${first}`]: '7', action: 'save' }),
      },
      {
        name: 'value 4.0',
        status: 400,
        send: () => browser.post(step1, { [`r.${first}`]: '4.0', action: 'save' }),
      },
      {
        name: 'duplicate field',
        status: 400,
        send: () =>
          browser.post(step1, [
            [`r.${first}`, '1'],
            [`r.${first}`, '5'],
            ['action', 'save'],
          ]),
      },
      {
        name: '__proto__',
        status: 400,
        send: () =>
          browser.post(step1, [
            ['__proto__', 'x'],
            ['action', 'save'],
          ]),
      },
      {
        name: '__proto__ as a name',
        status: 400,
        send: () =>
          browser.post(step1, [
            ['__proto__[polluted]', '1'],
            ['constructor', 'x'],
            ['action', 'save'],
          ]),
      },
      {
        name: '1 MB comment',
        status: 413,
        send: () => browser.post(step7, { 'c.keep_doing': 'x'.repeat(1024 * 1024), action: 'save' }),
      },
      {
        name: 'comment over the limit',
        status: 400,
        send: () => browser.post(step7, { 'c.keep_doing': 'x'.repeat(2001), action: 'save' }),
      },
      {
        name: 'invalid UTF-8 escapes',
        status: 400,
        send: () =>
          browser.post(
            step7,
            {},
            { raw: `c.keep_doing=%FF%FEhello&action=save&_csrf=${encodeURIComponent(browser.csrf!)}` },
          ),
      },
      {
        name: 'invalid UTF-8 bytes',
        status: 400,
        send: () =>
          browser.post(
            step7,
            {},
            {
              raw: Buffer.concat([
                Buffer.from('c.keep_doing='),
                Buffer.from([0xc3, 0x28, 0xff]),
                Buffer.from(`&action=save&_csrf=${encodeURIComponent(browser.csrf!)}`),
              ]),
            },
          ),
      },
      {
        name: 'control characters',
        status: 400,
        send: () => browser.post(step7, { 'c.keep_doing': 'hi\u0000there\u202E', action: 'save' }),
      },
      {
        name: 'JSON',
        status: 415,
        send: () =>
          browser.post(
            step1,
            {},
            { raw: JSON.stringify({ [`r.${first}`]: 4, action: 'save' }), contentType: 'application/json' },
          ),
      },
      {
        name: 'no CSRF token',
        status: 403,
        send: () => browser.post(step1, { [`r.${first}`]: '4', action: 'save' }, { withCsrf: false }),
      },
      {
        name: 'unknown action',
        status: 400,
        send: () => browser.post(step1, { [`r.${first}`]: '4', action: 'delete' }),
      },
      {
        name: 'submit from step 1',
        status: 400,
        send: () => browser.post(step1, { [`r.${first}`]: '4', action: 'submit' }),
      },
      { name: 'no action', status: 400, send: () => browser.post(step1, { [`r.${first}`]: '4' }) },
      { name: 'step 99', status: 400, send: () => browser.post(browser.step(99), { action: 'save' }) },
    ];
    for (const { name, status, send } of cases) {
      const response = await send();
      expect(response.statusCode, name).toBe(status);
      expect(response.headers['content-type'], name).toMatch(/text\/html/);
    }
    const tooLarge = await browser.post(step7, { 'c.keep_doing': 'x'.repeat(100_000), action: 'save' });
    expect(text(tooLarge.body)).toContain('Too much to send at once');

    expect(await service().loadDraft(browser.token)).toEqual({ ratings: {}, comments: {} });
    expect(await responsesOf(cycle.cycleId)).toEqual([]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // The link still works afterwards.
    expect((await browser.get(step1)).statusCode).toBe(200);
  });
});

describe('rate limits', () => {
  it('limit page loads per link, across IP addresses, with the error page and retry-after', async () => {
    const limited = await surveyApp({ rateLimits: { readsPerToken: 3 } });
    try {
      const cycle = await openSurveyCycle(t.db);
      const token = cycle.tokens.peers[0]!;
      for (let n = 0; n < 3; n++)
        expect((await new Browser(limited, token).get(`/s/${token}`)).statusCode).toBe(200);
      const refused = await new Browser(limited, token).get(`/s/${token}`);
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(text(refused.body)).toContain('There were too many attempts in a short time.');
      // Another link is not affected.
      const other = cycle.tokens.peers[1]!;
      expect((await new Browser(limited, other).get(`/s/${other}`)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('limit requests per IP address, whatever the link, so guessing links is slow', async () => {
    const limited = await surveyApp({ rateLimits: { readsPerIp: 3 } });
    try {
      const guesser = new Browser(limited, '');
      for (let n = 0; n < 3; n++) expect((await guesser.get(`/s/${newToken()}`)).statusCode).toBe(404);
      const refused = await guesser.get(`/s/${newToken()}`);
      expect(refused.statusCode).toBe(429);
      expect(text(refused.body)).toContain('Slow down');
      // Someone else, elsewhere, is not.
      expect((await new Browser(limited, '').get(`/s/${newToken()}`)).statusCode).toBe(404);
    } finally {
      await limited.close();
    }
  });
});

describe('request logs', () => {
  it('hold every request, and never a link token', () => {
    const requests = logs.map((line) => JSON.parse(line) as { msg?: string; req?: { url: string } });
    expect(requests.filter((l) => l.msg === 'incoming request').length).toBeGreaterThan(50);
    expect(requests.some((l) => l.req?.url.startsWith('/s/[redacted]'))).toBe(true);
    expect(usedTokens.size).toBeGreaterThan(5);
    const all = logs.join('\n');
    for (const token of usedTokens) if (token.length >= 20) expect(all).not.toContain(token);
    // Not even a prefix long enough to look one up.
    for (const token of usedTokens) if (token.length >= 20) expect(all).not.toContain(token.slice(0, 12));
  });
});
