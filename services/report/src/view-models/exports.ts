import type { ChangeReport, CohortReport, GroupKey, Profile } from '@panorama/domain';
import { fewerThan } from './format.ts';

/** Columns of cohort.csv: one row per competency, cohort-level statistics only. */
export const COHORT_CSV_COLUMNS = [
  'competency_id',
  'competency',
  'status',
  'leaders',
  'mean_change',
  'ci95_low',
  'ci95_high',
  'sd_change',
  't',
  'df',
  'p_two_sided',
  'd_av',
  'g_av',
  'd_z',
  'reliably_improved_share',
  'reliably_improved_ci95_low',
  'reliably_improved_ci95_high',
  'reliably_declined_share',
  'reliably_declined_ci95_low',
  'reliably_declined_ci95_high',
] as const;

const PROFILE_GROUPS: GroupKey[] = ['self', 'manager', 'peer', 'direct_report', 'other', 'all_others'];

/** Columns of profiles.csv: one row per leader, cycle and competency, group aggregates only. */
export const PROFILES_CSV_COLUMNS = [
  'leader_name',
  'leader_email',
  'cycle',
  'cycle_kind',
  'profile_version',
  'released_version',
  'competency_id',
  'competency',
  ...PROFILE_GROUPS.flatMap((g) => [`${g}_n`, `${g}_mean`]),
  'not_shown',
] as const;

type Row = Record<string, string | number | null>;

/** How a record is written: for a CSV file (formula-safe text, '' when empty) or for JSON (as is, null). */
export interface RecordFormat {
  text: (value: string) => string;
  empty: '' | null;
}
export const CSV_FORMAT: RecordFormat = { text: (value) => safeCell(value), empty: '' };
export const JSON_FORMAT: RecordFormat = { text: (value) => value, empty: null };

/**
 * Spreadsheet programs run a cell that starts with = + - @ as a formula; such text cells get a leading
 * apostrophe (OWASP "CSV injection"). Numbers are written as numbers.
 */
export function safeCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

const num = (value: number | null | undefined, digits = 4): string | number =>
  value === null || value === undefined || !Number.isFinite(value) ? '' : Number(value.toFixed(digits));

/** cohort.csv rows; suppressed competencies carry their status and no numbers. */
export function cohortCsvRecords(report: CohortReport, competencies: { id: string; title: string }[]): Row[] {
  const titles = new Map(competencies.map((c) => [c.id, c.title]));
  if (report.suppressed) {
    return competencies.map((c) => ({
      competency_id: c.id,
      competency: safeCell(c.title),
      status: fewerThan(report.k, 'leaders'),
    }));
  }
  return report.competencies.map((c) => {
    const base = { competency_id: c.id, competency: safeCell(titles.get(c.id) ?? c.id) };
    if (c.suppressed) return { ...base, status: fewerThan(c.k, 'leaders') };
    const p = c.paired;
    return {
      ...base,
      status: 'shown',
      leaders: p.n,
      mean_change: num(p.meanDelta),
      ci95_low: num(p.ci95[0]),
      ci95_high: num(p.ci95[1]),
      sd_change: num(p.sdDelta),
      t: num(p.t),
      df: p.df,
      p_two_sided: num(p.pTwoSided, 6),
      d_av: num(p.dAv),
      g_av: num(p.gAv),
      d_z: num(p.dZ),
      reliably_improved_share: num(c.reliableImprovement?.share),
      reliably_improved_ci95_low: num(c.reliableImprovement?.wilson95[0]),
      reliably_improved_ci95_high: num(c.reliableImprovement?.wilson95[1]),
      reliably_declined_share: num(c.reliableDeterioration?.share),
      reliably_declined_ci95_low: num(c.reliableDeterioration?.wilson95[0]),
      reliably_declined_ci95_high: num(c.reliableDeterioration?.wilson95[1]),
    };
  });
}

/**
 * profiles.csv rows of one leader's profile: n and mean of every shown group; suppressed groups are named
 * only. The JSON API's profiles are the same records in {@link JSON_FORMAT}.
 */
export function profilesCsvRecords(
  input: {
    leaderName: string;
    leaderEmail: string;
    cycleName: string;
    cycleKind: string;
    version: number;
    releasedVersion: number | null;
    profile: Profile;
  },
  format: RecordFormat = CSV_FORMAT,
): Row[] {
  const { text, empty } = format;
  return input.profile.competencies.map((c) => {
    const row: Row = {
      leader_name: text(input.leaderName),
      leader_email: text(input.leaderEmail),
      cycle: text(input.cycleName),
      cycle_kind: input.cycleKind,
      profile_version: input.version,
      released_version: input.releasedVersion ?? empty,
      competency_id: c.id,
      competency: text(c.title),
    };
    const hidden: string[] = [];
    for (const g of PROFILE_GROUPS) {
      const result = c.groups[g];
      if (result.suppressed) {
        if (g !== 'self' && g !== 'manager') hidden.push(`${g} (${fewerThan(result.k)})`);
        row[`${g}_n`] = empty;
        row[`${g}_mean`] = empty;
      } else {
        row[`${g}_n`] = result.n;
        const mean = num(result.mean);
        row[`${g}_mean`] = mean === '' ? empty : mean;
      }
    }
    row['not_shown'] = hidden.join('; ');
    return row;
  });
}

/** Columns of changes.csv: one row per leader and competency, the change behind the HR heatmap. */
export const CHANGES_CSV_COLUMNS = [
  'leader_name',
  'leader_email',
  'cycle',
  'change_version',
  'competency_id',
  'competency',
  'status',
  'change_all_others',
  'reliable_change',
] as const;

const VERDICT: Record<string, string> = {
  improved: 'improved',
  deteriorated: 'declined',
  no_reliable_change: 'no reliable change',
};

/**
 * changes.csv rows: each leader's change from all others per competency, as the heatmap shows it. A cell
 * the heatmap hides (fewer than k from all others in a cycle) and, like the heatmap, every cell while fewer
 * than k leaders have comparable results, carries its reason in `status` and no numbers.
 */
export function changesCsvRecords(input: {
  changes: {
    leaderName: string;
    leaderEmail: string;
    cycleName: string;
    version: number;
    report: ChangeReport;
  }[];
  competencies: { id: string; title: string }[];
  kAllOthers: number;
}): Row[] {
  const { changes, competencies, kAllOthers } = input;
  const comparable = changes.filter((c) => c.report.competencies.some((x) => x.allOthers.available)).length;
  const tooFewLeaders = comparable < kAllOthers;
  const sorted = [...changes].sort((a, b) => a.leaderName.localeCompare(b.leaderName, 'en'));
  return sorted.flatMap((change) => {
    const byId = new Map(change.report.competencies.map((c) => [c.id, c]));
    return competencies.map((competency) => {
      const base = {
        leader_name: safeCell(change.leaderName),
        leader_email: safeCell(change.leaderEmail),
        cycle: safeCell(change.cycleName),
        change_version: change.version,
        competency_id: competency.id,
        competency: safeCell(competency.title),
      };
      const all = byId.get(competency.id)?.allOthers;
      if (tooFewLeaders) return { ...base, status: fewerThan(kAllOthers, 'leaders with comparable results') };
      if (!all || !all.available)
        return { ...base, status: `${fewerThan(kAllOthers)} from all others in one of the cycles` };
      return {
        ...base,
        status: 'shown',
        change_all_others: num(all.delta),
        reliable_change: all.reliableChange ? (VERDICT[all.reliableChange.verdict] ?? '') : '',
      };
    });
  });
}
