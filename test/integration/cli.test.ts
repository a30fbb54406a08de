import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnswers } from '@panorama/domain';
import { createCompletionSet, createRedis } from '@panorama/jobs';
import { importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createSurveyService } from '@panorama/survey';
import { runCli } from '../../infra/cli/commands.ts';
import { deriveKeys } from '@panorama/domain';
import { removeDemo, seedDemo } from '../../infra/demo/seed.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { reportApp, sessionFor } from '../support/report-pages-seed.ts';
import { webClient } from '../support/web-client.ts';
import {
  completeFields,
  createProgramme,
  keys,
  linksFromOutbox,
  rosterCsv,
  SURVEY_URL,
  TEST_SECRET,
} from '../support/scenario.ts';

let t: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  t = await createTestDatabase();
  env = { DATABASE_URL: t.url, APP_SECRET: TEST_SECRET, SURVEY_PUBLIC_URL: 'http://survey.test' };
});
afterAll(async () => {
  await t.drop();
});

async function run(argv: string[], environment: Record<string, string> = env) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, environment, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A local TCP server that accepts connections and then does `onConnection` with each socket. */
async function fakeServer(onConnection: (socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Runs `pnpm panorama` as a process, the way a user does. */
function runMain(argv: string[], environment: Record<string, string>) {
  const root = path.resolve(import.meta.dirname, '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/cli/main.ts', ...argv], {
    cwd: root,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise<{ code: number | null; err: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, err })),
  );
}

describe('pnpm panorama', () => {
  it('prints help, with the exit codes, and refuses unknown commands with a usage exit code', async () => {
    const help = (await run(['help'])).out;
    expect(help).toContain('Usage: pnpm panorama <command>');
    expect(help).toMatch(/Exit codes:\n {2}0 +done/);
    for (const code of [1, 2, 64, 65, 69]) expect(help).toMatch(new RegExp(`\n {2}${code} +\\S`));
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(64);
    expect(unknown.err).toContain("unknown command 'frobnicate'");
  });

  it('validates instruments, naming the file and path of each problem', async () => {
    const good = await run(['validate-survey', 'surveys/leadership-360/instrument.yaml']);
    expect(good.code).toBe(0);
    expect(good.out).toMatch(/leadership-360 v1: 11 competencies, 44 items, 3 open questions/);
    const missing = await run(['validate-survey', 'surveys/nope.yaml']);
    expect(missing.code).toBe(65);
    expect(missing.err).toContain('file not found');
  });

  it('stops with one message naming every bad config key', async () => {
    const result = await run(['migrate'], { DATABASE_URL: 'mysql://nope', APP_SECRET: 'short' });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/DATABASE_URL: expected a URL/);
    expect(result.err).toMatch(/APP_SECRET: must be at least 32 characters/);
  });

  it('says clearly when the database cannot be reached, and changes nothing', async () => {
    const result = await run(['migrate'], { ...env, DATABASE_URL: 'postgres://x:y@127.0.0.1:1/none' });
    expect(result.code).toBe(69);
    expect(result.err).toContain('cannot reach the database');
  });

  it('says the same when a host accepts the connection but never answers', async () => {
    const silent = await fakeServer(() => {});
    try {
      const result = await run(['migrate'], {
        ...env,
        DATABASE_URL: `postgres://someone:s3cret-pw@127.0.0.1:${silent.port}/none`,
      });
      expect(result.code).toBe(69);
      expect(result.err).toContain(`cannot reach the database at 127.0.0.1:${silent.port}/none`);
      expect(result.err.split('\n')).toHaveLength(1);
      expect(result.err).not.toContain('s3cret-pw');
      expect(result.err).not.toContain('someone');
    } finally {
      await silent.close();
    }
  });

  it('says the same when the port answers something that is not Postgres', async () => {
    const http = await fakeServer((socket) =>
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'),
    );
    try {
      const result = await run(['migrate'], {
        ...env,
        DATABASE_URL: `postgres://x:pw@127.0.0.1:${http.port}/none`,
      });
      expect(result.code).toBe(69);
      expect(result.err).toContain(`cannot reach the database at 127.0.0.1:${http.port}/none`);
      expect(result.err.split('\n')).toHaveLength(1);
      expect(result.err).not.toContain(':pw@');
    } finally {
      await http.close();
    }
  });

  it('reports a usage error before it starts a local Postgres', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'panorama-cli-data-'));
    try {
      const environment: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        PANORAMA_DATA_DIR: dataDir,
      };
      const result = await runMain(['migrate', '--down', 'some'], environment);
      expect(result.code).toBe(64);
      expect(result.err).toContain('--down takes a number or all');
      expect(result.err).not.toContain('PostgreSQL');
      expect(existsSync(path.join(dataDir, 'pg'))).toBe(false);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('migrates down and up again', async () => {
    expect((await run(['migrate'])).out).toBe('database is up to date');
    expect((await run(['migrate', '--down', 'all'])).out).toMatch(/^reverted: /);
    expect((await run(['migrate'])).out).toMatch(/^applied: /);
  });

  it('launches a cycle from the command line', async () => {
    const org = await run([
      'create-organisation',
      '--name',
      'Acme',
      '--slug',
      'acme',
      '--admin-email',
      'hr@acme.test',
      '--admin-name',
      'Hana',
    ]);
    expect(org.code).toBe(0);
    const bad = await run([
      'create-programme',
      '--org',
      'acme',
      '--name',
      'P',
      '--baseline-closes',
      'tomorrow',
    ]);
    expect(bad.code).toBe(64);
    expect(bad.err).toContain('--baseline-closes must be a date');
    const closes = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    const programme = await run([
      'create-programme',
      '--org',
      'acme',
      '--name',
      'Leadership',
      '--baseline-closes',
      closes,
    ]);
    expect(programme.code).toBe(0);
    const cycleId = /baseline cycle\s+(\S+)/.exec(programme.out)![1]!;
    const csv = `${import.meta.dirname}/../fixtures/roster-small.csv`;
    const imported = await run(['import-roster', '--cycle', cycleId, csv]);
    expect(imported.err).toBe('');
    expect(imported.out).toContain('2 leaders');
    const opened = await run(['open-cycle', '--cycle', cycleId]);
    expect(opened.out).toMatch(/cycle open: \d+ invitations in \d+ emails queued/);
    const closed = await run(['close-cycle', '--cycle', cycleId]);
    expect(closed.out).toContain('aggregation queued for 2 leaders');
    const reopen = await run(['open-cycle', '--cycle', cycleId]);
    expect(reopen.code).toBe(65);
    expect(reopen.err).toContain('a closed cycle cannot become open');
  });

  it('refuses a changed instrument under the same version; a past cycle keeps its stored wording', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'panorama-cli-instrument-'));
    try {
      const original = await fs.readFile('surveys/leadership-360/instrument.yaml', 'utf8');
      const file = path.join(dir, 'pinned-360', 'instrument.yaml');
      await fs.mkdir(path.dirname(file));
      const wording = 'Lets others finish their point before responding.';
      expect(original).toContain(wording);
      const v1 = original.replace(/^id: leadership-360$/m, 'id: pinned-360');
      await fs.writeFile(file, v1);
      await run([
        'create-organisation',
        '--name',
        'Globex',
        '--slug',
        'globex',
        '--admin-email',
        'hr@globex.test',
        '--admin-name',
        'Gil',
      ]);
      const closes = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
      const programme = (name: string) =>
        run([
          'create-programme',
          '--org',
          'globex',
          '--name',
          name,
          '--baseline-closes',
          closes,
          '--instrument',
          file,
        ]);
      const first = await programme('First');
      expect(first.code).toBe(0);
      const firstCycle = /baseline cycle\s+(\S+)/.exec(first.out)![1]!;

      // The same version with different wording: refused, and nothing is created.
      await fs.writeFile(file, v1.replace(wording, 'Never interrupts.'));
      const edited = await programme('Second');
      expect(edited.code).toBe(65);
      expect(edited.err).toContain('instrument pinned-360 version 1 has changed');
      expect(edited.err).toContain('bump its version');
      const programmes = await t.db
        .selectFrom('programmes')
        .innerJoin('organisations', 'organisations.id', 'programmes.organisation_id')
        .where('organisations.slug', '=', 'globex')
        .select('programmes.name')
        .execute();
      expect(programmes.map((p) => p.name)).toEqual(['First']);

      // With the version bumped it is accepted, as a new version beside the old one.
      await fs.writeFile(
        file,
        v1.replace(wording, 'Never interrupts.').replace(/^version: 1$/m, 'version: 2'),
      );
      const bumped = await programme('Second');
      expect(bumped.code).toBe(0);
      const stored = await t.db
        .selectFrom('cycles')
        .innerJoin('instruments', (join) =>
          join
            .onRef('instruments.id', '=', 'cycles.instrument_id')
            .onRef('instruments.version', '=', 'cycles.instrument_version'),
        )
        .select(['cycles.id', 'instruments.version', 'instruments.definition'])
        .where('instruments.id', '=', 'pinned-360')
        .orderBy('instruments.version')
        .execute();
      expect(stored.map((c) => c.version)).toEqual([1, 2]);
      expect(stored[0]!.id).toBe(firstCycle);
      expect(JSON.stringify(stored[0]!.definition)).toContain(wording);
      expect(JSON.stringify(stored[0]!.definition)).not.toContain('Never interrupts.');
      expect(JSON.stringify(stored[1]!.definition)).toContain('Never interrupts.');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('seeds the demo once, through the real code paths', async () => {
    const first = await run(['seed-demo']);
    expect(first.code).toBe(0);
    expect(first.out).toContain('HR:     hr@northwind.example.org');
    const second = await run(['seed-demo']);
    expect(second.out).toContain('exists already');
    const subjects = await t.db
      .selectFrom('subjects')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .innerJoin('organisations', 'organisations.id', 'programmes.organisation_id')
      .where('organisations.slug', '=', 'northwind-demo')
      .select(['cycles.kind', t.db.fn.countAll<number>().as('n')])
      .groupBy('cycles.kind')
      .execute();
    expect(Object.fromEntries(subjects.map((s) => [s.kind, Number(s.n)]))).toEqual({
      baseline: 12,
      follow_up: 12,
    });
    const demoCycles = t.db
      .selectFrom('cycles')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .innerJoin('organisations', 'organisations.id', 'programmes.organisation_id')
      .where('organisations.slug', '=', 'northwind-demo')
      .select('cycles.id');
    const perSubject = await t.db
      .selectFrom('responses')
      .where('cycle_id', 'in', demoCycles)
      .select(['subject_id', 'relationship', t.db.fn.countAll<number>().as('n')])
      .groupBy(['subject_id', 'relationship'])
      .execute();
    const groups = new Set(perSubject.map((r) => r.relationship));
    expect([...groups].sort()).toEqual(['direct_report', 'manager', 'other', 'peer', 'self']);
    const totals = new Map<string, number>();
    for (const r of perSubject)
      if (r.relationship !== 'self') totals.set(r.subject_id, (totals.get(r.subject_id) ?? 0) + Number(r.n));
    for (const n of totals.values()) {
      expect(n).toBeGreaterThanOrEqual(5);
      expect(n).toBeLessThanOrEqual(12);
    }
    const invited = await t.db
      .selectFrom('invitations')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .where('subjects.cycle_id', 'in', demoCycles)
      .where('invitations.relationship', '<>', 'self')
      .select(['subjects.id', t.db.fn.countAll<number>().as('n')])
      .groupBy('subjects.id')
      .execute();
    expect(invited).toHaveLength(24);
    for (const row of invited) {
      expect(Number(row.n)).toBeGreaterThanOrEqual(8);
      expect(Number(row.n)).toBeLessThanOrEqual(12);
    }
    // Every response's invitation was marked completed by the batch, and no more.
    const completed = await t.db
      .selectFrom('invitations')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .where('subjects.cycle_id', 'in', demoCycles)
      .select(t.db.fn.countAll<number>().as('n'))
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    const responses = await t.db
      .selectFrom('responses')
      .where('cycle_id', 'in', demoCycles)
      .select(t.db.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(completed.n)).toBe(Number(responses.n));
  });

  it("releases the demo leader's baseline as her coach, so the printed leader account reads a report", async () => {
    const baseline = await t.db
      .selectFrom('subjects')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
      .innerJoin('people as coach', 'coach.id', 'subjects.coach_id')
      .select(['subjects.id', 'subjects.released_version', 'coach.id as coach_id', 'coach.email as coach'])
      .where('leader.email', '=', 'amara.okafor@northwind.example.org')
      .where('cycles.kind', '=', 'baseline')
      .executeTakeFirstOrThrow();
    expect(baseline.released_version).toBe(1);
    expect(baseline.coach).toBe('maya.patel@northwind.example.org');
    const release = await t.db
      .selectFrom('releases')
      .select(['profile_version', 'released_by'])
      .where('subject_id', '=', baseline.id)
      .executeTakeFirstOrThrow();
    expect(release).toEqual({ profile_version: 1, released_by: baseline.coach_id });

    const app = await reportApp(t.db);
    try {
      const leader = webClient(app);
      leader.cookies.set('panorama_session', await sessionFor(t.db, 'amara.okafor@northwind.example.org'));
      const me = await leader.get('/me');
      expect(me.statusCode).toBe(200);
      expect(me.body).not.toContain('Your report is not available yet');
      expect(me.body).toContain(`/reports/${baseline.id}`);
      const report = await leader.get(`/reports/${baseline.id}`);
      expect(report.statusCode).toBe(200);
      expect(report.body).toContain('Amara Okafor');
    } finally {
      await app.close();
    }
  });

  it('redoes a demo that an interrupted seed left unfinished, and starts over with --again', async () => {
    expect(await removeDemo(t.db)).toBe(true);
    // Interrupted after the baseline cycle: the organisation is there, the follow-up is not.
    await expect(
      seedDemo({
        db: t.db,
        keys: deriveKeys(TEST_SECRET),
        surveyBaseUrl: 'http://survey.test',
        log: (line) => {
          if (line.includes('Baseline')) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const demoOrganisations = () =>
      t.db
        .selectFrom('organisations')
        .select(['id', 'slug'])
        .where('slug', 'like', 'northwind-demo%')
        .execute();
    expect((await demoOrganisations()).map((o) => o.slug)).toEqual(['northwind-demo-incomplete']);

    const redone = await run(['seed-demo']);
    expect(redone.code).toBe(0);
    expect(redone.out).toContain('removed a demo that an interrupted seed left unfinished');
    const [finished] = await demoOrganisations();
    expect(finished!.slug).toBe('northwind-demo');
    const cycles = await t.db
      .selectFrom('cycles')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .where('programmes.organisation_id', '=', finished!.id)
      .select('cycles.kind')
      .orderBy('cycles.kind')
      .execute();
    expect(cycles.map((c) => c.kind)).toEqual(['baseline', 'follow_up']);

    const again = await run(['seed-demo', '--again']);
    expect(again.code).toBe(0);
    expect(again.out).toContain('removed the demo organisation');
    expect(again.out).toContain('demo ready');
    const afresh = await demoOrganisations();
    expect(afresh).toHaveLength(1);
    expect(afresh[0]!.id).not.toBe(finished!.id);
  });

  it('imports responses all or nothing and exports a programme', async () => {
    const closes = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    await run([
      'create-organisation',
      '--name',
      'Initech',
      '--slug',
      'initech',
      '--admin-email',
      'hr@initech.test',
      '--admin-name',
      'Ina',
    ]);
    const programme = await run([
      'create-programme',
      '--org',
      'initech',
      '--name',
      'Imported',
      '--baseline-closes',
      closes,
    ]);
    const programmeId = /programme (\S+)/.exec(programme.out)![1]!;
    const cycleId = /baseline cycle\s+(\S+)/.exec(programme.out)![1]!;
    await run(['import-roster', '--cycle', cycleId, `${import.meta.dirname}/../fixtures/roster-small.csv`]);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'panorama-cli-'));
    const bad = path.join(dir, 'bad.csv');
    await fs.writeFile(
      bad,
      'subject_email,relationship,response_key,item_id,value\ndana.lee@acme.test,peer,r1,communication.nope,4\n',
    );
    const refused = await run(['import-responses', '--cycle', cycleId, bad]);
    expect(refused.code).toBe(65);
    expect(refused.err).toContain('row 2');
    expect(
      await t.db.selectFrom('responses').select('id').where('cycle_id', '=', cycleId).execute(),
    ).toHaveLength(0);

    const exported = await run(['export', '--programme', programmeId, '--out', path.join(dir, 'out')]);
    expect(exported.code).toBe(0);
    const json = JSON.parse(await fs.readFile(path.join(dir, 'out', 'programme.json'), 'utf8')) as {
      programme: { id: string };
    };
    expect(json.programme.id).toBe(programmeId);
    const profiles = await fs.readFile(path.join(dir, 'out', 'profiles.csv'), 'utf8');
    expect(profiles).not.toMatch(/rater|response_id|@/i);
    await fs.rm(dir, { recursive: true, force: true });
  });
  it('remind leaves out raters whose responses still wait in the Redis completion set', async () => {
    const prefix = queuePrefix();
    const redis = createRedis(redisUrl(), 'worker');
    try {
      const { baseline, instrument } = await createProgramme(t.db, { slug: 'remind' });
      await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(rosterCsv(['rae'])) });
      await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();
      await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
      const links = await linksFromOutbox(t.db);
      const responder = links.find((l) => l.to === 'rae.peer0@acme.test')!;
      const completions = createCompletionSet(redis, prefix);
      const survey = createSurveyService({ db: t.db, keys, completions });
      const opened = await survey.open(responder.token);
      await survey.submit(
        responder.token,
        opened,
        parseAnswers(instrument, completeFields(instrument), { complete: true }),
      );
      expect(await completions.has(opened.invitationId)).toBe(true);
      await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();
      const invited = links.length;

      // Redis named but unreachable: refused, and nobody is reminded.
      const down = await run(['remind', '--cycle', baseline.id], {
        ...env,
        REDIS_URL: 'redis://127.0.0.1:1',
        QUEUE_PREFIX: prefix,
      });
      expect(down.code).toBe(69);
      expect(down.err).toContain('cannot reach Redis');
      expect(await linksFromOutbox(t.db)).toEqual([]);

      const result = await run(['remind', '--cycle', baseline.id], {
        ...env,
        REDIS_URL: redisUrl(),
        QUEUE_PREFIX: prefix,
      });
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      expect(result.out).toContain(`reminders: ${invited - 1} invitations`);
      const reminded = await linksFromOutbox(t.db);
      expect(reminded).toHaveLength(invited - 1);
      expect(reminded.some((l) => l.to === responder.to)).toBe(false);
      // Still waiting in the set (one is below the batch minimum), not marked.
      expect(await completions.has(opened.invitationId)).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});
