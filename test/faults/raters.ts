import http from 'node:http';
import type { Db } from '@panorama/db';
import { createSeededRandom, type Instrument } from '@panorama/domain';
import { importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createProgramme, linksFromOutbox, rosterCsv, SURVEY_URL } from '../support/scenario.ts';
import { keys, sleep } from './harness.ts';

/** An open cycle with `leaders` leaders and their raters, and every emailed link's token. */
export async function openCycleWithRaters(
  db: Db,
  options: { leaders: number; peers: number; reports: number },
) {
  const { baseline, instrument, programme } = await createProgramme(db);
  const leaders = Array.from({ length: options.leaders }, (_, i) => `leader${i}`);
  const csv = rosterCsv(leaders, { peers: options.peers, reports: options.reports });
  await importRoster(db, { cycleId: baseline.id, rows: parseRosterCsv(csv) });
  await openCycle({ db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
  const links = await linksFromOutbox(db);
  return { instrument, cycleId: baseline.id, programmeId: programme.id, tokens: links.map((l) => l.token) };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Every answer the load got, so a test can assert on what raters saw. */
export interface LoadReport {
  /** token -> how many submissions of it were acknowledged (303 to /thanks). */
  acknowledged: Map<string, number>;
  /** Tokens whose submission outcome was unknown (5xx or a broken connection) and whose link was then spent. */
  spentAfterRetry: Set<string>;
  /** Tokens a rater gave up on before the load stopped. */
  unfinished: Set<string>;
  /** status -> count, over every request. */
  statuses: Map<number, number>;
  /** 503 answers that came without a Retry-After header. */
  unavailableWithoutRetryAfter: number;
  /** Connection-level failures by code (ECONNRESET, ECONNREFUSED...). */
  networkErrors: Map<string, number>;
  /** Anything a rater did not expect at that point (a 500, a 404 on a fresh link...). */
  unexpected: string[];
}

export function emptyReport(): LoadReport {
  return {
    acknowledged: new Map(),
    spentAfterRetry: new Set(),
    unfinished: new Set(),
    statuses: new Map(),
    unavailableWithoutRetryAfter: 0,
    networkErrors: new Map(),
    unexpected: [],
  };
}

/** A one-line account of a load, for failure messages. */
export function describeReport(report: LoadReport): string {
  return JSON.stringify({
    acknowledged: acknowledgedCount(report),
    spentAfterRetry: report.spentAfterRetry.size,
    unfinished: report.unfinished.size,
    statuses: Object.fromEntries(report.statuses),
    networkErrors: Object.fromEntries(report.networkErrors),
    unexpected: report.unexpected.slice(0, 5),
  });
}

export function acknowledgedCount(report: LoadReport): number {
  let n = 0;
  for (const count of report.acknowledged.values()) n += count;
  return n;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request over a keep-alive agent; connection errors reject with their code. */
export function request(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: { headers?: Record<string, string>; form?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}${path}`,
      {
        method,
        agent,
        headers: {
          accept: 'text/html',
          ...options.headers,
          ...(body
            ? {
                'content-type': 'application/x-www-form-urlencoded',
                'content-length': String(Buffer.byteLength(body)),
              }
            : {}),
        },
        timeout: options.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
    );
    // Whether the request went out on a kept-alive socket: a server may close one while it is idle just as
    // a request is written to it, and the client cannot tell that the request was never read.
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}

/** The form's steps as the survey splits them: two competencies a page, then the open questions. */
export function stepFields(instrument: Instrument, seed: string) {
  const random = createSeededRandom(seed);
  const steps: Record<string, string>[] = [];
  for (let start = 0; start < instrument.competencies.length; start += 2) {
    const fields: Record<string, string> = { action: 'next' };
    for (const c of instrument.competencies.slice(start, start + 2)) {
      for (const item of c.items) {
        const draw = random();
        fields[`r.${item.id}`] = draw < 0.05 ? 'na' : String(1 + Math.floor(random() * 5));
      }
    }
    steps.push(fields);
  }
  const final: Record<string, string> = { action: 'submit' };
  if (random() < 0.5 && instrument.questions[0])
    final[`c.${instrument.questions[0].id}`] = `note ${seed.slice(0, 6)}`;
  steps.push(final);
  return steps;
}

let ipCounter = 0;

/**
 * One rater working through the whole form by its emailed link, the way a patient person with a browser
 * would: on a 503 or a broken connection they wait briefly and send the same page again, until `deadline`.
 */
export class RaterSession {
  readonly ip: string;
  private cookie = '';
  private csrf = '';
  private submitUncertain = false;
  readonly steps: Record<string, string>[];

  constructor(
    readonly baseUrl: string,
    instrument: Instrument,
    readonly token: string,
    readonly report: LoadReport,
    readonly deadline: number,
  ) {
    ipCounter++;
    this.ip = `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
    this.steps = stepFields(instrument, token);
  }

  private note(what: string) {
    this.report.unexpected.push(`${this.token.slice(0, 6)}: ${what}`);
  }

  headers(): Record<string, string> {
    return { 'x-forwarded-for': this.ip, ...(this.cookie ? { cookie: this.cookie } : {}) };
  }

  /** The final step's form, with the page's CSRF token. */
  finalForm(): Record<string, string> {
    return { ...this.steps[this.steps.length - 1]!, _csrf: this.csrf };
  }

  /** Counts one answer; true when it is final for this request (not a 503 or a 5xx to retry). */
  record(result: HttpResult, final: boolean, what: string): boolean {
    const { report } = this;
    report.statuses.set(result.status, (report.statuses.get(result.status) ?? 0) + 1);
    if (result.status < 500) return true;
    if (result.status === 503 && !result.headers['retry-after']) report.unavailableWithoutRetryAfter++;
    if (result.status !== 503) this.note(`${what.replace(this.token, '<token>')} answered ${result.status}`);
    if (final) this.submitUncertain = true;
    return false;
  }

  /** Sends until an answer other than a 5xx / a connection failure arrives, or the deadline passes. */
  private async send(method: 'GET' | 'POST', path: string, form?: Record<string, string>, final = false) {
    while (Date.now() < this.deadline) {
      let result: HttpResult;
      try {
        result = await request(this.baseUrl, method, path, {
          headers: this.headers(),
          ...(form ? { form: { ...form, _csrf: this.csrf } } : {}),
        });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        const kind = (error as { reusedSocket?: boolean }).reusedSocket ? `${code} (reused socket)` : code;
        this.report.networkErrors.set(kind, (this.report.networkErrors.get(kind) ?? 0) + 1);
        if (final) this.submitUncertain = true;
        await sleep(100);
        continue;
      }
      if (this.record(result, final, `${method} ${path}`)) return result;
      // A browser user would wait Retry-After; the test waits less to stay quick.
      await sleep(150);
    }
    return undefined;
  }

  /** Loads the form (for its CSRF cookie and token). False when the rater cannot go on. */
  async open(): Promise<boolean> {
    const first = await this.send('GET', `/s/${this.token}`);
    if (!first) return (void this.report.unfinished.add(this.token), false);
    if (first.status !== 200) return (this.note(`first page answered ${first.status}`), false);
    this.cookie = (first.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
    this.csrf = /name=["']_csrf["'] value=["']([^"']+)["']/.exec(first.body)?.[1] ?? '';
    return true;
  }

  /** Answers the steps before the last. False when the rater cannot go on. */
  async answerSteps(): Promise<boolean> {
    for (const [index, fields] of this.steps.slice(0, -1).entries()) {
      const answer = await this.send('POST', `/s/${this.token}/${index + 1}`, fields);
      if (!answer) return (void this.report.unfinished.add(this.token), false);
      if (answer.status !== 303) return (this.note(`step ${index + 1} answered ${answer.status}`), false);
    }
    return true;
  }

  /** Sends the final step (again, if `uncertain`) and records how the submission ended. */
  async submit(uncertain = false): Promise<void> {
    if (uncertain) this.submitUncertain = true;
    const path = `/s/${this.token}/${this.steps.length}`;
    const answer = await this.send('POST', path, this.steps[this.steps.length - 1], true);
    this.settle(answer);
  }

  /** Records the outcome of a submission from its (final) answer. */
  settle(answer: HttpResult | undefined): void {
    const { report, token } = this;
    if (!answer) return void report.unfinished.add(token);
    if (answer.status === 303 && answer.headers.location === '/thanks') {
      report.acknowledged.set(token, (report.acknowledged.get(token) ?? 0) + 1);
    } else if (this.submitUncertain && (answer.status === 404 || answer.status === 409)) {
      // A retried submission whose first try did commit finds its link spent: 404 (or 409 in a race).
      report.spentAfterRetry.add(token);
    } else {
      this.note(`submission answered ${answer.status}`);
    }
  }
}

/** One rater from the first page to the acknowledgement. */
export async function rate(
  baseUrl: string,
  instrument: Instrument,
  token: string,
  report: LoadReport,
  deadline: number,
): Promise<void> {
  const rater = new RaterSession(baseUrl, instrument, token, report, deadline);
  if ((await rater.open()) && (await rater.answerSteps())) await rater.submit();
}

/**
 * Raters in parallel, each taking the next unused link, until `stop()` says so or the links run out. Every
 * rater started finishes (or gives up at `deadline`), so no request is left in flight when this resolves.
 */
export async function driveLoad(options: {
  baseUrl: string;
  instrument: Instrument;
  tokens: string[];
  concurrency: number;
  stop: () => boolean;
  deadline: number;
  report?: LoadReport;
}): Promise<LoadReport> {
  const report = options.report ?? emptyReport();
  let next = 0;
  const lanes = Array.from({ length: options.concurrency }, async () => {
    while (!options.stop() && next < options.tokens.length && Date.now() < options.deadline) {
      const token = options.tokens[next++]!;
      await rate(options.baseUrl, options.instrument, token, report, options.deadline);
    }
  });
  await Promise.all(lanes);
  return report;
}

/** Every link submitted once, one after another (no fault): the baseline load of the worker tests. */
export async function submitAll(baseUrl: string, instrument: Instrument, tokens: string[]) {
  return driveLoad({
    baseUrl,
    instrument,
    tokens,
    concurrency: 4,
    stop: () => false,
    deadline: Date.now() + 60_000,
  });
}
