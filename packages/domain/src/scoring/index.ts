export * from './types.ts';
export {
  DifferencingError,
  assertNoDifferencing,
  canRerelease,
  findDifferencingViolations,
  isAnonymous,
  isSafeAnonymousSet,
  thresholdFor,
  validateAnonymityRules,
  type DifferencingViolation,
  type GroupCounts,
  type PublishedRaterSet,
  type RaterRef,
  type RereleaseProblem,
} from './anonymity.ts';
export { findRereleaseViolations, type RereleaseViolation } from './rerelease.ts';
export {
  answeredRating,
  assertValidResponses,
  choseNotApplicable,
  competencyScores,
  raterCompetencyScore,
} from './competency-scores.ts';
export {
  NA_FLAG_SHARE,
  describeGroup,
  distribution,
  fixedWeightMean,
  raterWeightedMean,
  sampleSdOrNull,
  type DescribeGroupOptions,
} from './group-stats.ts';
export { buildComments, commentLabels, type PublishedComment, type QuestionComments } from './comments.ts';
export { createSeededRandom, seededShuffle } from './seeded-random.ts';
export {
  LOW_CONSENSUS_RWG,
  LOW_CONSENSUS_SD,
  agreementBand,
  icc,
  isLowConsensus,
  kRaterReliability,
  rwg,
  rwgFromVariance,
  rwgJ,
  uniformNullVariance,
  type AgreementBand,
  type IccResult,
} from './rater-agreement.ts';
export {
  cohortAgreement,
  cohortAgreementFromScores,
  selfOtherScores,
  type AgreementCounts,
  type SelfOtherScores,
  type AgreementSummary,
  type CohortAgreement,
} from './cohort-agreement.ts';
export { alphaLabel, competencyItemMatrix, cronbachAlpha, type CronbachAlphaResult } from './reliability.ts';
export {
  DEFAULT_SELF_OTHER,
  MIN_LEADERS_FOR_CATEGORIES,
  agreementCategories,
  midPercentiles,
  selfOtherAnalysis,
  selfOtherGap,
  type AgreementCategories,
  type AgreementCategory,
  type LeaderSelfOther,
  type SelfOtherFlags,
  type SelfOtherOptions,
  type SelfOtherPair,
  type SelfOtherResult,
} from './self-other.ts';
export {
  AGREEMENT_GROUPS,
  buildProfile,
  shownStats,
  type AgreementGroup,
  type BuildProfileInput,
  type CompetencyProfile,
  type GroupAgreement,
  type GroupParticipation,
  type ItemProfile,
  type Profile,
  type RankedItem,
} from './profile.ts';
export {
  DEFAULT_MIX_SHARE_THRESHOLD,
  OTHER_GROUPS,
  RCI_CRITICAL,
  buildChange,
  fixedWeightAllOthers,
  publicMixWarnings,
  reliableChange,
  welchZ,
  type BuildChangeInput,
  type ChangeReport,
  type ChangeUnavailable,
  type ChangeVerdict,
  type CompetencyChange,
  type FixedWeightPair,
  type GroupChange,
  type MixWarning,
  type OtherGroup,
  type ReliableChange,
} from './change.ts';
export {
  LARGE_EFFECT_WARNING,
  Z_975,
  buildCohort,
  createCohortAccumulator,
  pairedChange,
  wilson,
  type BuildCohortInput,
  type CohortAccumulator,
  type CohortCompetency,
  type CohortLeader,
  type CohortReport,
  type CohortSuppressed,
  type PairedChange,
  type ReliableShare,
} from './cohort.ts';
export { regularizedIncompleteBeta, tCdf, tCritical, tTwoSidedP } from './t-distribution.ts';
