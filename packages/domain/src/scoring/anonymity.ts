import { DomainError, ValidationError } from '../errors.ts';
import {
  ANONYMOUS_GROUPS,
  RELATIONSHIPS,
  type AnonymityRules,
  type AnonymousGroup,
  type GroupKey,
  type Relationship,
} from './types.ts';

const MIN_ANONYMOUS_K = 3;
const MIN_ALL_OTHERS_K = 4;
const MIN_DISTRIBUTION_N = 4;

/**
 * Checks survey-specific anonymity rules against the floors of METHODS §2 (anonymous groups >= 3,
 * all-others >= 4, distributions from n >= 4) and returns them unchanged; throws a ValidationError listing
 * every bad key otherwise.
 */
export function validateAnonymityRules(rules: AnonymityRules): AnonymityRules {
  const problems: { path: string; message: string }[] = [];
  const check = (path: string, value: number, floor: number) => {
    if (!Number.isInteger(value) || value < floor) {
      problems.push({ path, message: `must be a whole number >= ${floor}, got ${value}` });
    }
  };
  for (const group of ANONYMOUS_GROUPS) check(`k.${group}`, rules.k[group], MIN_ANONYMOUS_K);
  check('k.all_others', rules.k.all_others, MIN_ALL_OTHERS_K);
  check('distributionMinN', rules.distributionMinN, MIN_DISTRIBUTION_N);
  if (problems.length > 0) {
    throw new ValidationError(
      `anonymity rules below the allowed minimum: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
      problems,
    );
  }
  return rules;
}

/** True for the groups whose members are promised anonymity. */
export function isAnonymous(relationship: Relationship): relationship is AnonymousGroup {
  return (ANONYMOUS_GROUPS as readonly Relationship[]).includes(relationship);
}

/** The smallest n at which a group is shown: k for anonymous groups and all-others, 1 for self and manager. */
export function thresholdFor(group: GroupKey, rules: AnonymityRules): number {
  if (group === 'self' || group === 'manager') return 1;
  return rules.k[group];
}

/** A rater as the anonymity checks see one: an opaque id and a relationship. */
export interface RaterRef {
  id: string;
  relationship: Relationship;
}

/**
 * Whether the anonymous raters of a set may have their sum (or, with `minimum`, their distribution)
 * revealed. Self and manager are not anonymous and do not count. A set is safe when it has no anonymous
 * rater, or every anonymous group in it has at least its own k (and `minimum`), or it pools several
 * groups and reaches the strictest of k.other, the k of each group in it, and `minimum`: a pool of groups
 * is what "other" becomes after merging, and no member may be protected by less than its own group's k.
 */
export function isSafeAnonymousSet(raters: readonly RaterRef[], rules: AnonymityRules, minimum = 0): boolean {
  const counts = new Map<AnonymousGroup, number>();
  for (const rater of raters) {
    if (isAnonymous(rater.relationship)) {
      counts.set(rater.relationship, (counts.get(rater.relationship) ?? 0) + 1);
    }
  }
  if (counts.size === 0) return true;
  const partsReachK = [...counts].every(([group, count]) => count >= Math.max(rules.k[group], minimum));
  if (partsReachK) return true;
  if (counts.size < 2) return false;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const required = Math.max(rules.k.other, minimum, ...[...counts.keys()].map((group) => rules.k[group]));
  return total >= required;
}

/** One published aggregate, with the raters it was computed over (ids never leave the scoring code). */
export interface PublishedRaterSet {
  label: string;
  raters: readonly RaterRef[];
}

/** A combination of published aggregates that would isolate too few anonymous raters. */
export interface DifferencingViolation {
  /**
   * `nested`: A within B and B \ A is too small (the METHODS §2 rule). `cell`: raters that appear in
   * exactly the same published sets form a cell; linear combinations of published sums can isolate any
   * cell, so each must be safe on its own. This also catches non-nested overlaps.
   */
  kind: 'nested' | 'cell';
  /** Labels of the aggregates involved (for a cell: those that contain it). */
  labels: string[];
  /** Anonymous raters isolated. */
  anonymousRaters: number;
}

/**
 * Every way a set of published aggregates of one quantity (one item, or one competency) could be differenced
 * to isolate fewer anonymous raters than their k. Pass `minimum` (distributionMinN) when checking
 * the sets whose distributions or ranges are published. Self and manager count as known.
 */
export function findDifferencingViolations(
  published: readonly PublishedRaterSet[],
  rules: AnonymityRules,
  options: { minimum?: number } = {},
): DifferencingViolation[] {
  const minimum = options.minimum ?? 0;
  const sets = published.map((set) => ({
    label: set.label,
    anonymous: new Map(set.raters.filter((r) => isAnonymous(r.relationship)).map((r) => [r.id, r])),
  }));
  const violations: DifferencingViolation[] = [];

  for (const a of sets) {
    for (const b of sets) {
      if (a === b || a.anonymous.size >= b.anonymous.size) continue;
      if (![...a.anonymous.keys()].every((id) => b.anonymous.has(id))) continue;
      const difference = [...b.anonymous.values()].filter((r) => !a.anonymous.has(r.id));
      if (!isSafeAnonymousSet(difference, rules, minimum)) {
        violations.push({ kind: 'nested', labels: [a.label, b.label], anonymousRaters: difference.length });
      }
    }
  }

  const cells = new Map<string, { raters: RaterRef[]; labels: string[] }>();
  const raters = new Map<string, RaterRef>();
  for (const set of sets) for (const [id, rater] of set.anonymous) raters.set(id, rater);
  for (const [id, rater] of raters) {
    const containing = sets.filter((set) => set.anonymous.has(id));
    const signature = containing.map((set) => sets.indexOf(set)).join(',');
    const cell = cells.get(signature) ?? { raters: [], labels: containing.map((set) => set.label) };
    cell.raters.push(rater);
    cells.set(signature, cell);
  }
  for (const cell of cells.values()) {
    if (!isSafeAnonymousSet(cell.raters, rules, minimum)) {
      violations.push({ kind: 'cell', labels: cell.labels, anonymousRaters: cell.raters.length });
    }
  }
  return violations;
}

/** Thrown when published aggregates could be differenced to reveal a group under k. */
export class DifferencingError extends DomainError {
  constructor(readonly violations: readonly DifferencingViolation[]) {
    super(
      `published aggregates reveal groups under k: ${violations
        .map((v) => `${v.kind} [${v.labels.join(', ')}] isolates ${v.anonymousRaters}`)
        .join('; ')}`,
    );
  }
}

/** Throws a DifferencingError when {@link findDifferencingViolations} finds anything. */
export function assertNoDifferencing(
  published: readonly PublishedRaterSet[],
  rules: AnonymityRules,
  options: { minimum?: number } = {},
): void {
  const violations = findDifferencingViolations(published, rules, options);
  if (violations.length > 0) throw new DifferencingError(violations);
}

/** Responses per relationship at a release. */
export type GroupCounts = Partial<Record<Relationship, number>>;

/** Why a re-release is refused: a group changed by less than it must gain. */
export interface RereleaseProblem {
  group: GroupKey;
  gained: number;
  required: number;
}

/**
 * Whether a report may be published again with more responses (METHODS §2, late responses): every group
 * whose count changed must have gained at least its k. Strict reading: self and manager are not anonymous,
 * so a lone late self or manager response needs +1 for its own group, but all-others (everyone but self) is
 * a group too, so a late manager response also changes all-others and needs +k.all_others there. A count
 * that went down (a withdrawn response) is never allowed, as the removed rating would be revealed.
 */
export function canRerelease(
  previousCounts: GroupCounts,
  nextCounts: GroupCounts,
  rules: AnonymityRules,
): { allowed: boolean; problems: RereleaseProblem[] } {
  const problems: RereleaseProblem[] = [];
  const check = (group: GroupKey, before: number, after: number) => {
    const required = thresholdFor(group, rules);
    const gained = after - before;
    if (gained !== 0 && gained < required) problems.push({ group, gained, required });
  };
  let othersBefore = 0;
  let othersAfter = 0;
  for (const relationship of RELATIONSHIPS) {
    const before = previousCounts[relationship] ?? 0;
    const after = nextCounts[relationship] ?? 0;
    check(relationship, before, after);
    if (relationship !== 'self') {
      othersBefore += before;
      othersAfter += after;
    }
  }
  check('all_others', othersBefore, othersAfter);
  return { allowed: problems.length === 0, problems };
}
