import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@panorama/config';
import { openOutbox } from '@panorama/domain';
import { createHandlers, createWorkerLogger, startWorker, workerProcessEnv } from '@panorama/worker';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme, keys, linksFromOutbox, rosterCsv } from '../support/scenario.ts';
import { cookieHeader, csrfOf, keepCookies, reportApp, surveyApp } from './support.ts';

/** The destination stream of a pino logger (its `pino.stream` symbol, found up the prototype chain). */
function pinoStream(logger: object): { write: (line: string) => boolean } {
  for (let o: object | null = logger; o; o = Object.getPrototypeOf(o) as object | null) {
    const symbol = Object.getOwnPropertySymbols(o).find((s) => s.description === 'pino.stream');
    if (symbol) return (o as Record<symbol, { write: (line: string) => boolean }>)[symbol]!;
  }
  throw new Error('not a pino logger');
}

/**
 * An SMTP server that refuses each recipient once with a 450 quoting the address, as real servers do
 * ("450 4.1.2 <x@y>: Recipient address rejected"), then accepts it.
 */
function refusingOnceSmtp() {
  const refused = new Set<string>();
  const delivered: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refused.has(address.address)) return callback();
      refused.add(address.address);
      callback(
        Object.assign(new Error(`4.1.2 <${address.address}>: Recipient address rejected`), {
          responseCode: 450,
        }),
      );
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        for (const to of session.envelope.rcptTo) delivered.push(to.address);
        callback();
      });
    },
  });
  return {
    refused,
    delivered,
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port)),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let t: TestDatabase;
let survey: FastifyInstance;
let report: FastifyInstance;
const logs: string[] = [];
const stream = { write: (line: string) => void logs.push(line) };
/** Everything that must never reach a log line. */
const secrets = new Set<string>();

beforeAll(async () => {
  t = await createTestDatabase();
  survey = await surveyApp(t.db, {
    config: {
      LOG_LEVEL: 'info',
      APP_SECRET: 'test-secret-'.padEnd(48, 'x'),
      SURVEY_PUBLIC_URL: 'http://survey.test',
      TRUST_PROXY: false,
    },
    logStream: stream,
  });
  report = await reportApp(t.db, { LOG_LEVEL: 'info' });
  // The report app's pino destination is captured here rather than passed as its `logStream` option (which it
  // now has): the root logger and every child share that one stream object, so nothing it logs is missed.
  const destination = pinoStream(report.log);
  destination.write = (line: string) => {
    logs.push(line);
    return true;
  };
}, 120_000);
afterAll(async () => {
  await survey?.close();
  await report?.close();
  await t?.drop();
});

describe('logs over a whole journey', () => {
  it(
    'roster import, open, a rater submits, sign-in, report, the worker mails: no token, IP address or rater email is logged',
    { timeout: 120_000 },
    async () => {
      const { baseline, hr, instrument } = await createProgramme(t.db);
      const staffIp = '203.0.113.77';
      const raterIp = '198.51.100.23';
      const raterIpV6 = '2001:db8:0:7::23';
      secrets.add(staffIp).add(raterIp).add(raterIpV6).add('127.0.0.1');

      // --- HR signs in by emailed link ---
      const jar = new Map<string, string>();
      const page = await report.inject({ method: 'GET', url: '/sign-in', remoteAddress: staffIp });
      keepCookies(jar, page);
      const asked = await report.inject({
        method: 'POST',
        url: '/sign-in',
        remoteAddress: staffIp,
        payload: new URLSearchParams({ email: hr.email, _csrf: csrfOf(page.body)! }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
      });
      expect(asked.statusCode).toBe(200);
      const mail = await t.db
        .selectFrom('email_outbox')
        .select('payload')
        .where('template', '=', 'sign-in')
        .executeTakeFirstOrThrow();
      const signInPath = new URL(
        (JSON.parse(openOutbox(keys, mail.payload!)) as { data: { link: string } }).data.link,
      ).pathname;
      secrets.add(signInPath.split('/').pop()!);
      // Out of the outbox, as the worker would send it, so only invitations are left there.
      await t.db.deleteFrom('email_outbox').where('template', '=', 'sign-in').execute();
      const confirm = await report.inject({
        method: 'GET',
        url: signInPath,
        remoteAddress: staffIp,
        headers: { cookie: cookieHeader(jar) },
      });
      keepCookies(jar, confirm);
      const signedIn = await report.inject({
        method: 'POST',
        url: signInPath,
        remoteAddress: staffIp,
        payload: `_csrf=${encodeURIComponent(csrfOf(confirm.body)!)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
      });
      expect(signedIn.statusCode).toBe(303);
      keepCookies(jar, signedIn);
      secrets.add(jar.get('panorama_session')!);

      // --- roster upload and open, through the admin pages ---
      const csv = rosterCsv(['dana'], { peers: 3, reports: 0 });
      for (const email of csv.match(/[\w.]+@acme\.test/g)!)
        if (email !== 'coach@acme.test') secrets.add(email);
      const adminPage = await report.inject({
        method: 'GET',
        url: `/admin/cycles/${baseline.id}`,
        remoteAddress: staffIp,
        headers: { cookie: cookieHeader(jar) },
      });
      const csrf = csrfOf(adminPage.body)!;
      secrets.add(csrf);
      const upload = await report.inject({
        method: 'POST',
        url: `/admin/cycles/${baseline.id}/roster`,
        remoteAddress: staffIp,
        payload:
          `--b\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n` +
          `--b\r\nContent-Disposition: form-data; name="roster"; filename="r.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n--b--\r\n`,
        headers: {
          'content-type': 'multipart/form-data; boundary=b',
          cookie: cookieHeader(jar),
          accept: 'text/html',
        },
      });
      expect(upload.statusCode).toBe(200);
      const opened = await report.inject({
        method: 'POST',
        url: `/admin/cycles/${baseline.id}/open`,
        remoteAddress: staffIp,
        payload: `_csrf=${encodeURIComponent(csrf)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
      });
      expect(opened.statusCode).toBe(200);

      // --- every rater answers through the survey app; one also tries a bad post first ---
      const links = await linksFromOutbox(t.db);
      expect(links.length).toBeGreaterThanOrEqual(5);
      for (const link of links) {
        secrets.add(link.token);
        const raterJar = new Map<string, string>();
        const first = await survey.inject({ method: 'GET', url: `/s/${link.token}`, remoteAddress: raterIp });
        keepCookies(raterJar, first);
        const token = csrfOf(first.body)!;
        const post = (step: number, fields: Record<string, string>) =>
          survey.inject({
            method: 'POST',
            url: `/s/${link.token}/${step}`,
            remoteAddress: raterIp,
            payload: new URLSearchParams({ ...fields, _csrf: token }).toString(),
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(raterJar) },
          });
        // The same link from an IPv6 address (a phone on another network).
        expect(
          (await survey.inject({ method: 'GET', url: `/s/${link.token}`, remoteAddress: raterIpV6 }))
            .statusCode,
        ).toBe(200);
        // A refused post (an unknown field named after the rater) is logged as refused, without the field.
        expect((await post(1, { [`r.${link.to}`]: '3', action: 'save' })).statusCode).toBe(400);
        const competencies = instrument.competencies;
        for (let step = 1; step <= 6; step++) {
          const items = competencies.slice((step - 1) * 2, step * 2).flatMap((c) => c.items.map((i) => i.id));
          const response = await post(step, {
            ...Object.fromEntries(items.map((id) => [`r.${id}`, '4'])),
            action: 'next',
          });
          expect(response.statusCode).toBe(303);
        }
        expect(
          (await post(7, { 'c.keep_doing': `Thanks from ${link.to}`, action: 'submit' })).statusCode,
        ).toBe(303);
        // The used link, again: the unusable-link page, logged like any 404.
        expect(
          (await survey.inject({ method: 'GET', url: `/s/${link.token}`, remoteAddress: raterIp }))
            .statusCode,
        ).toBe(404);
      }

      // --- the worker aggregates; HR reads the report and the API ---
      const handlers = createHandlers({
        db: t.db,
        producer: { add: async () => undefined, enqueue: async () => undefined } as never,
        mailer: { send: () => Promise.reject(new Error('no mail in tests')) },
        keys,
        anonymityK: 3,
        logger: createWorkerLogger('silent'),
      });
      const subject = await t.db
        .selectFrom('subjects')
        .select('id')
        .where('cycle_id', '=', baseline.id)
        .executeTakeFirstOrThrow();
      await handlers['aggregate-subject'](
        { subjectId: subject.id },
        { jobId: 'x', attempt: 1, log: async () => {} },
      );
      for (const url of [
        `/reports/${subject.id}`,
        `/api/subjects/${subject.id}/profile`,
        '/hr',
        `/reports/${subject.id}?email=${hr.email}`,
      ]) {
        const response = await report.inject({
          method: 'GET',
          url,
          remoteAddress: staffIp,
          headers: { cookie: cookieHeader(jar) },
        });
        expect(response.statusCode, url).toBe(200);
      }
      secrets.add(hr.email);

      // --- the real worker sends the invitations; the mail server refuses each address once, quoting it ---
      const smtp = refusingOnceSmtp();
      const port = await smtp.listen();
      const worker = await startWorker(
        loadConfig(
          workerProcessEnv,
          {
            NODE_ENV: 'test',
            LOG_LEVEL: 'debug',
            DATABASE_URL: t.url,
            DATABASE_POOL_SIZE: '3',
            REDIS_URL: redisUrl(),
            QUEUE_PREFIX: queuePrefix(),
            APP_SECRET: 'test-secret-'.padEnd(48, 'x'),
            SMTP_URL: `smtp://127.0.0.1:${port}`,
          },
          'worker-test',
        ),
        {
          logger: pino({ name: 'worker', level: 'debug' }, stream),
          schedule: false,
          // The stand-in aggregation above pushed the job outbox into a producer that drops jobs, so the
          // sweeper finds the emails by age; any age will do here.
          email: { staleEmailMs: 0 },
        },
      );
      const invitations = await t.db
        .selectFrom('email_outbox')
        .select('to_address')
        .where('status', '=', 'queued')
        .execute();
      try {
        // The sweeper pushes the job outbox (deliveries, aggregations) as it would every 20 seconds.
        const deadline = Date.now() + 90_000;
        for (;;) {
          await worker.producer.enqueue('sweep-outboxes', {});
          const waiting = await t.db
            .selectFrom('email_outbox')
            .select('id')
            .where('status', '!=', 'sent')
            .execute();
          if (waiting.length === 0) break;
          if (Date.now() > deadline) throw new Error(`${waiting.length} emails still not sent`);
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await worker.close();
        await smtp.close();
      }
      expect([...smtp.refused].sort()).toEqual(invitations.map((i) => i.to_address).sort());
      expect(smtp.delivered.sort()).toEqual(invitations.map((i) => i.to_address).sort());
      const workerLines = logs.map((l) => JSON.parse(l) as { name?: string; msg?: string; err?: string });
      expect(workerLines.filter((l) => l.msg === 'job failed').map((l) => l.err)).toEqual(
        invitations.map(() => 'TemporaryMailError: SMTP 450 4.1.2'),
      );
      expect(workerLines.filter((l) => l.name === 'worker' && l.msg === 'email sent')).toHaveLength(
        invitations.length,
      );

      // --- what the logs hold ---
      const lines = logs.map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string } });
      expect(lines.filter((l) => l.msg === 'incoming request').length).toBeGreaterThan(40);
      expect(lines.some((l) => l.req?.url?.startsWith('/s/[redacted]'))).toBe(true);
      expect(lines.some((l) => l.req?.url?.startsWith('/sign-in/[redacted]'))).toBe(true);
      const all = logs.join('\n');
      const found = [...secrets].filter(
        (s) => all.includes(s) || all.toLowerCase().includes(s.toLowerCase()),
      );
      expect(found).toEqual([]);
      // No address at all, in any form, and no prefix of a token long enough to look one up.
      expect(all).not.toMatch(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/);
      // Nor an IPv6 one: groups of hex digits joined by colons, "::" compressed or not.
      expect(all).not.toMatch(/(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])/i);
      expect(all).not.toMatch(/@acme\.test/);
      expect(all).not.toMatch(/"(remoteAddress|ip|ips|remotePort|user-agent|cookie|x-forwarded-for)"/i);
      for (const s of secrets) if (s.length >= 40) expect(all).not.toContain(s.slice(0, 12));
    },
  );
});
