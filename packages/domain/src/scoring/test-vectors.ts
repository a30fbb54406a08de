import { readFileSync } from 'node:fs';
import path from 'node:path';

// Test-only helper: the worked examples of METHODS live beside the repository, in ../shared/methods.
// The repository root is four levels up from this folder (packages/domain/src/scoring).
const VECTORS_PATH = path.resolve(import.meta.dirname, '../../../..', '../shared/methods/vectors.json');

/** The parts of vectors.json the scoring tests assert. */
export interface MethodVectors {
  cronbach_alpha: {
    items_by_rater: number[][];
    expected: { item_variances: number[]; total_variance: number; alpha: number };
  };
  rci: {
    inputs: { sd1: number; rxx: number; leaders: { x1: number; x2: number }[] };
    expected: { sem: number; sdiff: number; mdc95: number; rci: number[]; reliable: boolean[] };
  };
  cohort_change: {
    inputs: { t1: number[]; t2: number[]; rxx: number };
    expected: {
      mean_delta: number;
      sd_delta: number;
      t: number;
      df: number;
      p_two_sided: number;
      t_crit_975_df7: number;
      ci95: [number, number];
      d_z: number;
      hedges_J: number;
      g_z: number;
      s1: number;
      s2: number;
      r12: number;
      d_av: number;
      g_av: number;
      d_rm: number;
      rci_sdiff: number;
      rci: number[];
      reliable_improvement_share: number;
      wilson95: [number, number];
      simple_statistics_tTest_would_say: number;
    };
  };
  rwg: {
    inputs: { ratings: number[]; items_J: number; mean_item_variance: number };
    expected: { rwg: number; rwg_j: number };
  };
  differencing: {
    inputs: {
      all_others: { n: number; mean: number };
      peers: { n: number; mean: number };
      direct_reports: { n: number };
    };
    expected: { recovered_direct_report_rating: number };
  };
}

/** Reads vectors.json afresh (tests must not share mutable state). */
export function loadVectors(): MethodVectors {
  return JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as MethodVectors;
}
