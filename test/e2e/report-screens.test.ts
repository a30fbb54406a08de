import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumPath } from './support/chromium.ts';
import { SCREENSHOTS } from './support/screenshots.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRepository } from '@panorama/db';
import { newToken } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { reportApp, seedReports, sessionFor } from '../support/report-pages-seed.ts';

const WIDTHS = [1280, 360] as const;

let t: TestDatabase;
let app: FastifyInstance;
let browser: Browser;
let base: string;
let coachCookie: string;
let hrCookie: string;
let reportPath: string;
let programmePath: string;

beforeAll(async () => {
  t = await createTestDatabase();
  const { accounts, programmeId } = await seedReports(t.db);
  const subjects = await t.db
    .selectFrom('subjects')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .innerJoin('people', 'people.id', 'subjects.leader_id')
    .select(['subjects.id', 'cycles.kind'])
    .where('people.email', '=', accounts.leader)
    .execute();
  // Released, so the screenshot shows a report as the coach hands it over.
  for (const s of subjects) await resultRepository.release(t.db, s.id, null);
  reportPath = `/reports/${subjects.find((s) => s.kind === 'follow_up')!.id}`;
  programmePath = `/hr/programmes/${programmeId}`;
  coachCookie = await sessionFor(t.db, accounts.coach);
  hrCookie = await sessionFor(t.db, accounts.hr);
  app = await reportApp(t.db);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${address.port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.drop();
});

async function open(width: number, url: string, cookie: string | null, status = 200): Promise<Page> {
  // bypassCSP lets the test inject axe-core; the app's own pages never need it.
  const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
  if (cookie) {
    await context.addCookies([
      { name: 'panorama_session', value: cookie, url: base, httpOnly: true, sameSite: 'Lax' },
    ]);
  }
  const page = await context.newPage();
  const response = await page.goto(`${base}${url}`);
  expect(response?.status()).toBe(status);
  return page;
}

// Browser-side checks, as plain JavaScript: the project compiles without the DOM library.
const OVERFLOW = `(() => {
  // The outermost elements that stick out on the right and are not inside a scrolling box.
  const culprits = [...document.querySelectorAll('body *')]
    .filter((el) => {
      if (el.getBoundingClientRect().right <= window.innerWidth + 0.5) return false;
      for (let e = el.parentElement; e; e = e.parentElement) {
        if (getComputedStyle(e).overflowX !== 'visible') return false;
      }
      return true;
    })
    .map((el) => el.tagName.toLowerCase() + '.' + [...el.classList].join('.'))
    .slice(0, 5);
  return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, culprits };
})()`;

/** Pairs of visible text boxes that overlap, within each section (or the page's main block). */
const OVERLAPS = `(() => {
  const SECTIONS = 'main section, main > div > header, main > div, main > article > header, main > article > div';
  const hidden = (el) => {
    for (let e = el; e; e = e.parentElement) {
      if (e.classList.contains('visually-hidden')) return true;
      const style = getComputedStyle(e);
      if (style.display === 'none' || style.visibility === 'hidden') return true;
    }
    return false;
  };
  // A text box as far as it is visible: cut to every ancestor that clips its overflow (scrolling tables).
  const clip = (el, rect) => {
    let { left, top, right, bottom } = rect;
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.overflowX !== 'visible' || style.overflowY !== 'visible') {
        const c = e.getBoundingClientRect();
        left = Math.max(left, c.left);
        top = Math.max(top, c.top);
        right = Math.min(right, c.right);
        bottom = Math.min(bottom, c.bottom);
      }
    }
    return { left, top, right, bottom, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
  };
  const problems = [];
  for (const container of document.querySelectorAll(SECTIONS)) {
    const boxes = [];
    const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = (node.textContent || '').trim();
      const parent = node.parentElement;
      if (!text || !parent || hidden(parent)) continue;
      // Only the nearest section checks a node, so nested sections do not report twice.
      if (parent.closest(SECTIONS) !== container) continue;
      // <title> and <desc> of SVG are not drawn, nor is the body of a closed <details>.
      if (parent.closest('title, desc')) continue;
      if (parent.closest('details:not([open])') && !parent.closest('summary')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const raw of range.getClientRects()) {
        const r = clip(parent, raw);
        if (r.width > 1 && r.height > 1) boxes.push({ el: parent, text, r });
      }
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        if (a.el === b.el) continue;
        const dx = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
        const dy = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
        if (dx > 2 && dy > 2) problems.push('"' + a.text.slice(0, 40) + '" overlaps "' + b.text.slice(0, 40) + '"');
      }
    }
  }
  return problems;
})()`;

/** Drawn SVG <text> whose box sticks out of its <svg> (the browser cuts it: "−0.25" showed as "0.25"). */
const SVG_TEXT_OUTSIDE = `(() => {
  const problems = [];
  for (const text of document.querySelectorAll('svg text')) {
    const svg = text.closest('svg');
    const t = text.getBoundingClientRect();
    const s = svg.getBoundingClientRect();
    // A layout the stylesheet hides has no box; <title> and <desc> are not <text>.
    if (t.width === 0 || s.width === 0) continue;
    if (t.left < s.left - 0.5 || t.right > s.right + 0.5 || t.top < s.top - 0.5 || t.bottom > s.bottom + 0.5)
      problems.push('"' + (text.textContent || '').trim().slice(0, 40) + '" sticks out of ' + (svg.getAttribute('class') || 'svg') +
        ' by ' + Math.round(Math.max(s.left - t.left, t.right - s.right, s.top - t.top, t.bottom - s.bottom)) + ' px');
  }
  return problems;
})()`;

const AXE = `(async () => {
  const result = await window.axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ': ' + v.help + ' (' + v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ') + ')');
})()`;

async function checkScreen(page: Page, name: string) {
  const overflow = await page.evaluate<{ scroll: number; inner: number; culprits: string[] }>(OVERFLOW);
  expect(
    overflow.scroll,
    `${name}: horizontal overflow (${overflow.culprits.join(', ')})`,
  ).toBeLessThanOrEqual(overflow.inner);
  expect(await page.evaluate<string[]>(OVERLAPS), `${name}: overlapping text`).toEqual([]);
  expect(await page.evaluate<string[]>(SVG_TEXT_OUTSIDE), `${name}: chart text cut off`).toEqual([]);
  await page.addScriptTag({ content: axe.source });
  expect(await page.evaluate<string[]>(AXE), `${name}: axe`).toEqual([]);
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  await page.context().close();
}

describe('report screens', () => {
  for (const width of WIDTHS) {
    it(`sign-in page at ${width} px`, async () => {
      const page = await open(width, '/sign-in', null);
      await checkScreen(page, `report-sign-in-${width}`);
    });

    it(`expired-session sign-in page at ${width} px`, async () => {
      // A well-formed session id that has no live session: what a browser holds after its session expired.
      const page = await open(width, programmePath, newToken(), 401);
      await expect(page.locator('.notice').textContent()).resolves.toContain('Your session has expired');
      await checkScreen(page, `report-session-expired-${width}`);
    });

    it(`leader report with change at ${width} px`, async () => {
      const page = await open(width, reportPath, coachCookie);
      await expect(page.locator('#change-title').textContent()).resolves.toContain('Change since');
      await expect(page.locator('svg.chart[role="img"]').count()).resolves.toBeGreaterThan(0);
      await checkScreen(page, `report-leader-${width}`);
    });

    it(`HR dashboard at ${width} px`, async () => {
      const page = await open(width, programmePath, hrCookie);
      await expect(page.locator('.rpt-heatmap tbody tr').count()).resolves.toBe(12);
      await checkScreen(page, `hr-dashboard-${width}`);
    });
  }
});
