import { sql } from 'kysely';
import type { Db } from '@panorama/db';
import type { Answers, Instrument } from '@panorama/domain';
import { openCycle } from '@panorama/report';
import { createSurveyService } from '../../../services/survey/src/survey-service.ts';
import { formSteps } from '../../../services/survey/src/view-models/form-steps.ts';
import { createProgramme, keys, linksFromOutbox } from '../../support/scenario.ts';

export interface RaterLink {
  token: string;
  subjectId: string;
}

export interface PreparedLinks {
  instrument: Instrument;
  programmeId: string;
  cycleId: string;
  links: RaterLink[];
  /** The final step of the form, where the submission is posted. */
  finalStep: number;
  /** The final step's fields (open questions and the submit button), without `_csrf`. */
  finalFields: Record<string, string>;
}

/**
 * A cycle opened the way an admin opens one (links sealed into the email outbox, then taken from it as a
 * rater's inbox would), with `leaders` leaders and `raters` peers each, and a draft holding every rating
 * for each link, so that one POST of the final step submits a complete response.
 */
export async function prepareLinks(
  db: Db,
  options: { leaders: number; raters: number },
): Promise<PreparedLinks> {
  const { instrument, organisation, programme, baseline } = await createProgramme(db, {
    slug: `ingest-${Math.random().toString(36).slice(2, 8)}`,
  });
  await sql`
    insert into people (organisation_id, email, name)
    select ${organisation.id}, 'leader' || g || '@ingest.test', 'Leader ' || g
    from generate_series(1, ${options.leaders}) g`.execute(db);
  await sql`
    insert into subjects (cycle_id, leader_id)
    select ${baseline.id}, id from people where organisation_id = ${organisation.id} and email like 'leader%'`.execute(
    db,
  );
  await sql`
    insert into people (organisation_id, email, name)
    select ${organisation.id}, 'rater' || g || '.' || r || '@ingest.test', 'Rater ' || g || '.' || r
    from generate_series(1, ${options.leaders}) g, generate_series(1, ${options.raters}) r`.execute(db);
  await sql`
    insert into invitations (subject_id, rater_id, relationship, status)
    select s.id, p.id, 'peer', 'pending'
    from subjects s join people l on l.id = s.leader_id
    join people p on p.email like 'rater' || substring(l.email from 'leader(\\d+)@') || '.%'
    where s.cycle_id = ${baseline.id}`.execute(db);

  await openCycle({ db, keys, surveyBaseUrl: 'http://127.0.0.1' }, baseline.id);
  const subjectByLeader = new Map(
    (
      await db
        .selectFrom('subjects')
        .innerJoin('people', 'people.id', 'subjects.leader_id')
        .select(['subjects.id', 'people.name'])
        .where('subjects.cycle_id', '=', baseline.id)
        .execute()
    ).map((r) => [r.name, r.id]),
  );
  const links = (await linksFromOutbox(db)).map((l) => ({
    token: l.token,
    subjectId: subjectByLeader.get(l.leaderName)!,
  }));

  const service = createSurveyService({ db, keys });
  const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
  let n = 0;
  const drafts = links.map((link) => {
    n += 1;
    const answers: Answers = {
      ratings: Object.fromEntries(
        items.map((id, i) => [id, (n + i) % 17 === 0 ? null : 1 + ((n * 7 + i) % 5)]),
      ),
      comments: {},
    };
    return () => service.saveDraft(link.token, answers);
  });
  for (let i = 0; i < drafts.length; i += 50) await Promise.all(drafts.slice(i, i + 50).map((f) => f()));

  const steps = formSteps(instrument);
  const final = steps[steps.length - 1]!;
  const finalFields: Record<string, string> = { action: 'submit' };
  for (const id of final.questionIds) finalFields[`c.${id}`] = 'Listens well; could delegate more.';
  return {
    instrument,
    programmeId: programme.id,
    cycleId: baseline.id,
    links,
    finalStep: final.number,
    finalFields,
  };
}

/** The CSRF cookie and token a rater's browser holds after loading a page of the form. */
export async function csrfFor(baseUrl: string, token: string) {
  const response = await fetch(`${baseUrl}/s/${token}`, { headers: { accept: 'text/html' } });
  const body = await response.text();
  const csrf = /name=["']_csrf["'] value=["']([^"']+)["']/.exec(body)?.[1];
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .join('; ');
  if (!response.ok || !csrf || !cookie) throw new Error(`could not load the form (${response.status})`);
  return { csrf, cookie };
}

/** The urlencoded body of a final-step submission. */
export function submissionBody(fields: Record<string, string>, csrf: string) {
  return new URLSearchParams({ _csrf: csrf, ...fields }).toString();
}
