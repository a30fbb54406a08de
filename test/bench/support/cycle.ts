import path from 'node:path';
import { sql } from 'kysely';
import { organisationRepository, programmeRepository, type Db } from '@panorama/db';
import { instrumentChecksum, loadInstrument, type Instrument } from '@panorama/domain';

/** Per leader: self, manager, 4 peers, 4 direct reports, 2 others (12 responses, 528 ratings). */
export const RATERS: [string, number][] = [
  ['self', 1],
  ['manager', 1],
  ['peer', 4],
  ['direct_report', 4],
  ['other', 2],
];

export async function flagship(): Promise<Instrument> {
  return loadInstrument(path.resolve(import.meta.dirname, '../../../surveys/leadership-360/instrument.yaml'));
}

export interface GeneratedCycle {
  instrument: Instrument;
  organisationId: string;
  programmeId: string;
  cycleId: string;
  /** Present when generated with `followUp: true`: the same leaders rated again. */
  followUpCycleId?: string;
  leaders: number;
  responses: number;
  ratings: number;
}

/**
 * A programme whose baseline cycle (and optionally a follow-up) holds `leaders` leaders with 12 responses
 * each, generated in Postgres from hashes so every run gets the same data: 5% "can't say" spread at random
 * (so some raters answer only part of a competency), leader-level leanings, and a comment on one response
 * in three. The same shape as the responses the survey service stores, and laid out as it stores them: a
 * response's ratings are inserted together (one statement per submission), so they share a page or two,
 * while responses of different leaders are interleaved (response ids are random).
 */
export async function generateCycle(
  db: Db,
  options: { leaders: number; followUp?: boolean; slug?: string },
): Promise<GeneratedCycle> {
  const instrument = await flagship();
  await programmeRepository.pinInstrument(db, {
    id: instrument.id,
    version: instrument.version,
    checksum: instrumentChecksum(instrument),
    definition: instrument,
  });
  const slug = options.slug ?? 'bench';
  const organisation = await organisationRepository.create(db, { name: 'Bench', slug });
  const programme = await programmeRepository.create(db, { organisationId: organisation.id, name: 'Bench' });
  const common = {
    programmeId: programme.id,
    instrumentId: instrument.id,
    instrumentVersion: instrument.version,
    closesAt: new Date(Date.now() + 86_400_000),
  };
  const cycle = await programmeRepository.createCycle(db, { ...common, kind: 'baseline', name: 'Baseline' });
  const followUp = options.followUp
    ? await programmeRepository.createCycle(db, { ...common, kind: 'follow_up', name: 'Follow-up' })
    : undefined;
  const items = instrument.competencies.flatMap((c) =>
    c.items.map((i) => ({ item: i.id, competency: c.id })),
  );
  const relationships = RATERS.flatMap(([relationship, count]) => Array<string>(count).fill(relationship));
  const question = instrument.questions[0]!.id;

  await sql`
    insert into people (organisation_id, email, name)
    select ${organisation.id}, 'leader' || g || '@' || ${slug} || '.test', 'Leader ' || g
    from generate_series(1, ${options.leaders}) g`.execute(db);
  for (const c of [cycle, followUp]) {
    if (!c) continue;
    await sql`
      insert into subjects (cycle_id, leader_id)
      select ${c.id}, id from people where organisation_id = ${organisation.id}`.execute(db);
    await sql`
      insert into responses (id, cycle_id, subject_id, relationship)
      select md5(s.id::text || ':' || r.n)::uuid, ${c.id}, s.id, r.relationship
      from subjects s, unnest(${relationships}::text[]) with ordinality as r(relationship, n)
      where s.cycle_id = ${c.id}`.execute(db);
    await sql`
      insert into response_ratings (response_id, item_id, competency_id, value)
      select r.id, i.item, i.competency,
             case when abs(hashtext(r.id::text || i.item)::bigint) % 20 = 0 then null
                  else 1 + (abs(hashtext(i.item || r.id::text)::bigint) % 3)
                         + (abs(hashtext(r.subject_id::text || i.competency)::bigint) % 3)
             end
      from responses r,
           unnest(${items.map((i) => i.item)}::text[], ${items.map((i) => i.competency)}::text[])
             with ordinality as i(item, competency, n)
      where r.cycle_id = ${c.id}
      order by r.id, i.n`.execute(db);
    await sql`
      insert into response_comments (response_id, question_id, body)
      select r.id, ${question}, 'Comment ' || left(md5(r.id::text), 12) || ' on how they lead the team'
      from responses r where r.cycle_id = ${c.id} and abs(hashtext(r.id::text)::bigint) % 3 = 0`.execute(db);
  }
  await sql`analyze`.execute(db);
  const counts = (
    await sql<{ responses: number; ratings: number }>`
      select (select count(*) from responses where cycle_id = ${cycle.id})::int as responses,
             (select count(*) from response_ratings rr join responses r on r.id = rr.response_id
              where r.cycle_id = ${cycle.id})::int as ratings`.execute(db)
  ).rows[0]!;
  return {
    instrument,
    organisationId: organisation.id,
    programmeId: programme.id,
    cycleId: cycle.id,
    ...(followUp ? { followUpCycleId: followUp.id } : {}),
    leaders: options.leaders,
    ...counts,
  };
}
