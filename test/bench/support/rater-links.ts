import { sql } from 'kysely';
import type { Db } from '@panorama/db';
import { newToken, sealDraft, tokenMac, type Answers, type Instrument } from '@panorama/domain';
import { openCycle } from '@panorama/report';
import { formSteps } from '../../../services/survey/src/view-models/form-steps.ts';
import { createProgramme, keys } from '../../support/scenario.ts';

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
 * A cycle opened through the admin's `openCycle` with `leaders` leaders and `raters` peers each, then one
 * link per invitation minted here in bulk (the same `newToken` and MAC the cycle's emails use, without
 * rendering tens of thousands of emails), and a draft holding every rating for each link, sealed as the
 * survey service seals it, so that one POST of the final step submits a complete response.
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
  // Already 'sent', so opening the cycle mails nobody; the links are minted below. Raters are paired with
  // leaders by position (an equi-join the planner hashes, however fresh the statistics).
  await sql`
    insert into invitations (subject_id, rater_id, relationship, status, sent_at)
    select s.id, p.id, 'peer', 'sent', now()
    from (select subjects.id, row_number() over (order by subjects.id) as n
          from subjects where cycle_id = ${baseline.id}) s
    join (select people.id, (row_number() over (order by people.id) - 1) / ${options.raters} + 1 as n
          from people where organisation_id = ${organisation.id} and email like 'rater%') p on p.n = s.n`.execute(
    db,
  );
  await openCycle({ db, keys, surveyBaseUrl: 'http://127.0.0.1' }, baseline.id);

  const invitations = await db
    .selectFrom('invitations')
    .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .select(['invitations.id', 'invitations.subject_id', 'cycles.closes_at'])
    .where('subjects.cycle_id', '=', baseline.id)
    .orderBy('invitations.id')
    .execute();
  const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
  const links: RaterLink[] = [];
  for (let start = 0; start < invitations.length; start += 2_000) {
    const chunk = invitations.slice(start, start + 2_000).map((invitation, j) => {
      const n = start + j + 1;
      const token = newToken();
      const answers: Answers = {
        ratings: Object.fromEntries(
          items.map((id, i) => [id, (n + i) % 17 === 0 ? null : 1 + ((n * 7 + i) % 5)]),
        ),
        comments: {},
      };
      links.push({ token, subjectId: invitation.subject_id });
      return {
        link: {
          token_hash: tokenMac(keys.invitation, token),
          invitation_id: invitation.id,
          expires_at: invitation.closes_at,
        },
        draft: {
          draft_mac: tokenMac(keys.draft, token),
          ciphertext: sealDraft(keys, token, JSON.stringify(answers)),
        },
      };
    });
    await db
      .insertInto('invitation_links')
      .values(chunk.map((c) => c.link))
      .execute();
    await db
      .insertInto('response_drafts')
      .values(chunk.map((c) => c.draft))
      .execute();
  }

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
