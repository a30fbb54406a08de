import {
  RELATIONSHIPS,
  type AgreementCategory,
  type ChangeReport,
  type CohortAgreement,
  type CohortCompetency,
  type CohortReport,
  type Relationship,
} from '@panorama/domain';
import { ciChart, type CiChartRow } from '../charts/ci-chart.ts';
import { binValues, histogram } from '../charts/histogram.ts';
import { day, fewerThan, GROUP_LABEL, percent, plural, signed } from './format.ts';

/** Cronbach's alpha of one competency in one cycle, as the worker stores it. */
export interface StoredAlpha {
  alpha: number | null;
  rows: number;
  items: number;
  label: 'good' | 'acceptable' | 'low' | null;
}

/** What the worker stores in `cohort_results.data` (cohorts stored before alpha and agreement lack them). */
export interface StoredCohort {
  leaders: number;
  report: CohortReport;
  baselineCycleId?: string;
  followUpCycleId?: string;
  reliability?: { baseline: Record<string, StoredAlpha>; followUp: Record<string, StoredAlpha> };
  agreement?: { baseline: CohortAgreement; followUp: CohortAgreement };
}

/** What the worker stores in `change_results.data`. */
export interface StoredChange {
  baselineVersion: number;
  followUpVersion: number;
  report: ChangeReport;
}

/** Inputs of {@link hrProgrammeView}. */
export interface HrProgrammeInput {
  programme: { id: string; name: string; description: string };
  cycles: {
    id: string;
    kind: 'baseline' | 'follow_up';
    name: string;
    status: string;
    opened_at: Date | null;
    closes_at: Date;
    closed_at: Date | null;
    released_at: Date | null;
    leaders: number | null;
  }[];
  /** Invitation counts per cycle id and relationship. */
  participation: Record<string, { relationship: string; invited: number; completed: number }[]>;
  cohort: { version: number; computedAt: Date | string; data: StoredCohort } | null;
  /** Set while a cycle the cohort compares is still open: nothing of the cohort is shown until it closes. */
  cohortWithheldUntil?: Date | string | null;
  competencies: { id: string; title: string }[];
  changes: { subject_id: string; leader_name: string; data: StoredChange }[];
  subjects: {
    id: string;
    leader_id: string;
    leader_name: string;
    coach_name: string | null;
    cycle_id: string;
    released_version: number | null;
    latest_version: number | null;
  }[];
  releases: {
    subject_id: string;
    leader_name: string;
    cycle_name: string;
    profile_version: number;
    released_by_name: string | null;
    released_at: Date;
  }[];
  /** k of the all-others composite (a leader's change is shown only above it). */
  kAllOthers: number;
}

const STATUS_LABEL: Record<string, string> = {
  draft: 'Draft',
  open: 'Open for responses',
  closed: 'Closed',
  released: 'Released',
};

/** Effect size in words (Cohen's conventional bands), for readers who are not statisticians. */
export function effectWords(g: number | null): { band: string; value: string } {
  if (g === null) return { band: 'not defined', value: '' };
  const size = Math.abs(g);
  const band = size < 0.2 ? 'negligible' : size < 0.5 ? 'small' : size < 0.8 ? 'moderate' : 'large';
  return { band, value: `g = ${g.toFixed(2)}` };
}

/** What a 95% interval says about the average change, in words. */
export function intervalWords(ci: [number, number]): { text: string; kind: 'up' | 'down' | 'flat' } {
  if (ci[0] > 0) return { text: 'Clear improvement', kind: 'up' };
  if (ci[1] < 0) return { text: 'Clear decline', kind: 'down' };
  return { text: 'No clear change', kind: 'flat' };
}

/** "2 of 11" with "18%, plausibly 5–48%" from a share and its Wilson interval. */
export function shareWords(
  share: { share: number; wilson95: [number, number] } | null,
  n: number,
): { count: string; range: string } {
  if (!share) return { count: 'not assessed', range: 'no reliability data' };
  const count = Math.round(share.share * n);
  return {
    count: `${count} of ${n}`,
    range: `${percent(share.share)}, plausibly ${percent(share.wilson95[0])}–${percent(share.wilson95[1])}`,
  };
}

/** Heatmap colour band of a leader's change; bands are symmetric around no change. */
export function heatBand(delta: number): string {
  if (delta <= -0.5) return 'd3';
  if (delta <= -0.25) return 'd2';
  if (delta <= -0.1) return 'd1';
  if (delta < 0.1) return 'n0';
  if (delta < 0.25) return 'u1';
  if (delta < 0.5) return 'u2';
  return 'u3';
}

/** The bands in legend order. */
export const HEAT_LEGEND = [
  { band: 'd3', text: '−0.50 or less' },
  { band: 'd2', text: '−0.49 to −0.25' },
  { band: 'd1', text: '−0.24 to −0.10' },
  { band: 'n0', text: 'about the same (±0.09)' },
  { band: 'u1', text: '+0.10 to +0.24' },
  { band: 'u2', text: '+0.25 to +0.49' },
  { band: 'u3', text: '+0.50 or more' },
];

function cohortCompetencyRow(c: CohortCompetency, title: string) {
  const p = c.paired;
  const interval = intervalWords(p.ci95);
  return {
    title,
    shown: true,
    suppressedText: '',
    leaders: String(p.n),
    mean: signed(p.meanDelta),
    ci: `${signed(p.ci95[0])} to ${signed(p.ci95[1])}`,
    effect: effectWords(p.gAv),
    improved: shareWords(c.reliableImprovement, p.n),
    declined: shareWords(c.reliableDeterioration, p.n),
    words: interval.text,
    kind: interval.kind,
    warning: c.warnings.includes('large_effect')
      ? 'Unusually large for coaching (d_av above 0.8): check the data before reporting it.'
      : '',
  };
}

function cohortView(input: HrProgrammeInput) {
  const titles = new Map(input.competencies.map((c) => [c.id, c.title]));
  if (input.cohortWithheldUntil) {
    return {
      available: false,
      message:
        `The cohort comparison is published when the cycles it compares have closed (${day(input.cohortWithheldUntil)}). ` +
        'Numbers are not shown while responses are still coming in, because each new one would show up as a change.',
    };
  }
  if (!input.cohort) {
    return {
      available: false,
      message:
        'The cohort comparison appears here once the programme has a baseline and a follow-up cycle with results.',
    };
  }
  const { report } = input.cohort.data;
  if (report.suppressed) {
    return {
      available: false,
      message:
        report.reason === 'fewer_than_k'
          ? `Not shown: ${fewerThan(report.k, 'leaders')} have results in both cycles, too few to report a cohort without identifying individuals.`
          : `Not shown: the leaders left out of this group would number ${fewerThan(report.k, 'leaders')}.`,
    };
  }
  const rows = report.competencies.map((c) =>
    c.suppressed
      ? {
          title: titles.get(c.id) ?? c.id,
          shown: false,
          suppressedText: `${fewerThan(c.k, 'leaders')} with comparable scores`,
          leaders: '',
          mean: '',
          ci: '',
          effect: { band: '', value: '' },
          improved: { count: '', range: '' },
          declined: { count: '', range: '' },
          words: '',
          kind: 'flat' as const,
          warning: '',
        }
      : cohortCompetencyRow(c, titles.get(c.id) ?? c.id),
  );
  const chartRows: CiChartRow[] = report.competencies.map((c) =>
    c.suppressed
      ? { title: titles.get(c.id) ?? c.id, suppressed: `${fewerThan(c.k, 'leaders')}` }
      : { title: titles.get(c.id) ?? c.id, mean: c.paired.meanDelta, ci: c.paired.ci95 },
  );
  const shownRows = rows.filter((r) => r.shown);
  const up = shownRows.filter((r) => r.kind === 'up').length;
  const down = shownRows.filter((r) => r.kind === 'down').length;
  const parts = [`${report.leaders} leaders have results in both cycles.`];
  const counted = Math.max(0, ...report.competencies.filter((c) => !c.suppressed).map((c) => c.paired.n));
  if (counted > 0 && counted < report.leaders) {
    const left = report.leaders - counted;
    parts.push(
      `${plural(left, 'leader')} ${left === 1 ? 'is' : 'are'} left out of the figures below: too few people other than themselves rated them in one of the cycles.`,
    );
  }
  parts.push(
    up > 0
      ? `On ${up} of ${shownRows.length} competencies the cohort clearly improved on average.`
      : 'On no competency is there a clear average improvement yet.',
  );
  if (down > 0) parts.push(`On ${down} it clearly declined.`);
  return {
    available: true,
    message: '',
    headline: parts.join(' '),
    computed: `Version ${input.cohort.version}, computed ${day(input.cohort.computedAt)}`,
    rows,
    chart: ciChart({ id: `cohort-ci-${input.programme.id}`, rows: chartRows }),
    warnings: rows.filter((r) => r.warning).map((r) => `${r.title}: ${r.warning}`),
  };
}

const CATEGORY_LABEL: Record<AgreementCategory, string> = {
  over_estimator: 'Rate themselves higher than others do',
  under_estimator: 'Rate themselves lower than others do',
  in_agreement_good: 'Agree with others, rated above the cohort average',
  in_agreement_poor: 'Agree with others, rated below the cohort average',
};

/** The two cycles a stored cohort compares, named as the programme names them. */
function cohortCycleNames(input: HrProgrammeInput): [string, string] {
  const data = input.cohort?.data;
  const name = (id: string | undefined, fallback: string) =>
    input.cycles.find((c) => c.id === id)?.name ?? fallback;
  return [name(data?.baselineCycleId, 'Baseline'), name(data?.followUpCycleId, 'Follow-up')];
}

/**
 * Self-other agreement categories (METHODS §3) of the cohort's leaders in each cycle: leaders per category
 * overall, or why they are not shown (fewer than 10 leaders with both scores in a cycle).
 */
export function agreementView(input: HrProgrammeInput) {
  const stored = input.cohort?.data.agreement;
  const explanation =
    'Each leader’s self-rating set against how others rated them, averaged over competencies: a leader whose gap is more than half a standard deviation above the cohort’s typical gap rates themselves higher than others do, one that far below rates themselves lower, and the rest agree with others (Atwater & Yammarino).';
  if (!stored) {
    return { available: false, explanation, message: '', cycles: [], rows: [], leaders: [], notes: [] };
  }
  const names = cohortCycleNames(input);
  const sides = [stored.baseline, stored.followUp];
  const notes = sides.flatMap((side, i) =>
    side.overall.counts
      ? []
      : [
          `${names[i]}: not shown, ${side.overall.n} ${side.overall.n === 1 ? 'leader has' : 'leaders have'} both a self-rating and an all-others score; the categories compare leaders with each other and mean little with fewer than ${side.minLeaders}.`,
        ],
  );
  const shown = sides.some((side) => side.overall.counts);
  return {
    available: shown,
    explanation,
    message: shown ? '' : notes.join(' '),
    cycles: names,
    rows: (Object.keys(CATEGORY_LABEL) as AgreementCategory[]).map((category) => ({
      label: CATEGORY_LABEL[category],
      cells: sides.map((side) => (side.overall.counts ? String(side.overall.counts[category]) : '—')),
    })),
    leaders: sides.map((side) => String(side.overall.n)),
    notes: shown ? notes : [],
  };
}

const ALPHA_LABEL = { good: 'good', acceptable: 'acceptable', low: 'low' } as const;

/** Cronbach's alpha per competency in each cycle of the stored cohort (METHODS §5). */
export function reliabilityView(input: HrProgrammeInput) {
  const stored = input.cohort?.data.reliability;
  const explanation =
    'Cronbach’s alpha says how consistently the items of a competency measure the same thing, over every complete response of the cycle: 0.70 or more is acceptable, 0.80 or more good. Below that, treat changes in that competency with extra care.';
  if (!stored) return { available: false, explanation, cycles: [], rows: [] };
  const cell = (alpha: StoredAlpha | undefined) =>
    !alpha || alpha.alpha === null || alpha.label === null
      ? {
          alpha: '—',
          label: 'not computable',
          rows: alpha ? plural(alpha.rows, 'complete response') : 'no responses',
          kind: 'none',
        }
      : {
          alpha: alpha.alpha.toFixed(2),
          label: ALPHA_LABEL[alpha.label],
          rows: plural(alpha.rows, 'complete response'),
          kind: alpha.label,
        };
  return {
    available: true,
    explanation,
    cycles: cohortCycleNames(input),
    rows: input.competencies.map((c) => ({
      title: c.title,
      cells: [cell(stored.baseline[c.id]), cell(stored.followUp[c.id])],
    })),
  };
}

function participationView(input: HrProgrammeInput) {
  const cycles = input.cycles;
  const rowFor = (label: string, counts: { invited: number; completed: number }[]) => ({
    label,
    cells: counts.map((c) => ({
      invited: String(c.invited),
      completed: String(c.completed),
      rate: c.invited > 0 ? percent(c.completed / c.invited) : '—',
    })),
  });
  const lookup = (cycleId: string, g: Relationship) =>
    input.participation[cycleId]?.find((r) => r.relationship === g) ?? { invited: 0, completed: 0 };
  const rows = RELATIONSHIPS.map((g) =>
    rowFor(
      GROUP_LABEL[g],
      cycles.map((c) => lookup(c.id, g)),
    ),
  );
  const total = rowFor(
    'All groups',
    cycles.map((c) =>
      RELATIONSHIPS.reduce(
        (sum, g) => {
          const r = lookup(c.id, g);
          return { invited: sum.invited + r.invited, completed: sum.completed + r.completed };
        },
        { invited: 0, completed: 0 },
      ),
    ),
  );
  return { cycles: cycles.map((c) => c.name), rows, total };
}

function heatmapView(input: HrProgrammeInput) {
  const columns = input.competencies;
  const kAll = input.kAllOthers;
  const rows = [...input.changes]
    .sort((a, b) => a.leader_name.localeCompare(b.leader_name, 'en'))
    .map((change) => {
      const byId = new Map(change.data.report.competencies.map((c) => [c.id, c]));
      return {
        leader: change.leader_name,
        href: `/reports/${change.subject_id}`,
        cells: columns.map((col) => {
          const all = byId.get(col.id)?.allOthers;
          if (!all || !all.available) {
            return {
              band: 'none',
              text: '–',
              srText: `${col.title}: not shown, ${fewerThan(kAll)} from all others in one of the cycles`,
              marker: '',
            };
          }
          const verdict = all.reliableChange?.verdict;
          const marker = verdict === 'improved' ? '▲' : verdict === 'deteriorated' ? '▼' : '';
          const reliable =
            verdict === 'improved'
              ? ', reliable improvement'
              : verdict === 'deteriorated'
                ? ', reliable decline'
                : '';
          return {
            band: heatBand(all.delta),
            text: signed(all.delta),
            srText: `${col.title}: ${signed(all.delta)}${reliable}`,
            marker,
          };
        }),
      };
    });
  const leadersWithChange = input.changes.filter((c) =>
    c.data.report.competencies.some((x) => x.allOthers.available),
  ).length;
  return {
    columns: columns.map((c) => c.title),
    rows,
    legend: HEAT_LEGEND,
    noneText: `– not shown: ${fewerThan(kAll)} from all others in one of the cycles`,
    available: rows.length > 0 && leadersWithChange >= kAll,
    message:
      rows.length === 0
        ? 'Leader-by-leader change appears here once follow-up results are in.'
        : `Not shown: ${fewerThan(kAll, 'leaders')} have comparable results.`,
  };
}

function distributionView(input: HrProgrammeInput) {
  const deltas = input.changes.flatMap((c) =>
    c.data.report.competencies.flatMap((x) => (x.allOthers.available ? [x.allOthers.delta] : [])),
  );
  const leaders = input.changes.filter((c) =>
    c.data.report.competencies.some((x) => x.allOthers.available),
  ).length;
  if (leaders < input.kAllOthers || deltas.length === 0) {
    return { available: false, svg: '', table: '', note: '' };
  }
  const chart = histogram({
    id: `change-histogram-${input.programme.id}`,
    title: 'How leaders’ scores changed',
    description:
      'Histogram of the change in each leader’s all-others score per competency, in steps of 0.1 on the rating scale. The table after the chart lists the same counts.',
    bins: binValues(deltas, 0.1),
    countLabel: 'Leader × competency scores',
    valueLabel: 'Change in the all-others score',
  });
  const up = deltas.filter((d) => d >= 0.1).length;
  const down = deltas.filter((d) => d <= -0.1).length;
  return {
    available: true,
    svg: chart.svg,
    table: chart.table,
    note:
      `${plural(deltas.length, 'score')} from ${plural(leaders, 'leader')}: ${up} rose by 0.1 or more, ` +
      `${down} fell by 0.1 or more, and ${deltas.length - up - down} stayed within ±0.1.`,
  };
}

function leadersView(input: HrProgrammeInput) {
  const byLeader = new Map<string, { name: string; coach: string; cells: Map<string, HrSubjectCell> }>();
  for (const s of input.subjects) {
    const entry = byLeader.get(s.leader_id) ?? {
      name: s.leader_name,
      coach: s.coach_name ?? '—',
      cells: new Map<string, HrSubjectCell>(),
    };
    entry.cells.set(s.cycle_id, subjectCell(s));
    byLeader.set(s.leader_id, entry);
  }
  return {
    cycles: input.cycles.map((c) => c.name),
    rows: [...byLeader.values()].map((l) => ({
      name: l.name,
      coach: l.coach,
      cells: input.cycles.map(
        (c) => l.cells.get(c.id) ?? { href: '', state: 'not in this cycle', kind: 'none' as const },
      ),
    })),
  };
}

/** A leader's report in one cycle: a link and its release state in words. */
export interface HrSubjectCell {
  href: string;
  state: string;
  kind: 'released' | 'behind' | 'ready' | 'none';
}

/** Release state of one subject in words. */
export function subjectCell(s: {
  id: string;
  released_version: number | null;
  latest_version: number | null;
}): HrSubjectCell {
  const href = `/reports/${s.id}`;
  if (s.latest_version === null) return { href, state: 'no results yet', kind: 'none' };
  if (s.released_version === null) return { href, state: 'not released', kind: 'ready' };
  if (s.latest_version > s.released_version)
    return { href, state: `released v${s.released_version}; v${s.latest_version} newer`, kind: 'behind' };
  return { href, state: `released v${s.released_version}`, kind: 'released' };
}

/** Builds exactly what the HR programme dashboard prints. Pure. */
export function hrProgrammeView(input: HrProgrammeInput) {
  const base = `/hr/programmes/${input.programme.id}`;
  return {
    pageTitle: input.programme.name,
    programme: input.programme,
    cycles: input.cycles.map((c) => ({
      name: c.name,
      kind: c.kind === 'baseline' ? 'Baseline' : 'Follow-up',
      status: STATUS_LABEL[c.status] ?? c.status,
      statusKind: c.status,
      opened: day(c.opened_at) || '—',
      closes: day(c.closed_at ?? c.closes_at),
      closesLabel: c.closed_at ? 'Closed' : 'Closes',
      released: day(c.released_at) || '—',
      leaders: String(c.leaders ?? 0),
    })),
    participation: participationView(input),
    cohort: cohortView(input),
    agreement: agreementView(input),
    reliability: reliabilityView(input),
    heatmap: heatmapView(input),
    distribution: distributionView(input),
    leaders: leadersView(input),
    releases: input.releases.map((r) => ({
      leader: r.leader_name,
      href: `/reports/${r.subject_id}`,
      cycle: r.cycle_name,
      version: String(r.profile_version),
      by: r.released_by_name ?? 'automatically (cycle release)',
      when: day(r.released_at),
    })),
    exports: {
      cohortCsv: `${base}/export/cohort.csv`,
      profilesCsv: `${base}/export/profiles.csv`,
      changesCsv: `${base}/export/changes.csv`,
      api: `/api/programmes/${input.programme.id}/cohort`,
    },
  };
}

/** What the HR programme template prints. */
export type HrProgrammeView = ReturnType<typeof hrProgrammeView>;

/** The programme list on /hr. */
export function hrProgrammesView(
  programmes: {
    id: string;
    name: string;
    description: string;
    cycles: number | null;
    leaders: number | null;
    statuses: string | null;
  }[],
) {
  return {
    pageTitle: 'Programmes',
    empty: programmes.length === 0,
    programmes: programmes.map((p) => ({
      name: p.name,
      href: `/hr/programmes/${p.id}`,
      description: p.description,
      leaders: plural(p.leaders ?? 0, 'leader'),
      cycles: plural(p.cycles ?? 0, 'cycle'),
      statuses: (p.statuses ?? '')
        .split(',')
        .filter(Boolean)
        .map((s) => ({ text: STATUS_LABEL[s] ?? s, kind: s })),
    })),
  };
}
