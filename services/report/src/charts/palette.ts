import type { MarkerShape } from './svg.ts';

/** Okabe–Ito colours and marker shapes per rater group, the same as the stylesheet's variables. */
export const GROUP_STYLE = {
  all_others: { colour: '#009e73', shape: 'circle' },
  self: { colour: '#e69f00', shape: 'diamond' },
  manager: { colour: '#0072b2', shape: 'square' },
  peer: { colour: '#56b4e9', shape: 'triangle' },
  direct_report: { colour: '#cc79a7', shape: 'triangle' },
  other: { colour: '#d55e00', shape: 'triangle' },
} as const satisfies Record<string, { colour: string; shape: MarkerShape }>;

/** Ink for marks that are not a rater group (cohort change, histogram bars). */
export const INK = '#1b5e8a';
