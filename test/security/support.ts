import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@panorama/db';
import { buildReportApp, type ReportAppDeps } from '@panorama/report';
import { buildSurveyApp, type SurveyAppDeps } from '@panorama/survey';
import { keys, SURVEY_URL, TEST_SECRET } from '../support/scenario.ts';

/** Rate limits far above anything a test sends, for tests that are not about rate limits. */
export const NO_RATE_LIMITS = {
  readsPerIp: 1e9,
  writesPerIp: 1e9,
  readsPerToken: 1e9,
  writesPerToken: 1e9,
};

export function surveyApp(db: Kysely<Database>, extra: Partial<SurveyAppDeps> = {}) {
  return buildSurveyApp({
    db,
    keys,
    config: {
      LOG_LEVEL: 'silent',
      APP_SECRET: TEST_SECRET,
      SURVEY_PUBLIC_URL: SURVEY_URL,
      TRUST_PROXY: false,
    },
    ...extra,
  });
}

export function reportApp(
  db: Kysely<Database>,
  config: Partial<ReportAppDeps['config']> = {},
  extra: Partial<ReportAppDeps> = {},
) {
  return buildReportApp({
    db,
    keys,
    config: {
      LOG_LEVEL: 'silent',
      APP_SECRET: TEST_SECRET,
      REPORT_PUBLIC_URL: 'http://report.test',
      SURVEY_PUBLIC_URL: SURVEY_URL,
      TRUST_PROXY: false,
      SESSION_TTL_HOURS: 1,
      ...config,
    },
    ...extra,
  });
}

export interface RouteEntry {
  method: string;
  url: string;
}

/**
 * Every route of a built app, read from `printRoutes` (the app is built by a factory, so an `onRoute` hook
 * cannot be added before its routes). With `commonPrefix: true` every node prints the part of the path it
 * adds, so a route's URL is the concatenation of the nodes from the root down to it.
 */
export function routesOf(app: FastifyInstance): RouteEntry[] {
  const out: RouteEntry[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: true }).split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const node = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(match[2]!)!;
    stack.length = depth;
    stack.push(node[1]!);
    if (node[2]) {
      const url = stack.join('').replace(/^\/+/, '/');
      for (const method of node[2].split(', ')) out.push({ method, url });
    }
  }
  return out.sort((a, b) => (a.url + a.method < b.url + b.method ? -1 : 1));
}

export const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Row counts of every table of the public schema, in one query. */
export async function rowCounts(db: Kysely<Database>): Promise<Record<string, number>> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'kysely_%'
    order by table_name`.execute(db);
  const query = tables.rows
    .map((t) => `select '${t.table_name}' as t, count(*)::int as n from "${t.table_name}"`)
    .join(' union all ');
  const counts = await sql<{ t: string; n: number }>`${sql.raw(query)}`.execute(db);
  return Object.fromEntries(counts.rows.map((r) => [r.t, r.n]));
}

/** A digest of every row of the tables that hold what raters and staff send, to detect any change. */
export async function contentDigest(db: Kysely<Database>): Promise<string> {
  const tables = [
    'responses',
    'response_ratings',
    'response_comments',
    'response_drafts',
    'spent_tokens',
    'invitations',
    'people',
    'subjects',
    'cycles',
    'programmes',
    'sign_in_tokens',
    'sessions',
    'releases',
    'audit_log',
    'email_outbox',
    'pending_completions',
  ];
  const parts = await Promise.all(
    tables.map(async (table) => {
      const r = await sql<{ d: string | null }>`
        select md5(coalesce(string_agg(md5(x::text), ',' order by md5(x::text)), '')) as d
        from ${sql.table(table)} x`.execute(db);
      return `${table}:${r.rows[0]?.d}`;
    }),
  );
  return parts.join('|');
}

/** No key was added to Object.prototype (or to Array's), by any request. */
export function assertNoPrototypePollution(): void {
  const probe = {} as Record<string, unknown>;
  if (probe['polluted'] !== undefined || Object.keys(Object.prototype).length > 0)
    throw new Error(`Object.prototype was polluted: ${Object.keys(Object.prototype).join(', ')}`);
  if (Object.keys(Array.prototype).length > 0) throw new Error('Array.prototype was polluted');
}

export function isClientError(response: LightMyRequestResponse): boolean {
  return response.statusCode >= 400 && response.statusCode < 500;
}

/**
 * Totals observed by the fuzz tests, written to test/security/.results/<name>.json so that
 * docs/security-testing.md can quote them, and printed.
 */
export function recordTotals(name: string, totals: Record<string, number | string>): void {
  const dir = path.resolve(import.meta.dirname, '.results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(totals, null, 2) + '\n');
  console.log(`[security] ${name}: ${JSON.stringify(totals)}`);
}

let ipCount = 0;
/** A fresh client address per call, so per-IP limits do not couple cases that are not about them. */
export function freshIp(): string {
  const n = ++ipCount;
  return `10.${Math.floor(n / 62_500) % 250}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
}

/** Cookie header from a Map. */
export const cookieHeader = (cookies: Map<string, string>) =>
  [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');

/** Reads cookies set by a response into the map. */
export function keepCookies(cookies: Map<string, string>, response: LightMyRequestResponse) {
  for (const c of response.cookies) {
    if (c.value === '' || (c.expires && c.expires.getTime() < Date.now())) cookies.delete(c.name);
    else cookies.set(c.name, c.value);
  }
}

/** The `_csrf` value of a rendered form. */
export function csrfOf(html: string): string | undefined {
  return /name=["']_csrf["'] value=["']([^"']+)["']/.exec(html)?.[1];
}
