import type { Kysely } from 'kysely';
import { organisationRepository, personRepository, programmeRepository, type Database } from '@panorama/db';
import {
  deriveKeys,
  instrumentChecksum,
  loadInstrument,
  openOutbox,
  type Instrument,
} from '@panorama/domain';
import path from 'node:path';

export const TEST_SECRET = 'test-secret-'.padEnd(48, 'x');
export const keys = deriveKeys(TEST_SECRET);
export const SURVEY_URL = 'http://survey.test';

let cached: Instrument | undefined;
export async function flagshipInstrument(): Promise<Instrument> {
  cached ??= await loadInstrument(
    path.resolve(import.meta.dirname, '../../surveys/leadership-360/instrument.yaml'),
  );
  return cached;
}

/** An organisation with an HR admin and a programme whose baseline (and follow-up) cycle is a draft. */
export async function createProgramme(
  db: Kysely<Database>,
  options: { slug?: string; followUp?: boolean } = {},
) {
  const instrument = await flagshipInstrument();
  const organisation = await organisationRepository.create(db, {
    name: 'Acme',
    slug: options.slug ?? `acme-${Math.random().toString(36).slice(2, 8)}`,
  });
  const hr = await personRepository.upsert(db, {
    organisationId: organisation.id,
    email: 'hr@acme.test',
    name: 'Hana HR',
  });
  await personRepository.grantRole(db, hr.id, 'hr');
  await personRepository.grantRole(db, hr.id, 'admin');
  await programmeRepository.pinInstrument(db, {
    id: instrument.id,
    version: instrument.version,
    checksum: instrumentChecksum(instrument),
    definition: instrument,
  });
  const programme = await programmeRepository.create(db, {
    organisationId: organisation.id,
    name: 'Leadership 2027',
  });
  const closesAt = new Date(Date.now() + 7 * 86_400_000);
  const common = {
    programmeId: programme.id,
    instrumentId: instrument.id,
    instrumentVersion: instrument.version,
    closesAt,
  };
  const baseline = await programmeRepository.createCycle(db, {
    ...common,
    kind: 'baseline',
    name: 'Baseline',
  });
  const followUp = options.followUp
    ? await programmeRepository.createCycle(db, { ...common, kind: 'follow_up', name: 'Follow-up' })
    : undefined;
  return { instrument, organisation, hr, programme, baseline, followUp };
}

/** A roster CSV: each leader gets a manager, `peers` peers and `reports` direct reports. */
export function rosterCsv(
  leaders: string[],
  options: { peers?: number; reports?: number; shared?: string[] } = {},
) {
  const lines = ['leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship'];
  for (const leader of leaders) {
    const row = (email: string, name: string, rel: string) =>
      lines.push(`${leader}@acme.test,${leader},coach@acme.test,Cora Coach,${email},${name},${rel}`);
    row(`${leader}.boss@acme.test`, `${leader} Boss`, 'manager');
    for (let i = 0; i < (options.peers ?? 3); i++)
      row(`${leader}.peer${i}@acme.test`, `${leader} Peer ${i}`, 'peer');
    for (let i = 0; i < (options.reports ?? 3); i++)
      row(`${leader}.report${i}@acme.test`, `${leader} Report ${i}`, 'direct_report');
    for (const email of options.shared ?? []) row(email, email.split('@')[0]!, 'other');
  }
  return lines.join('\n');
}

/** The links in queued emails, as a rater would find them in their inbox. */
export async function linksFromOutbox(db: Kysely<Database>) {
  const rows = await db
    .selectFrom('email_outbox')
    .select(['to_address', 'payload', 'template'])
    .where('status', '=', 'queued')
    .execute();
  return rows.flatMap((row) => {
    const { data } = JSON.parse(openOutbox(keys, row.payload!)) as {
      data: { surveys: { leaderName: string; link: string; self: boolean }[] };
    };
    return data.surveys.map((s) => ({
      to: row.to_address,
      template: row.template,
      ...s,
      token: s.link.split('/').pop()!,
    }));
  });
}

/** Complete answers for every item of the instrument, all `value`. */
export function completeFields(instrument: Instrument, value: string | ((itemId: string) => string) = '4') {
  const fields: Record<string, string> = {};
  for (const c of instrument.competencies) {
    for (const item of c.items) fields[`r.${item.id}`] = typeof value === 'string' ? value : value(item.id);
  }
  return fields;
}
