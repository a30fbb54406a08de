import { stringify } from 'csv-stringify/sync';
import type { Kysely } from 'kysely';
import { programmeRepository, resultRepository, type Database } from '@panorama/db';
import {
  GROUP_KEYS,
  NotFoundError,
  publicMixWarnings,
  RELATIONSHIPS,
  type ChangeReport,
  type CohortReport,
  type GroupResult,
  type Profile,
} from '@panorama/domain';
import { publicProfile, type PublicProfile } from '../view-models/public-profile.ts';

/** A programme's results: one JSON document and three CSV tables. */
export interface ProgrammeExport {
  json: {
    programme: { id: string; name: string };
    profiles: {
      subjectId: string;
      cycle: { id: string; name: string; kind: 'baseline' | 'follow_up' };
      leader: { name: string; email: string };
      version: number;
      releasedVersion: number | null;
      /** The stored profile without its comments. */
      /** The stored profile without its comments, hidden groups' participation as suppressed markers. */
      profile: Omit<PublicProfile, 'comments'>;
    }[];
    changes: {
      subjectId: string;
      baselineSubjectId: string;
      cycle: string;
      leader: { name: string; email: string };
      version: number;
      sd1ByCompetency: Record<string, number>;
      rxxByCompetency: Record<string, number>;
      report: ChangeReport;
    }[];
    cohort: { version: number; leaders: number; report: CohortReport } | null;
  };
  csv: { profiles: string; changes: string; cohort: string };
}

const num = (x: number | null | undefined) => (x === null || x === undefined ? '' : String(x));

function groupCells(result: GroupResult) {
  return result.suppressed
    ? { suppressed: 'true', n: '', mean: '', sd: '' }
    : { suppressed: 'false', n: num(result.n), mean: num(result.mean), sd: num(result.sd) };
}

/**
 * Exports a programme's latest results: every leader's profile (competency and item statistics per group,
 * as published: suppressed groups carry no numbers), every change and the cohort roll-up. Built from the
 * stored snapshots only, so it holds nothing at rater level; verbatim comments are left out of exports.
 */
export async function exportProgramme(db: Kysely<Database>, programmeId: string): Promise<ProgrammeExport> {
  const programme = await programmeRepository.findById(db, programmeId);
  if (!programme) throw new NotFoundError('programme not found');
  // What staff may see (the publication rule), never a version it holds back: the export is read by staff.
  const profileRows = await resultRepository.publishedProfilesOfProgramme(db, programmeId);
  const changeRows = await resultRepository.publishedChangesOfProgramme(db, programmeId);
  const cohortRow = (await resultRepository.publishedCohort(db, programmeId)).cohort;

  const profiles = profileRows.map((row) => {
    const { comments: _comments, ...profile } = publicProfile(row.data as Profile);
    return {
      subjectId: row.subject_id,
      cycle: { id: row.cycle_id, name: row.cycle_name, kind: row.cycle_kind },
      leader: { name: row.leader_name, email: row.leader_email },
      version: row.version,
      releasedVersion: row.released_version,
      profile,
    };
  });
  const changes = changeRows.map((row) => {
    const data = row.data as {
      sd1ByCompetency: Record<string, number>;
      rxxByCompetency: Record<string, number>;
      report: ChangeReport;
    };
    return {
      subjectId: row.subject_id,
      baselineSubjectId: row.baseline_subject_id,
      cycle: row.cycle_name,
      leader: { name: row.leader_name, email: row.leader_email },
      version: row.version,
      sd1ByCompetency: data.sd1ByCompetency,
      rxxByCompetency: data.rxxByCompetency,
      report: { ...data.report, mixWarnings: publicMixWarnings(data.report.mixWarnings) },
    };
  });
  const cohortData = cohortRow?.data as { leaders: number; report: CohortReport } | undefined;
  const cohort =
    cohortRow && cohortData
      ? { version: cohortRow.version, leaders: cohortData.leaders, report: cohortData.report }
      : null;

  const profileCsv = stringify(
    profiles.flatMap((p) =>
      p.profile.competencies.flatMap((c) =>
        GROUP_KEYS.map((group) => ({
          cycle: p.cycle.name,
          cycle_kind: p.cycle.kind,
          leader_email: p.leader.email,
          leader_name: p.leader.name,
          version: p.version,
          competency_id: c.id,
          group,
          ...groupCells(c.groups[group]),
        })),
      ),
    ),
    {
      header: true,
      columns: [
        'cycle',
        'cycle_kind',
        'leader_email',
        'leader_name',
        'version',
        'competency_id',
        'group',
        'suppressed',
        'n',
        'mean',
        'sd',
      ],
    },
  );

  const changeCsv = stringify(
    changes.flatMap((ch) =>
      ch.report.competencies.flatMap((c) =>
        [...RELATIONSHIPS, 'all_others' as const].map((group) => {
          const change = group === 'all_others' ? c.allOthers : c.groups[group];
          return {
            cycle: ch.cycle,
            leader_email: ch.leader.email,
            leader_name: ch.leader.name,
            version: ch.version,
            competency_id: c.id,
            group,
            available: String(change.available),
            baseline: change.available ? num(change.baseline) : '',
            follow_up: change.available ? num(change.followUp) : '',
            delta: change.available ? num(change.delta) : '',
            rci: change.available ? num(change.reliableChange?.rci) : '',
            verdict: change.available ? (change.reliableChange?.verdict ?? '') : '',
            welch_z: change.available ? num(change.welchZ) : '',
          };
        }),
      ),
    ),
    {
      header: true,
      columns: [
        'cycle',
        'leader_email',
        'leader_name',
        'version',
        'competency_id',
        'group',
        'available',
        'baseline',
        'follow_up',
        'delta',
        'rci',
        'verdict',
        'welch_z',
      ],
    },
  );

  const cohortRows =
    cohort && !cohort.report.suppressed
      ? cohort.report.competencies.map((c) =>
          c.suppressed
            ? { competency_id: c.id, suppressed: 'true' }
            : {
                competency_id: c.id,
                suppressed: 'false',
                leaders: num(c.paired.n),
                mean_delta: num(c.paired.meanDelta),
                sd_delta: num(c.paired.sdDelta),
                t: num(c.paired.t),
                df: num(c.paired.df),
                p: num(c.paired.pTwoSided),
                ci_low: num(c.paired.ci95[0]),
                ci_high: num(c.paired.ci95[1]),
                d_av: num(c.paired.dAv),
                g_av: num(c.paired.gAv),
                d_z: num(c.paired.dZ),
                reliable_improvement: num(c.reliableImprovement?.share),
                reliable_deterioration: num(c.reliableDeterioration?.share),
                warnings: c.warnings.join(' '),
              },
        )
      : [];
  const cohortCsv = stringify(cohortRows, {
    header: true,
    columns: [
      'competency_id',
      'suppressed',
      'leaders',
      'mean_delta',
      'sd_delta',
      't',
      'df',
      'p',
      'ci_low',
      'ci_high',
      'd_av',
      'g_av',
      'd_z',
      'reliable_improvement',
      'reliable_deterioration',
      'warnings',
    ],
  });

  return {
    json: { programme: { id: programme.id, name: programme.name }, profiles, changes, cohort },
    csv: { profiles: profileCsv, changes: changeCsv, cohort: cohortCsv },
  };
}
