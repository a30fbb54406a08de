import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRepository } from '@panorama/db';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme } from '../support/scenario.ts';
import { reportApp, seedReports, sessionFor } from '../support/report-pages-seed.ts';

/** The leader list and profiles of the JSON API and changes.csv, on the demo programme (12 leaders, 2 cycles). */
let t: TestDatabase;
let app: FastifyInstance;
let programmeId = '';
const cookies = { hr: '', coach: '', otherOrgHr: '' };

beforeAll(async () => {
  t = await createTestDatabase();
  const seeded = await seedReports(t.db);
  programmeId = seeded.programmeId;
  cookies.hr = await sessionFor(t.db, seeded.accounts.hr);
  cookies.coach = await sessionFor(t.db, seeded.accounts.coach);
  cookies.otherOrgHr = await sessionFor(t.db, (await createProgramme(t.db, { slug: 'other-org' })).hr.email);
  app = await reportApp(t.db);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await t?.drop();
});

const get = (url: string, cookie: string | null, accept = 'application/json') =>
  app.inject({
    method: 'GET',
    url,
    headers: { accept, ...(cookie ? { cookie: `panorama_session=${cookie}` } : {}) },
  });

/** RFC 4180 records as objects keyed by the header (quoted cells may hold commas, quotes and newlines). */
function csv(body: string): Record<string, string>[] {
  const records: string[][] = [[]];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (quoted) {
      if (ch === '"' && body[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',' || ch === '\n') {
      records.at(-1)!.push(ch === '\n' ? cell.replace(/\r$/, '') : cell);
      cell = '';
      if (ch === '\n') records.push([]);
    } else cell += ch;
  }
  if (cell !== '' || records.at(-1)!.length > 0) records.at(-1)!.push(cell);
  const [header, ...rows] = records.filter((r) => r.length > 0);
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])));
}

describe('GET /api/programmes/:id/subjects', () => {
  it("lists every leader and cycle with the released version, and nobody's scores or address", async () => {
    const response = await get(`/api/programmes/${programmeId}/subjects`, cookies.hr);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const { programme, subjects } = response.json() as {
      programme: { id: string };
      subjects: { id: string; leaderName: string; cycle: { kind: string }; releasedVersion: number | null }[];
    };
    expect(programme.id).toBe(programmeId);
    const stored = await t.db
      .selectFrom('subjects')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .select(['subjects.id', 'subjects.released_version'])
      .where('cycles.programme_id', '=', programmeId)
      .execute();
    expect(subjects).toHaveLength(stored.length);
    for (const s of stored) {
      const listed = subjects.find((x) => x.id === s.id);
      expect(listed, s.id).toMatchObject({
        leaderName: expect.any(String),
        cycle: { kind: expect.stringMatching(/^(baseline|follow_up)$/) },
        releasedVersion: s.released_version,
      });
    }
    expect(response.body).not.toMatch(/@|mean|response/i);
  });
});

describe('GET /api/programmes/:id/profiles', () => {
  it('is profiles.csv as JSON: the same records, row for row', async () => {
    const response = await get(`/api/programmes/${programmeId}/profiles`, cookies.hr);
    expect(response.statusCode).toBe(200);
    const json = response.json() as { columns: string[]; profiles: Record<string, string | number | null>[] };
    const file = await get(`/hr/programmes/${programmeId}/export/profiles.csv`, cookies.hr, 'text/csv');
    const rows = csv(file.body);
    expect(json.columns).toEqual(Object.keys(rows[0]!));
    expect(json.profiles).toHaveLength(rows.length);
    expect(rows.length).toBeGreaterThan(0);
    json.profiles.forEach((record, i) => {
      for (const column of json.columns) {
        const value = record[column];
        const cell = rows[i]![column]!;
        if (value === null) expect(cell, column).toBe('');
        else if (typeof value === 'number') expect(Number(cell), column).toBe(value);
        else expect(cell.replace(/^'(?=[=+\-@])/, ''), column).toBe(value);
      }
    });
  });
});

describe('changes.csv', () => {
  it('has a row per leader and competency with the change from all others, hidden cells in words only', async () => {
    const response = await get(`/hr/programmes/${programmeId}/export/changes.csv`, cookies.hr, 'text/csv');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/csv');
    expect(response.headers['content-disposition']).toContain(`changes-${programmeId}.csv`);
    const rows = csv(response.body);
    const changes = await resultRepository.publishedChangesOfProgramme(t.db, programmeId);
    const competencies = new Set(rows.map((r) => r['competency_id']));
    expect(rows).toHaveLength(changes.length * competencies.size);
    let hidden = 0;
    for (const change of changes) {
      const report = (
        change.data as {
          report: { competencies: { id: string; allOthers: { available: boolean; delta?: number } }[] };
        }
      ).report;
      for (const c of report.competencies) {
        const row = rows.find(
          (r) => r['leader_email'] === change.leader_email && r['competency_id'] === c.id,
        )!;
        if (c.allOthers.available) {
          expect(row['status']).toBe('shown');
          expect(Number(row['change_all_others'])).toBeCloseTo(c.allOthers.delta!, 3);
        } else {
          hidden++;
          expect(row['status']).toMatch(/^fewer than \d+ responses from all others/);
          expect(row['change_all_others']).toBe('');
          expect(row['reliable_change']).toBe('');
        }
      }
    }
    // The demo has leaders with too few raters in a cycle: the heatmap's "–" cells.
    expect(hidden).toBeGreaterThan(0);
    expect(response.body).not.toMatch(/rater|response_id|token/i);
  });

  it('is linked from the HR dashboard', async () => {
    const page = await get(`/hr/programmes/${programmeId}`, cookies.hr, 'text/html');
    expect(page.body).toContain(`href="/hr/programmes/${programmeId}/export/changes.csv"`);
  });
});

describe('the HR dashboard', () => {
  it("prints each cycle's release date in the cycles table, a dash before it is released", async () => {
    const cycles = await t.db
      .selectFrom('cycles')
      .select(['id', 'name', 'kind'])
      .where('programme_id', '=', programmeId)
      .execute();
    const baseline = cycles.find((c) => c.kind === 'baseline')!;
    const followUp = cycles.find((c) => c.kind === 'follow_up')!;
    await t.db
      .updateTable('cycles')
      .set({ released_at: new Date('2026-05-14T10:00:00Z') })
      .where('id', '=', baseline.id)
      .execute();
    await t.db.updateTable('cycles').set({ released_at: null }).where('id', '=', followUp.id).execute();
    const page = (await get(`/hr/programmes/${programmeId}`, cookies.hr, 'text/html')).body;
    const table = page.slice(page.indexOf('id="cycles"'), page.indexOf('id="participation"'));
    expect(table).toContain('<th scope="col">Released</th>');
    const row = (name: string) =>
      table.slice(table.indexOf(`<th scope="row">${name}</th>`)).split('</tr>')[0]!;
    expect(row(baseline.name)).toMatch(/<td>14 May 2026<\/td>/);
    expect(row(followUp.name)).toContain('<td>—</td>');
  });
});

describe('who may fetch them', () => {
  it('HR and admins of the organisation only: 404 for a coach or another organisation, 401 signed out', async () => {
    for (const url of [
      `/api/programmes/${programmeId}/subjects`,
      `/api/programmes/${programmeId}/profiles`,
      `/hr/programmes/${programmeId}/export/changes.csv`,
    ]) {
      expect((await get(url, cookies.coach)).statusCode, url).toBe(404);
      expect((await get(url, cookies.otherOrgHr)).statusCode, url).toBe(404);
      expect((await get(url, null)).statusCode, url).toBe(url.startsWith('/api/') ? 401 : 303);
    }
  });
});
