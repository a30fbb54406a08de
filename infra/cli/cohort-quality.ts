import { resultRepository, type Db } from '@panorama/db';
import type { CohortAgreement } from '@panorama/domain';

interface StoredAlpha {
  alpha: number | null;
  rows: number;
  items: number;
  label: string | null;
}

/** The parts of a stored cohort roll-up the export adds (absent from cohorts stored before them). */
interface StoredQuality {
  reliability?: { baseline: Record<string, StoredAlpha>; followUp: Record<string, StoredAlpha> };
  agreement?: { baseline: CohortAgreement; followUp: CohortAgreement };
  sd1Source?: Record<string, string>;
  rxxSource?: Record<string, string>;
  cohortNorms?: Record<string, string>;
}

/** What `panorama export` adds for the cohort: alpha per cycle and agreement categories, as JSON and CSV. */
export interface CohortQualityExport {
  json: {
    cohortReliability: StoredQuality['reliability'] | null;
    cohortAgreement: StoredQuality['agreement'] | null;
    cohortNorms: {
      cohort: Record<string, string> | null;
      sd1Source: Record<string, string> | null;
      rxxSource: Record<string, string> | null;
    };
  };
  csv: { 'cohort-alpha': string; 'cohort-agreement': string };
}

const CYCLES = [
  ['baseline', 'baseline'],
  ['followUp', 'follow_up'],
] as const;

// Every value is a number, a fixed word or a snake_case id, but quote anyway so a future id cannot break a row.
const cell = (value: string | number | null | undefined): string => {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};
const csv = (header: string[], rows: (string | number | null | undefined)[][]) =>
  [header, ...rows].map((row) => row.map(cell).join(',')).join('\n') + '\n';

/** The export's cohort quality tables from a stored cohort's data. Pure. */
export function cohortQualityFiles(data: unknown): CohortQualityExport {
  const stored = (data ?? {}) as StoredQuality;
  const alphaRows = stored.reliability
    ? CYCLES.flatMap(([key, cycle]) =>
        Object.entries(stored.reliability![key]).map(([competency, a]) => [
          cycle,
          competency,
          a.alpha,
          a.rows,
          a.items,
          a.label,
        ]),
      )
    : [];
  const agreementRows = stored.agreement
    ? CYCLES.flatMap(([key, cycle]) => {
        const side = stored.agreement![key];
        return [{ id: 'overall', ...side.overall }, ...side.competencies].map((s) => [
          cycle,
          s.id,
          s.n,
          String(s.counts !== null),
          s.counts?.over_estimator,
          s.counts?.under_estimator,
          s.counts?.in_agreement_good,
          s.counts?.in_agreement_poor,
          s.cutoffs?.meanGap,
          s.cutoffs?.sdGap,
          s.cutoffs?.meanAllOthers,
        ]);
      })
    : [];
  return {
    json: {
      cohortReliability: stored.reliability ?? null,
      cohortAgreement: stored.agreement ?? null,
      cohortNorms: {
        cohort: stored.cohortNorms ?? null,
        sd1Source: stored.sd1Source ?? null,
        rxxSource: stored.rxxSource ?? null,
      },
    },
    csv: {
      'cohort-alpha': csv(['cycle_kind', 'competency_id', 'alpha', 'rows', 'items', 'label'], alphaRows),
      'cohort-agreement': csv(
        [
          'cycle_kind',
          'scope',
          'leaders',
          'shown',
          'over_estimator',
          'under_estimator',
          'in_agreement_good',
          'in_agreement_poor',
          'mean_gap',
          'sd_gap',
          'mean_all_others',
        ],
        agreementRows,
      ),
    },
  };
}

/** Reads the programme's latest cohort roll-up and builds its quality tables (empty without one). */
export async function cohortQualityExport(db: Db, programmeId: string): Promise<CohortQualityExport> {
  const latest = await resultRepository.latestCohort(db, programmeId);
  return cohortQualityFiles(latest?.data ?? null);
}
