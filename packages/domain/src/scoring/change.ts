import type { Profile } from './profile.ts';
import { fixedWeightMean } from './group-stats.ts';
import {
  ANONYMOUS_GROUPS,
  RELATIONSHIPS,
  type AnonymityRules,
  type GroupResults,
  type Relationship,
  type ShownGroup,
} from './types.ts';

/** |RCI| above this is a reliable change (Jacobson & Truax 1991). */
export const RCI_CRITICAL = 1.96;

/** Verdict of a reliable change index. */
export type ChangeVerdict = 'improved' | 'deteriorated' | 'no_reliable_change';

/** Jacobson-Truax reliable change of one score. */
export interface ReliableChange {
  sem: number;
  sdiff: number;
  /** Minimal detectable change at 95%: 1.96 Sdiff. */
  mdc95: number;
  rci: number;
  verdict: ChangeVerdict;
}

/**
 * Reliable Change Index (METHODS §6): SEM = SD1 sqrt(1 - rxx), Sdiff = sqrt(2) SEM, RCI = delta / Sdiff;
 * |RCI| > 1.96 is reliable improvement or deterioration (higher scores are better).
 */
export function reliableChange(input: { delta: number; sd1: number; rxx: number }): ReliableChange {
  const { delta, sd1, rxx } = input;
  if (!(sd1 > 0 && Number.isFinite(sd1))) throw new RangeError('sd1 must be a positive number');
  if (!(rxx >= 0 && rxx < 1)) throw new RangeError('rxx must be in [0, 1)');
  if (!Number.isFinite(delta)) throw new RangeError('delta must be a finite number');
  const sem = sd1 * Math.sqrt(1 - rxx);
  const sdiff = Math.SQRT2 * sem;
  const rci = delta / sdiff;
  let verdict: ChangeVerdict = 'no_reliable_change';
  if (rci > RCI_CRITICAL) verdict = 'improved';
  else if (rci < -RCI_CRITICAL) verdict = 'deteriorated';
  return { sem, sdiff, mdc95: RCI_CRITICAL * sdiff, rci, verdict };
}

/**
 * Welch-type z for one leader's change with different raters at T1 and T2 (METHODS §6):
 * delta / sqrt(s1^2/k1 + s2^2/k2). Null when the standard error is 0 or a group has no raters.
 */
export function welchZ(delta: number, s1: number, k1: number, s2: number, k2: number): number | null {
  if (!(k1 >= 1 && k2 >= 1)) return null;
  const se = Math.sqrt((s1 * s1) / k1 + (s2 * s2) / k2);
  return se > 0 && Number.isFinite(se) ? delta / se : null;
}

/** Groups that enter the fixed-weight all-others (self is not an "other"). */
export const OTHER_GROUPS = ['manager', ...ANONYMOUS_GROUPS] as const;
/** A relationship other than self. */
export type OtherGroup = (typeof OTHER_GROUPS)[number];

const shown = (results: GroupResults, group: keyof GroupResults): ShownGroup | null => {
  const result = results[group];
  return result.suppressed ? null : result;
};

/** All-others with fixed group weights over the groups shown in both cycles. */
export interface FixedWeightPair {
  groups: OtherGroup[];
  baseline: number;
  followUp: number;
}

/**
 * Fixed-weight all-others for change (METHODS §1, §6): the mean of group means over the groups present and
 * shown in both cycles, so a change in the group mix alone does not move it. Null when no group qualifies or
 * when, in either cycle, those groups hold fewer than k.all_others raters: no composite is shown under that k.
 */
export function fixedWeightAllOthers(
  baseline: GroupResults,
  followUp: GroupResults,
  rules: Pick<AnonymityRules, 'k'>,
): FixedWeightPair | null {
  const groups = OTHER_GROUPS.filter((g) => shown(baseline, g) && shown(followUp, g));
  if (groups.length === 0) return null;
  const raters = (results: GroupResults) => groups.reduce((n, g) => n + (shown(results, g)?.n ?? 0), 0);
  if (raters(baseline) < rules.k.all_others || raters(followUp) < rules.k.all_others) return null;
  return {
    groups,
    baseline: fixedWeightMean(groups.map((g) => shown(baseline, g)?.mean ?? Number.NaN)),
    followUp: fixedWeightMean(groups.map((g) => shown(followUp, g)?.mean ?? Number.NaN)),
  };
}

/** Change of one group's (or all-others') competency score between two cycles. */
export interface GroupChange {
  available: true;
  baseline: number;
  followUp: number;
  delta: number;
  /** Null when no SD1 or rxx is configured for the competency. */
  reliableChange: ReliableChange | null;
  /** Null when an SD is missing (n < 2) in either cycle. */
  welchZ: number | null;
}

/** No change is given where the group was suppressed (or absent) in either cycle. */
export interface ChangeUnavailable {
  available: false;
  reason: 'suppressed';
}

/** Change of one competency. */
export interface CompetencyChange {
  id: string;
  title: string;
  groups: Record<Relationship, GroupChange | ChangeUnavailable>;
  /** Fixed-weight all-others, with the groups it averages. */
  allOthers: (GroupChange & { groups: OtherGroup[] }) | ChangeUnavailable;
  /** Groups shown in only one of the two cycles: left out of the fixed-weight all-others. */
  notComparable: OtherGroup[];
  /** "other" pooled different small groups in the two cycles, so it is not the same set of people. */
  otherCompositionChanged: boolean;
}

/**
 * A change in who rated between the cycles (METHODS §6: warn when the group mix changed). A warning names a
 * group, or gives its shares, only when that says nothing the reports do not show anyway (`countsShown`): the
 * group reached its k in both cycles for shares, and its count is shown in both cycles (reached k, or a k of
 * 1 where "no response" is shown) for "added"/"removed". Anything else is the general `mix_changed`, so a
 * share or a 0 versus 1 never gives away the size of a group the report suppresses.
 */
export type MixWarning =
  | { type: 'group_added' | 'group_removed'; group: OtherGroup; countsShown?: true }
  | {
      type: 'share_changed';
      group: OtherGroup;
      baselineShare: number;
      followUpShare: number;
      countsShown?: true;
    }
  | { type: 'mix_changed' };

/**
 * The mix warnings that may be shown: those marked `countsShown` as they are, any other (results stored
 * before the marker existed) folded into one general `mix_changed`.
 */
export function publicMixWarnings(warnings: readonly MixWarning[]): MixWarning[] {
  const out: MixWarning[] = [];
  let general = false;
  for (const warning of warnings) {
    if (warning.type !== 'mix_changed' && warning.countsShown === true) out.push(warning);
    else general = true;
  }
  if (general) out.push({ type: 'mix_changed' });
  return out;
}

/** Change between a baseline and a follow-up profile of the same leader. */
export interface ChangeReport {
  competencies: CompetencyChange[];
  /** Raters who took part in both cycles per group, as passed in (from invitations, never from responses). */
  overlap: Partial<Record<OtherGroup, number>>;
  mixWarnings: MixWarning[];
}

/** Inputs of {@link buildChange}. */
export interface BuildChangeInput {
  baseline: Profile;
  followUp: Profile;
  /** Between-leader SD of each competency at baseline (cohort or norm). */
  sd1ByCompetency: Readonly<Record<string, number>>;
  /** Reliability (e.g. Cronbach's alpha) of each competency. */
  rxxByCompetency: Readonly<Record<string, number>>;
  /** Raters who took part in both cycles, per group, counted from invitations. */
  overlap?: Partial<Record<OtherGroup, number>>;
  /**
   * A group's share of the non-self raters moving by more than this (absolute) raises a warning; default .20.
   * With the usual 8-12 raters one person is 8-12 points of share, so .20 flags a shift of about two raters
   * or more rather than the noise of one late or missing response.
   */
  mixShareThreshold?: number;
}

/** Default of {@link BuildChangeInput.mixShareThreshold}. */
export const DEFAULT_MIX_SHARE_THRESHOLD = 0.2;

const lookup = (record: Readonly<Record<string, number>>, key: string): number | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined;

function stricterRules(a: AnonymityRules, b: AnonymityRules): Pick<AnonymityRules, 'k'> {
  return {
    k: {
      peer: Math.max(a.k.peer, b.k.peer),
      direct_report: Math.max(a.k.direct_report, b.k.direct_report),
      other: Math.max(a.k.other, b.k.other),
      all_others: Math.max(a.k.all_others, b.k.all_others),
    },
  };
}

function mixWarnings(baseline: Profile, followUp: Profile, threshold: number): MixWarning[] {
  const warnings: MixWarning[] = [];
  const total = (p: Profile) => OTHER_GROUPS.reduce((n, g) => n + p.participation[g].responses, 0);
  const totals = [total(baseline), total(followUp)] as const;
  // The report shows the group's count: it reached k, or its k is 1 and "no response" is shown for 0.
  const countShown = (p: Profile, group: OtherGroup) =>
    p.participation[group].shown || p.participation[group].k <= 1;
  let general = false;
  for (const group of OTHER_GROUPS) {
    const before = baseline.participation[group].responses;
    const after = followUp.participation[group].responses;
    if ((before === 0) !== (after === 0)) {
      if (countShown(baseline, group) && countShown(followUp, group)) {
        warnings.push({ type: before === 0 ? 'group_added' : 'group_removed', group, countsShown: true });
      } else general = true;
    } else if (before > 0 && after > 0) {
      const baselineShare = before / totals[0];
      const followUpShare = after / totals[1];
      if (Math.abs(followUpShare - baselineShare) > threshold) {
        if (baseline.participation[group].shown && followUp.participation[group].shown) {
          warnings.push({ type: 'share_changed', group, baselineShare, followUpShare, countsShown: true });
        } else general = true;
      }
    }
  }
  if (general) warnings.push({ type: 'mix_changed' });
  return warnings;
}

/**
 * Per competency and group, the change from baseline to follow-up (METHODS §6): delta, reliable change and
 * Welch z for every group shown in both cycles, and for all-others with fixed group weights. Works only from
 * the two published profiles, so nothing suppressed in either cycle can enter. Welch z of all-others uses the
 * rater-weighted all-others SD and n of each cycle (the published spread of that composite).
 */
export function buildChange(input: BuildChangeInput): ChangeReport {
  const { baseline, followUp } = input;
  const rules = stricterRules(baseline.anonymity, followUp.anonymity);
  const threshold = input.mixShareThreshold ?? DEFAULT_MIX_SHARE_THRESHOLD;

  const competencies = followUp.competencies.flatMap((after): CompetencyChange[] => {
    const before = baseline.competencies.find((c) => c.id === after.id);
    if (!before) return [];
    const sd1 = lookup(input.sd1ByCompetency, after.id);
    const rxx = lookup(input.rxxByCompetency, after.id);
    const change = (b: ShownGroup | null, a: ShownGroup | null, x1: number, x2: number): GroupChange => {
      const delta = x2 - x1;
      return {
        available: true,
        baseline: x1,
        followUp: x2,
        delta,
        reliableChange: sd1 !== undefined && rxx !== undefined ? reliableChange({ delta, sd1, rxx }) : null,
        welchZ: b && a && b.sd !== null && a.sd !== null ? welchZ(delta, b.sd, b.n, a.sd, a.n) : null,
      };
    };

    const groups = {} as CompetencyChange['groups'];
    for (const relationship of RELATIONSHIPS) {
      const b = shown(before.groups, relationship);
      const a = shown(after.groups, relationship);
      groups[relationship] =
        b && a ? change(b, a, b.mean, a.mean) : { available: false, reason: 'suppressed' };
    }
    const fixed = fixedWeightAllOthers(before.groups, after.groups, rules);
    const otherBefore = shown(before.groups, 'other');
    const otherAfter = shown(after.groups, 'other');
    return [
      {
        id: after.id,
        title: after.title,
        groups,
        allOthers: fixed
          ? {
              ...change(
                shown(before.groups, 'all_others'),
                shown(after.groups, 'all_others'),
                fixed.baseline,
                fixed.followUp,
              ),
              groups: fixed.groups,
            }
          : { available: false, reason: 'suppressed' },
        notComparable: OTHER_GROUPS.filter((g) => !shown(before.groups, g) !== !shown(after.groups, g)),
        otherCompositionChanged:
          otherBefore !== null &&
          otherAfter !== null &&
          (otherBefore.merged ?? []).join() !== (otherAfter.merged ?? []).join(),
      },
    ];
  });

  return {
    competencies,
    overlap: { ...input.overlap },
    mixWarnings: mixWarnings(baseline, followUp, threshold),
  };
}
