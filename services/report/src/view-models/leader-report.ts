import {
  publicMixWarnings,
  RELATIONSHIPS,
  type AgreementGroup,
  type ChangeReport,
  type CompetencyProfile,
  type GroupAgreement,
  type GroupChange,
  type GroupKey,
  type GroupResult,
  type MixWarning,
  type Profile,
  type Relationship,
  type SuppressionReason,
  type ChangeUnavailable,
} from '@panorama/domain';
import { profileChart, type ChartScore } from '../charts/profile-chart.ts';
import { day, fewerThan, GROUP_LABEL, listWords, plural, score, signed } from './format.ts';

/** The instrument text a report needs: titles, descriptions, item and question wording. */
export interface ReportInstrument {
  /** The rating scale; `points` carries the anchors raters saw (the report repeats the end ones). */
  scale: { min: number; max: number; points?: { value: number; label: string }[] };
  competencies: { id: string; title: string; description: string; items: { id: string; rater: string }[] }[];
  questions: { id: string; rater: string }[];
}

/** Inputs of {@link leaderReportView}. */
export interface LeaderReportInput {
  subject: {
    id: string;
    leaderName: string;
    coachName: string | null;
    cycleName: string;
    programmeName: string;
    releasedVersion: number | null;
  };
  /** Staff (HR, admin, coach) read the latest version; the leader reads the released one. */
  audience: 'staff' | 'leader';
  profile: { version: number; computedAt: Date | string; data: Profile } | null;
  /** The version staff are shown (the publication rule's), to say whether the released one is behind it. */
  latestVersion: number | null;
  instrument: ReportInstrument;
  /** The change from the baseline, when this is a follow-up with one the viewer may see. */
  change: { report: ChangeReport; baselineCycleName: string } | null;
  /** Why a follow-up shows no change section (e.g. the baseline is not released to the leader). */
  changeNote?: string | null;
  /** The leader's reports in the programme's other cycles. */
  otherReports: { href: string; label: string }[];
  canRelease: boolean;
  notice: { kind: 'success' | 'error'; text: string } | null;
  /** Staff only: what the publication rule decided (why numbers are withheld, held back or on their way). */
  publication?: ReportPublication | null;
}

/**
 * The publication rule's answer for staff (`resultRepository.staffPublication`): `withheld` while the cycle
 * is open (participation only), `updating` or `none` when no version can be shown, or `shown` with whether
 * later responses are still being aggregated or are held back by the re-release rule.
 */
export type ReportPublication =
  | { state: 'withheld'; closesAt: Date | string; participation: Profile['participation'] | null }
  | { state: 'updating' | 'none' }
  | { state: 'shown'; updating: boolean; heldBack: { group: GroupKey; required: number }[] | null };

/** A group's line in a competency's breakdown. */
export interface GroupRowView {
  label: string;
  shown: boolean;
  /** When not shown: "fewer than 3 responses", "no response". */
  suppressedText: string;
  nText: string;
  meanText: string;
  rangeText: string;
  agreementText: string;
  lowConsensus: boolean;
  note: string;
}

/** One cell of an item table. */
export interface ItemCellView {
  text: string;
  shown: boolean;
}

/** An item of a competency. */
export interface ItemRowView {
  text: string;
  cells: ItemCellView[];
  naNote: string;
}

/** One competency section. */
export interface CompetencyView {
  id: string;
  anchor: string;
  title: string;
  description: string;
  headline: string;
  headlineShown: boolean;
  flags: { text: string; kind: 'blind-spot' | 'hidden-strength' | 'disagree' }[];
  groups: GroupRowView[];
  itemColumns: string[];
  items: ItemRowView[];
  hiddenColumnsNote: string;
}

/** A row of the change table (all others, fixed weights). */
export interface ChangeRowView {
  title: string;
  shown: boolean;
  suppressedText: string;
  baseline: string;
  followUp: string;
  delta: string;
  verdict: string;
  verdictKind: 'up' | 'down' | 'flat' | 'none';
  mdc: string;
  groupsNote: string;
}

/** A cell of the change-by-group table. */
export interface ChangeCellView {
  shown: boolean;
  text: string;
  delta: string;
  verdict: string;
  verdictKind: 'up' | 'down' | 'flat' | 'none';
}

/** Everything the report template prints. */
export interface LeaderReportView {
  pageTitle: string;
  subjectId: string;
  leaderName: string;
  cycleName: string;
  programmeName: string;
  coachLine: string;
  versionLine: string;
  status: { kind: 'released' | 'draft' | 'behind' | 'leader'; text: string };
  notice: LeaderReportInput['notice'];
  canRelease: boolean;
  releaseLabel: string;
  releaseAction: string;
  otherReports: { href: string; label: string }[];
  /** Why staff see no numbers, or an older version than the latest (the publication rule). */
  publicationNotes: string[];
  hasProfile: boolean;
  emptyText: string;
  summary: {
    participation: { label: string; text: string; shown: boolean }[];
    participationNotes: string[];
    strongest: { title: string; anchor: string; score: string }[];
    weakest: { title: string; anchor: string; score: string }[];
    gaps: { title: string; anchor: string; text: string; direction: 'above' | 'below' }[];
    gapsEmpty: string;
  };
  chart: { svg: string; legend: string; table: string };
  /** The scale the profile chart's averages are on, with the instrument's end anchors. */
  scaleNote: string;
  selfOther: {
    blindSpots: { title: string; text: string }[];
    blindSpotItems: { title: string; text: string }[];
    hiddenStrengths: { title: string; text: string }[];
    hiddenStrengthItems: { title: string; text: string }[];
    blindSpotsEmpty: string;
    hiddenStrengthsEmpty: string;
  };
  competencies: CompetencyView[];
  topItems: { text: string; competency: string; score: string; n: string }[];
  bottomItems: { text: string; competency: string; score: string; n: string }[];
  comments: { question: string; comments: { text: string; label: string }[]; empty: boolean }[];
  change: {
    baselineCycleName: string;
    rows: ChangeRowView[];
    groupColumns: string[];
    groupRows: { title: string; cells: ChangeCellView[] }[];
    overlap: string[];
    overlapEmpty: boolean;
    warnings: string[];
  } | null;
  changeNote: string;
}

const shown = (result: GroupResult | undefined) => (result && !result.suppressed ? result : null);

/** The words for a group that is not shown; never a count. */
export function suppressedText(group: GroupKey, k: number, reason?: SuppressionReason): string {
  // Shown at competency level, withheld per item: partial answers would let item and competency
  // numbers be combined to single a rater out.
  if (reason === 'partial_answers') return 'not shown per item, to protect anonymity';
  if (group === 'self') return 'no self-rating';
  if (k <= 1) return 'no response';
  return fewerThan(k);
}

/** Rater agreement in words (METHODS §4): low consensus is said plainly; one rater has no agreement. */
export function agreementWords(agreement: GroupAgreement | null): { text: string; low: boolean } {
  if (!agreement) return { text: '—', low: false };
  if (agreement.lowConsensus) return { text: 'Raters disagree', low: true };
  const words: Record<string, string> = {
    none: 'Raters disagree',
    weak: 'Raters disagree',
    moderate: 'Raters broadly agree',
    strong: 'Raters agree',
    very_strong: 'Raters agree closely',
  };
  return { text: words[agreement.rwgBand] ?? 'Raters agree', low: false };
}

/** The participation of one group, in words: counts for shown groups, "fewer than k" for the others. */
export function participationText(
  group: Relationship,
  participation: Profile['participation'][Relationship],
): { text: string; shown: boolean } {
  if (group === 'self') {
    return participation.responses > 0
      ? { text: 'completed', shown: true }
      : { text: 'no self-rating', shown: false };
  }
  if (group === 'manager') {
    return participation.responses > 0
      ? { text: plural(participation.responses, 'response'), shown: true }
      : { text: 'no response', shown: false };
  }
  return participation.shown
    ? { text: plural(participation.responses, 'response'), shown: true }
    : { text: fewerThan(participation.k), shown: false };
}

/** Verdict of a reliable change in words (METHODS §6). */
export function verdictWords(change: GroupChange): { text: string; kind: ChangeRowView['verdictKind'] } {
  const verdict = change.reliableChange?.verdict;
  if (verdict === 'improved') return { text: 'Reliable improvement', kind: 'up' };
  if (verdict === 'deteriorated') return { text: 'Reliable decline', kind: 'down' };
  if (verdict === 'no_reliable_change') return { text: 'Within measurement error', kind: 'flat' };
  return { text: 'Not assessed (no reliability data)', kind: 'none' };
}

/**
 * A change in the mix of raters, in words. Shares and "added"/"removed" only for warnings marked as showing
 * nothing beyond the counts the reports show (`publicMixWarnings` folds the rest into the general one).
 */
export function mixWarningText(warning: MixWarning): string {
  if (warning.type === 'mix_changed') {
    return (
      'The mix of rater groups changed between the cycles in ways that cannot be shown in detail without ' +
      'revealing the size of small groups; a change in who rates can move scores even when behaviour has not changed.'
    );
  }
  const group = GROUP_LABEL[warning.group];
  if (warning.type !== 'share_changed') {
    return warning.type === 'group_added'
      ? `${group} rated in the follow-up but not at baseline, so the two cycles were rated by different groups.`
      : `${group} rated at baseline but not in the follow-up, so the two cycles were rated by different groups.`;
  }
  return (
    `${group} made up ${Math.round(warning.baselineShare * 100)}% of raters at baseline and ` +
    `${Math.round(warning.followUpShare * 100)}% in the follow-up; a change in who rates can move scores ` +
    'even when behaviour has not changed.'
  );
}

const anchorOf = (id: string) => `c-${id}`;

interface Ranked {
  id: string;
  title: string;
  mean: number;
}

/** Competencies ranked by their all-others mean (ties keep instrument order): the strongest and weakest. */
export function strongestAndWeakest(competencies: CompetencyProfile[], count = 3) {
  const ranked: Ranked[] = competencies.flatMap((c) => {
    const others = shown(c.groups.all_others);
    return others ? [{ id: c.id, title: c.title, mean: others.mean }] : [];
  });
  const take = Math.min(count, Math.floor(ranked.length / 2));
  const strongest = [...ranked].sort((a, b) => b.mean - a.mean).slice(0, take);
  const weakest = [...ranked].sort((a, b) => a.mean - b.mean).slice(0, take);
  return { strongest, weakest };
}

/** The largest self-others gaps (at least a quarter point), largest first. */
export function largestGaps(profile: Profile, count = 3) {
  return [...profile.selfOther.competencies.gaps]
    .filter((g) => Math.abs(g.gap) >= 0.25)
    .sort((a, b) => Math.abs(b.gap) - Math.abs(a.gap))
    .slice(0, count);
}

function flagText(
  rank: boolean,
  gapValue: number | undefined,
  kind: 'blind' | 'hidden',
  threshold = 1,
): string {
  const reasons: string[] = [];
  if (rank) {
    reasons.push(
      kind === 'blind'
        ? 'among the highest in the self-rating but among the lowest in the ratings of others'
        : 'among the lowest in the self-rating but among the highest in the ratings of others',
    );
  }
  if (gapValue !== undefined && Math.abs(gapValue) >= threshold - 1e-9) {
    reasons.push(
      `the self-rating is ${Math.abs(gapValue).toFixed(2)} ${gapValue > 0 ? 'above' : 'below'} the average of all others`,
    );
  }
  const sentence = reasons.join(', and ');
  return sentence ? `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.` : '';
}

/**
 * "Average ratings on the 1–5 scale (1 = almost never, 5 = almost always)." from the instrument's own
 * anchors, so another instrument's scale is described in its words.
 */
export function scaleNote(scale: { min: number; max: number }, instrument: ReportInstrument): string {
  const label = (value: number) => instrument.scale.points?.find((p) => p.value === value)?.label;
  const low = label(scale.min);
  const high = label(scale.max);
  const anchors =
    low && high ? ` (${scale.min} = ${low.toLowerCase()}, ${scale.max} = ${high.toLowerCase()})` : '';
  return `Average ratings on the ${scale.min}–${scale.max} scale${anchors}.`;
}

function selfOtherView(profile: Profile, instrument: ReportInstrument) {
  const competencyTitle = new Map(profile.competencies.map((c) => [c.id, c.title]));
  const itemText = new Map(
    instrument.competencies.flatMap((c) =>
      c.items.map((i) => [i.id, { text: i.rater, competency: c.title }] as const),
    ),
  );
  const collect = (kind: 'blind' | 'hidden', level: 'competencies' | 'items') => {
    const out: { title: string; text: string }[] = [];
    {
      const result = profile.selfOther[level];
      const flags = kind === 'blind' ? result.blindSpots : result.hiddenStrengths;
      const ids = [...new Set([...flags.rank, ...flags.gap])];
      const order = new Map(result.gaps.map((g, i) => [g.id, i]));
      ids.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
      for (const id of ids) {
        const gap = result.gaps.find((g) => g.id === id)?.gap;
        const text = flagText(flags.rank.includes(id), flags.gap.includes(id) ? gap : undefined, kind);
        if (level === 'competencies') out.push({ title: competencyTitle.get(id) ?? id, text });
        else {
          const item = itemText.get(id);
          out.push({ title: item ? `${item.text} (${item.competency})` : id, text });
        }
      }
    }
    return out;
  };
  return {
    blindSpots: collect('blind', 'competencies'),
    blindSpotItems: collect('blind', 'items'),
    hiddenStrengths: collect('hidden', 'competencies'),
    hiddenStrengthItems: collect('hidden', 'items'),
    blindSpotsEmpty:
      'No blind spots: there is no competency or behaviour the leader rates among their highest while others rate it among the lowest, and no self-rating a full point above others’.',
    hiddenStrengthsEmpty:
      'No hidden strengths: others do not rate any competency or behaviour clearly higher than the leader does.',
  };
}

const BREAKDOWN_ORDER: GroupKey[] = ['all_others', 'self', 'manager', 'peer', 'direct_report', 'other'];

function groupRow(c: CompetencyProfile, group: GroupKey, k: number, profile: Profile): GroupRowView {
  const result = c.groups[group];
  const stats = shown(result);
  const base = { label: GROUP_LABEL[group], note: '' };
  if (!stats) {
    return {
      ...base,
      shown: false,
      suppressedText: suppressedText(
        group,
        result?.suppressed ? result.k : k,
        result?.suppressed ? result.reason : undefined,
      ),
      nText: '',
      meanText: '',
      rangeText: '',
      agreementText: '',
      lowConsensus: false,
    };
  }
  const agreement = group === 'self' ? null : agreementWords(c.agreement[group as AgreementGroup] ?? null);
  let note = '';
  if (group === 'other' && stats.merged && stats.merged.length > 0) {
    note = `Includes ${listWords(stats.merged.map((g) => GROUP_LABEL[g].toLowerCase()))} (pooled for anonymity).`;
  }
  if (group === 'all_others' && stats.groups) {
    const missing = (['manager', 'peer', 'direct_report', 'other'] as const).filter(
      (g) => profile.participation[g].responses > 0 && !stats.groups!.includes(g),
    );
    if (missing.length > 0) {
      note = `Leaves out ${listWords(missing.map((g) => GROUP_LABEL[g].toLowerCase()))} (too few responses).`;
    }
  }
  return {
    ...base,
    note,
    shown: true,
    suppressedText: '',
    nText: String(stats.n),
    meanText: score(stats.mean),
    rangeText:
      stats.min !== undefined && stats.max !== undefined ? `${score(stats.min)}–${score(stats.max)}` : '',
    agreementText: agreement?.text ?? '—',
    lowConsensus: agreement?.low ?? false,
  };
}

function competencyView(
  c: CompetencyProfile,
  profile: Profile,
  instrument: ReportInstrument,
): CompetencyView {
  const def = instrument.competencies.find((x) => x.id === c.id);
  const k = (g: GroupKey) =>
    g === 'self' || g === 'manager'
      ? 1
      : g === 'all_others'
        ? profile.anonymity.k.all_others
        : profile.anonymity.k[g];
  const groups = BREAKDOWN_ORDER.map((g) => groupRow(c, g, k(g), profile));
  const columns = BREAKDOWN_ORDER.filter(
    (g) => shown(c.groups[g]) || c.items.some((item) => shown(item.groups[g])),
  );
  const hidden = BREAKDOWN_ORDER.filter((g) => !columns.includes(g));
  const items: ItemRowView[] = c.items.map((item) => {
    const naGroups = columns.filter((g) => shown(item.groups[g])?.naFlag);
    const merged = shown(item.groups.other)?.merged ?? [];
    const notes = [
      naGroups.length > 0
        ? `More than a quarter of ${listWords(naGroups.map((g) => GROUP_LABEL[g].toLowerCase()))} chose “Can’t say”.`
        : '',
      merged.length > 0
        ? `Others here includes ${listWords(merged.map((g) => GROUP_LABEL[g].toLowerCase()))} (pooled for anonymity).`
        : '',
    ].filter(Boolean);
    return {
      text: def?.items.find((i) => i.id === item.id)?.rater ?? item.id,
      cells: columns.map((g) => {
        const stats = shown(item.groups[g]);
        const result = item.groups[g];
        return stats
          ? { text: score(stats.mean), shown: true }
          : {
              text: suppressedText(
                g,
                result?.suppressed ? result.k : k(g),
                result?.suppressed ? result.reason : undefined,
              ),
              shown: false,
            };
      }),
      naNote: notes.join(' '),
    };
  });
  const allOthers = shown(c.groups.all_others);
  const flags: CompetencyView['flags'] = [];
  const so = profile.selfOther.competencies;
  if (so.blindSpots.rank.includes(c.id) || so.blindSpots.gap.includes(c.id))
    flags.push({ text: 'Blind spot', kind: 'blind-spot' });
  if (so.hiddenStrengths.rank.includes(c.id) || so.hiddenStrengths.gap.includes(c.id))
    flags.push({ text: 'Hidden strength', kind: 'hidden-strength' });
  if (c.agreement.all_others?.lowConsensus) flags.push({ text: 'Raters disagree', kind: 'disagree' });
  return {
    id: c.id,
    anchor: anchorOf(c.id),
    title: c.title,
    description: def?.description ?? '',
    headline: allOthers
      ? score(allOthers.mean)
      : suppressedText('all_others', profile.anonymity.k.all_others),
    headlineShown: allOthers !== null,
    flags,
    groups,
    itemColumns: columns.map((g) => GROUP_LABEL[g]),
    items,
    hiddenColumnsNote:
      hidden.length > 0
        ? `Not shown: ${listWords(hidden.map((g) => `${GROUP_LABEL[g].toLowerCase()} (${suppressedText(g, k(g))})`))}.`
        : '',
  };
}

const chartScore = (result: GroupResult | undefined, group: GroupKey, k: number): ChartScore => {
  const stats = shown(result);
  return stats
    ? { value: stats.mean }
    : {
        suppressed: suppressedText(
          group,
          result?.suppressed ? result.k : k,
          result?.suppressed ? result.reason : undefined,
        ),
      };
};

function changeView(
  input: NonNullable<LeaderReportInput['change']>,
  profile: Profile | null,
): NonNullable<LeaderReportView['change']> {
  const { report } = input;
  const kAll = profile?.anonymity.k.all_others ?? 4;
  const groupColumns = RELATIONSHIPS.filter((g) => report.competencies.some((c) => c.groups[g].available));
  const rows: ChangeRowView[] = report.competencies.map((c) => {
    const all = c.allOthers;
    if (!all.available) {
      return {
        title: c.title,
        shown: false,
        suppressedText: `not comparable: ${fewerThan(kAll)} from all others in one of the cycles`,
        baseline: '',
        followUp: '',
        delta: '',
        verdict: '',
        verdictKind: 'none',
        mdc: '',
        groupsNote: '',
      };
    }
    const verdict = verdictWords(all);
    return {
      title: c.title,
      shown: true,
      suppressedText: '',
      baseline: score(all.baseline),
      followUp: score(all.followUp),
      delta: signed(all.delta),
      verdict: verdict.text,
      verdictKind: verdict.kind,
      mdc: all.reliableChange ? `±${all.reliableChange.mdc95.toFixed(2)}` : '—',
      groupsNote: listWords(all.groups.map((g) => GROUP_LABEL[g].toLowerCase())),
    };
  });
  const groupRows = report.competencies.map((c) => ({
    title: c.title,
    cells: groupColumns.map((g): ChangeCellView => {
      const change: GroupChange | ChangeUnavailable = c.groups[g];
      if (!change.available) {
        return { shown: false, text: 'not comparable', delta: '', verdict: '', verdictKind: 'none' };
      }
      // Only reliable changes are marked here, so the few that matter stand out.
      const verdict = verdictWords(change);
      const reliable = verdict.kind === 'up' || verdict.kind === 'down';
      return {
        shown: true,
        text: `${score(change.baseline)} → ${score(change.followUp)}`,
        delta: signed(change.delta),
        verdict: reliable ? verdict.text : '',
        verdictKind: reliable ? verdict.kind : 'none',
      };
    }),
  }));
  const overlap = (['manager', 'peer', 'direct_report', 'other'] as const).flatMap((g) => {
    const n = report.overlap[g];
    return n === undefined ? [] : [`${GROUP_LABEL[g]}: ${plural(n, 'rater')}`];
  });
  const warnings = publicMixWarnings(report.mixWarnings).map(mixWarningText);
  const notComparable = new Map<string, string[]>();
  for (const c of report.competencies) {
    for (const g of c.notComparable) notComparable.set(g, [...(notComparable.get(g) ?? []), c.title]);
  }
  for (const [g, titles] of notComparable) {
    const label = GROUP_LABEL[g as GroupKey];
    warnings.push(
      titles.length === report.competencies.length
        ? `${label} could be shown in only one of the two cycles, so they are left out of the all-others comparison.`
        : `${label} could be shown in only one of the two cycles for ${listWords(titles)}, so they are left out of the all-others comparison there.`,
    );
  }
  const changedOther = report.competencies.filter((c) => c.otherCompositionChanged).map((c) => c.title);
  if (changedOther.length > 0) {
    warnings.push(
      `“Others” pooled different groups in the two cycles for ${listWords(changedOther)}; compare those with care.`,
    );
  }
  return {
    baselineCycleName: input.baselineCycleName,
    rows,
    groupColumns: groupColumns.map((g) => GROUP_LABEL[g]),
    groupRows,
    overlap,
    overlapEmpty: overlap.length === 0,
    warnings,
  };
}

function statusOf(input: LeaderReportInput): LeaderReportView['status'] {
  const { releasedVersion } = input.subject;
  if (input.audience === 'leader') {
    return {
      kind: 'leader',
      text: 'This report was released to you by your coach. It does not change after release.',
    };
  }
  if (releasedVersion === null) {
    return {
      kind: 'draft',
      text: `Not released to ${input.subject.leaderName} yet. Only you and HR can see it.`,
    };
  }
  if (input.latestVersion !== null && input.latestVersion > releasedVersion) {
    return {
      kind: 'behind',
      text:
        `${input.subject.leaderName} sees version ${releasedVersion}. Version ${input.latestVersion}, shown here, ` +
        'includes later responses and is not released yet.',
    };
  }
  return { kind: 'released', text: `Released to ${input.subject.leaderName} (version ${releasedVersion}).` };
}

function emptyTextOf(publication: ReportPublication | null): string {
  if (publication?.state === 'withheld') {
    const closes = day(publication.closesAt);
    return (
      `This report is published when the cycle closes${closes ? ` on ${closes}` : ''}, or earlier if the ` +
      'coach or HR releases it. Numbers are not shown while responses are still coming in, because each new ' +
      'response would show up as a change and its ratings could be worked out. Until then only how many ' +
      'people responded is shown.'
    );
  }
  if (publication?.state === 'updating') {
    return (
      'This report is being brought up to date with the latest responses. Its results appear here in a few ' +
      'moments, once they cover every response.'
    );
  }
  return (
    'There are no results yet: no responses have been aggregated for this leader. Results appear here a ' +
    'few moments after the cycle closes or the report is released.'
  );
}

function publicationNotes(publication: ReportPublication | null): string[] {
  if (publication?.state !== 'shown') return [];
  const notes: string[] = [];
  if (publication.heldBack && publication.heldBack.length > 0) {
    const needs = publication.heldBack.map(
      (p) => `${GROUP_LABEL[p.group].toLowerCase()} at least ${p.required}`,
    );
    notes.push(
      'Later responses are held back: a newer version is shown only once every group that changed has ' +
        `gained enough responses (${listWords(needs)}), so no one’s ratings can be worked out by comparing ` +
        'two versions.',
    );
  }
  if (publication.updating) {
    notes.push(
      'Later responses are being added to this report; the version shown stays until the update covers ' +
        'every response.',
    );
  }
  return notes;
}

/** Builds exactly what the leader report template prints. Pure; numbers from suppressed groups never appear. */
export function leaderReportView(input: LeaderReportInput): LeaderReportView {
  const { subject, instrument } = input;
  const profile = input.profile?.data ?? null;
  const base = {
    pageTitle: `${subject.leaderName} · ${subject.cycleName}`,
    subjectId: subject.id,
    leaderName: subject.leaderName,
    cycleName: subject.cycleName,
    programmeName: subject.programmeName,
    coachLine: subject.coachName ? `Coach: ${subject.coachName}` : '',
    versionLine: input.profile
      ? `Version ${input.profile.version}, computed ${day(input.profile.computedAt)}`
      : '',
    status: statusOf(input),
    notice: input.notice,
    // Nothing to release when the leader already has the version shown.
    canRelease:
      input.canRelease &&
      input.profile !== null &&
      input.audience === 'staff' &&
      subject.releasedVersion !== input.profile.version,
    releaseLabel:
      subject.releasedVersion === null
        ? `Release this report to ${subject.leaderName}`
        : `Release the version shown to ${subject.leaderName}`,
    releaseAction: `/reports/${subject.id}/release`,
    otherReports: input.otherReports,
    changeNote: input.changeNote ?? '',
    publicationNotes: publicationNotes(input.publication ?? null),
  };
  if (!profile) {
    const withheld = input.publication?.state === 'withheld' ? input.publication : null;
    const counts = withheld?.participation ?? null;
    return {
      ...base,
      hasProfile: false,
      emptyText: emptyTextOf(input.publication ?? null),
      summary: {
        participation: counts
          ? RELATIONSHIPS.map((g) => ({ label: GROUP_LABEL[g], ...participationText(g, counts[g]) }))
          : [],
        participationNotes: counts
          ? [
              `Groups with ${fewerThan(counts.peer.k)} are not counted on their own, so no one’s response can be picked out.`,
            ]
          : [],
        strongest: [],
        weakest: [],
        gaps: [],
        gapsEmpty: '',
      },
      chart: { svg: '', legend: '', table: '' },
      scaleNote: '',
      selfOther: {
        blindSpots: [],
        blindSpotItems: [],
        hiddenStrengths: [],
        hiddenStrengthItems: [],
        blindSpotsEmpty: '',
        hiddenStrengthsEmpty: '',
      },
      competencies: [],
      topItems: [],
      bottomItems: [],
      comments: [],
      change: null,
    };
  }

  const participation = RELATIONSHIPS.map((g) => ({
    label: GROUP_LABEL[g],
    ...participationText(g, profile.participation[g]),
  }));
  const merged = new Set(
    profile.competencies.flatMap((c) => {
      const other = shown(c.groups.other);
      return other?.merged ?? [];
    }),
  );
  const participationNotes: string[] = [];
  if (merged.size > 0) {
    participationNotes.push(
      `Ratings of ${listWords([...merged].map((g) => GROUP_LABEL[g].toLowerCase()))} are pooled into “Others” where that protects their anonymity.`,
    );
  }
  participationNotes.push(
    `Groups with ${fewerThan(profile.anonymity.k.peer)} are not shown on their own, so no one’s ratings can be picked out.`,
  );

  const { strongest, weakest } = strongestAndWeakest(profile.competencies);
  const allOthersOf = new Map(profile.competencies.map((c) => [c.id, c]));
  const rankView = (r: Ranked) => ({ title: r.title, anchor: anchorOf(r.id), score: score(r.mean) });
  const gaps = largestGaps(profile).map((g) => {
    const c = allOthersOf.get(g.id);
    const self = shown(c?.groups.self);
    const others = shown(c?.groups.all_others);
    return {
      title: c?.title ?? g.id,
      anchor: anchorOf(g.id),
      direction: g.gap > 0 ? ('above' as const) : ('below' as const),
      text:
        `Self ${self ? score(self.mean) : '–'}, all others ${others ? score(others.mean) : '–'}: ` +
        `the self-rating is ${Math.abs(g.gap).toFixed(2)} ${g.gap > 0 ? 'above' : 'below'} others’.`,
    };
  });

  const kAll = profile.anonymity.k.all_others;
  const chart = profileChart({
    id: `profile-${subject.id}`,
    scale: profile.scale,
    rows: profile.competencies.map((c) => ({
      title: c.title,
      allOthers: chartScore(c.groups.all_others, 'all_others', kAll),
      self: chartScore(c.groups.self, 'self', 1),
      manager: chartScore(c.groups.manager, 'manager', 1),
    })),
  });

  const itemInfo = new Map(
    instrument.competencies.flatMap((c) =>
      c.items.map((i) => [i.id, { text: i.rater, competency: c.title }] as const),
    ),
  );
  const itemView = (r: Profile['topItems'][number]) => ({
    text: itemInfo.get(r.itemId)?.text ?? r.itemId,
    competency: itemInfo.get(r.itemId)?.competency ?? r.competencyId,
    score: score(r.mean),
    n: plural(r.n, 'rater'),
  });

  const questions = new Map(instrument.questions.map((q) => [q.id, q.rater]));
  return {
    ...base,
    hasProfile: true,
    emptyText: '',
    summary: {
      participation,
      participationNotes,
      strongest: strongest.map(rankView),
      weakest: weakest.map(rankView),
      gaps,
      gapsEmpty: 'Self-ratings are within a quarter point of others’ on every competency.',
    },
    chart,
    scaleNote: scaleNote(profile.scale, instrument),
    selfOther: selfOtherView(profile, instrument),
    competencies: profile.competencies.map((c) => competencyView(c, profile, instrument)),
    topItems: profile.topItems.map(itemView),
    bottomItems: profile.bottomItems.map(itemView),
    comments: profile.comments.map((q) => ({
      question: questions.get(q.questionId) ?? q.questionId,
      comments: q.comments.map((c) => ({ text: c.text, label: GROUP_LABEL[c.group] })),
      empty: q.comments.length === 0,
    })),
    change: input.change ? changeView(input.change, profile) : null,
  };
}
