import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath } from './support/chromium.ts';
import { SCREENSHOTS } from './support/screenshots.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, createRedis, type Producer } from '@panorama/jobs';
import { buildSurveyApp } from '@panorama/survey';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { keys, SURVEY_URL, TEST_SECRET } from '../support/scenario.ts';
import { deliverOutboxOverSmtp, openSurveyCycle } from './support/survey-cycle.ts';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let t: TestDatabase;
let redis: Redis;
let producer: Producer;
let app: FastifyInstance;
let origin: string;
let browser: Browser;
const cspViolations: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  redis = createRedis(redisUrl(), 'producer');
  await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', resolve)));
  producer = createProducer({ connection: redis, prefix: queuePrefix() });
  app = await buildSurveyApp({
    db: t.db,
    redis,
    keys,
    producer,
    config: { LOG_LEVEL: 'warn', APP_SECRET: TEST_SECRET, SURVEY_PUBLIC_URL: SURVEY_URL, TRUST_PROXY: false },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await producer?.close();
  redis?.disconnect();
  await t?.drop();
});

async function newContext(width: number): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  context.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  return context;
}

/**
 * The few browser globals the page functions below touch. The test program is compiled without the DOM
 * library (so Node code cannot use `document` by mistake); these functions run in the page.
 */
interface PageElement {
  tagName: string;
  value?: string;
  textContent: string | null;
  classList: { contains(name: string): boolean };
  getAttribute(name: string): string | null;
}
interface PageGlobals {
  document: {
    activeElement: PageElement | null;
    querySelector(selector: string): PageElement | null;
    documentElement: { scrollWidth: number };
  };
  innerWidth: number;
  getComputedStyle(element: PageElement): { outlineStyle: string; outlineWidth: string };
  CSS: { escape(text: string): string };
  axe: { run(context: unknown): Promise<unknown> };
}

interface Focused {
  tag: string;
  type: string | null;
  name: string | null;
  value: string;
  text: string;
  outline: string;
}

const focused = (page: Page): Promise<Focused> =>
  page.evaluate(() => {
    const { document, getComputedStyle } = globalThis as unknown as PageGlobals;
    const el = document.activeElement;
    return {
      tag: el?.tagName ?? '',
      type: el?.getAttribute('type') ?? null,
      name: el?.getAttribute('name') ?? null,
      value: el?.value ?? '',
      text: el?.textContent?.trim() ?? '',
      outline: el ? `${getComputedStyle(el).outlineStyle} ${getComputedStyle(el).outlineWidth}` : '',
    };
  });

/** Presses Tab until `wanted` holds for the focused element; fails after `max` presses. */
async function tabTo(
  page: Page,
  wanted: (f: Focused) => boolean,
  max: number,
  what: string,
): Promise<Focused> {
  for (let n = 0; n < max; n++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (wanted(f)) return f;
  }
  throw new Error(
    `${what} not reached within ${max} Tab presses; focus is on ${JSON.stringify(await focused(page))}`,
  );
}

/** Chooses an answer in the focused radio group, as a keyboard user does: Space or the arrow keys. */
async function choose(page: Page, value: string) {
  if (value === 'na')
    await page.keyboard.press('ArrowLeft'); // From the first option, wraps to the last.
  else if (value === '1') await page.keyboard.press('Space');
  else for (let n = 1; n < Number(value); n++) await page.keyboard.press('ArrowRight');
}

async function checkedValue(page: Page, name: string) {
  return page.evaluate((n) => {
    const { document, CSS } = globalThis as unknown as PageGlobals;
    return document.querySelector(`input[name="${CSS.escape(n)}"]:checked`)?.value ?? null;
  }, name);
}

/** Serious and critical axe violations on the current page. */
async function axeViolations(page: Page) {
  // Evaluated through DevTools, which a CSP does not govern; a <script> tag would be refused, rightly.
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as PageGlobals;
    return (await axe.run(document)) as {
      violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
    };
  });
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

const noHorizontalOverflow = (page: Page) =>
  page.evaluate(() => {
    const { document, innerWidth } = globalThis as unknown as PageGlobals;
    return document.documentElement.scrollWidth <= innerWidth;
  });

async function shoot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

describe('a rater, by keyboard only', () => {
  it(
    'answers every step, submits, and the response and its aggregation job exist',
    { timeout: 180_000 },
    async () => {
      const cycle = await openSurveyCycle(t.db);
      const { instrument } = cycle;
      // The worker delivers the invitation emails over SMTP; the link is taken from the received message.
      const peerEmail = cycle.links.find((l) => l.token === cycle.tokens.peers[0])!.to;
      const received = await deliverOutboxOverSmtp(t.db);
      const message = received.find((m) => m.to.includes(peerEmail));
      expect(message, `an email to ${peerEmail} arrived`).toBeDefined();
      const emailedLink = new RegExp(`${SURVEY_URL}/s/[A-Za-z0-9_-]{43}`).exec(message!.body)?.[0];
      expect(emailedLink).toBeDefined();
      const token = emailedLink!.split('/').pop()!;
      expect(token).toBe(cycle.tokens.peers[0]);
      const link = emailedLink!.replace(SURVEY_URL, origin);

      const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
      // A spread of answers, two of them "Can't say", so the stored row proves every key press landed.
      const intended = new Map(items.map((id, n) => [id, n === 2 || n === 9 ? 'na' : String((n % 5) + 1)]));

      // --- Narrow screen: the first step, then a refused "Save and continue", as a phone shows them.
      const narrow = await newContext(360);
      const phone = await narrow.newPage();
      await phone.goto(link);
      expect(await phone.title()).toBe('Step 1 of 7: Feedback for Dana Lee · Panorama');
      expect(await noHorizontalOverflow(phone)).toBe(true);
      // The scale is a vertical list at 360 px.
      const optionTops = await phone.$$eval(`input[name="r.${items[0]}"]`, (inputs) =>
        inputs.map((i) => Math.round(i.getBoundingClientRect().top)),
      );
      expect(new Set(optionTops).size).toBe(6);
      await shoot(phone, 'survey-step-1-360');
      await tabTo(phone, (f) => f.text === 'Save and continue', 20, 'Save and continue');
      await Promise.all([phone.waitForLoadState('load'), phone.keyboard.press('Enter')]);
      await phone.waitForSelector('.error-summary');
      expect(await phone.title()).toMatch(/^Error: Step 1 of 7/);
      // The summary takes focus, so a screen reader announces it first.
      const summaryFocused = await phone.evaluate(() =>
        (globalThis as unknown as PageGlobals).document.activeElement?.classList.contains('error-summary'),
      );
      expect(summaryFocused).toBe(true);
      expect(await noHorizontalOverflow(phone)).toBe(true);
      expect(await axeViolations(phone)).toEqual([]);
      await shoot(phone, 'survey-error-360');

      // --- Wide screen: the whole journey by keyboard.
      const wide = await newContext(1280);
      const page = await wide.newPage();
      await page.goto(link);
      expect(await page.title()).toBe('Step 1 of 7: Feedback for Dana Lee · Panorama');
      expect(await axeViolations(page)).toEqual([]);
      await shoot(page, 'survey-step-1-1280');

      let itemIndex = 0;
      for (let step = 1; step <= 6; step++) {
        const onStep = instrument.competencies
          .slice((step - 1) * 2, step * 2)
          .flatMap((c) => c.items.map((i) => i.id));
        expect(await page.locator('.survey-progress-label').textContent()).toBe(`Step ${step} of 7`);
        for (const [n, id] of onStep.entries()) {
          // From the top of the page: skip link and brand first. After that, one Tab per statement: the tab
          // order follows the reading order.
          const f = await tabTo(page, (x) => x.name === `r.${id}`, n === 0 ? 4 : 1, `statement ${id}`);
          expect(f.type).toBe('radio');
          if (step === 1 && n === 0) expect(f.outline).toBe('solid 3px'); // Focus is visible.
          const value = intended.get(id)!;
          await choose(page, value);
          expect(await checkedValue(page, `r.${id}`)).toBe(value);
          itemIndex++;
        }
        await tabTo(
          page,
          (f) => f.tag === 'BUTTON' && f.text === 'Save and continue',
          1,
          'Save and continue',
        );
        await Promise.all([
          page.waitForURL(`${origin}/s/${token}/${step + 1}`),
          page.keyboard.press('Enter'),
        ]);
      }
      expect(itemIndex).toBe(44);

      // The final step: comments typed by keyboard, then the review, then Submit.
      expect(await page.locator('.survey-progress-label').textContent()).toBe('Step 7 of 7');
      const review = await page.locator('.review').innerText();
      expect(review).toContain('You have answered 44 of 44 statements.');
      expect(review).toContain("For 2 of them you chose “Can't say”.");
      await tabTo(page, (f) => f.name === 'c.keep_doing', 4, 'first comment');
      await page.keyboard.type('Sets clear priorities and keeps calm under pressure.');
      await tabTo(page, (f) => f.name === 'c.start_doing', 1, 'second comment');
      await page.keyboard.type('Delegate the weekly report.');
      expect(await axeViolations(page)).toEqual([]);
      await shoot(page, 'survey-review-1280');

      const onPhone = await narrow.newPage();
      await onPhone.goto(`${origin}/s/${token}/7`);
      expect(await noHorizontalOverflow(onPhone)).toBe(true);
      await shoot(onPhone, 'survey-review-360');

      await tabTo(page, (f) => f.tag === 'BUTTON' && f.text === 'Submit', 12, 'Submit');
      await Promise.all([page.waitForURL(`${origin}/thanks`), page.keyboard.press('Enter')]);
      expect(await page.locator('h1').textContent()).toBe('Thank you');
      expect(await axeViolations(page)).toEqual([]);
      await shoot(page, 'thanks-1280');
      await onPhone.goto(`${origin}/thanks`);
      expect(await noHorizontalOverflow(onPhone)).toBe(true);
      await shoot(onPhone, 'thanks-360');

      // Exactly one response, holding exactly what was keyed in.
      const responses = await t.db
        .selectFrom('responses')
        .select('id')
        .where('cycle_id', '=', cycle.cycleId)
        .execute();
      expect(responses).toHaveLength(1);
      const ratings = await t.db
        .selectFrom('response_ratings')
        .select(['item_id', 'value'])
        .where('response_id', '=', responses[0]!.id)
        .execute();
      expect(new Map(ratings.map((r) => [r.item_id, r.value === null ? 'na' : String(r.value)]))).toEqual(
        intended,
      );
      const comments = await t.db
        .selectFrom('response_comments')
        .select(['question_id', 'body'])
        .where('response_id', '=', responses[0]!.id)
        .orderBy('question_id')
        .execute();
      expect(comments).toEqual([
        { question_id: 'keep_doing', body: 'Sets clear priorities and keeps calm under pressure.' },
        { question_id: 'start_doing', body: 'Delegate the weekly report.' },
      ]);

      // The aggregation job went straight to Redis, leaving nothing in the outbox.
      const jobs = await producer
        .queue('aggregate')
        .getJobs(['delayed', 'wait', 'waiting', 'active', 'completed']);
      expect(jobs.some((j) => j.name === 'aggregate-subject' && j.data.subjectId === cycle.subjectId)).toBe(
        true,
      );
      const outbox = await t.db
        .selectFrom('job_outbox')
        .select('id')
        .where('name', '=', 'aggregate-subject')
        .execute();
      expect(outbox).toEqual([]);

      // The link is spent: the same page a stranger gets.
      await page.goto(link);
      expect(await page.locator('h1').textContent()).toBe('This link cannot be used');

      expect(cspViolations).toEqual([]);
      await narrow.close();
      await wide.close();
    },
  );
});
