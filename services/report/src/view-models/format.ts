import type { GroupKey } from '@panorama/domain';

/** How each rater group is named on every page. */
export const GROUP_LABEL: Record<GroupKey, string> = {
  self: 'Self',
  manager: 'Manager',
  peer: 'Peers',
  direct_report: 'Direct reports',
  other: 'Others',
  all_others: 'All others',
};

/** A score on the rating scale: two decimals. */
export const score = (value: number): string => value.toFixed(2);

/** A change with its sign, and a real minus sign so it reads and aligns well. */
export function signed(value: number, digits = 2): string {
  const rounded = Number(value.toFixed(digits));
  if (rounded === 0) return (0).toFixed(digits);
  return `${rounded > 0 ? '+' : '−'}${Math.abs(rounded).toFixed(digits)}`;
}

/** A share as a whole percentage. */
export const percent = (share: number): string => `${Math.round(share * 100)}%`;

/** What is printed in place of a group under its threshold: never a number derived from it. */
export function fewerThan(k: number, unit = 'responses'): string {
  return `fewer than ${k} ${unit}`;
}

/** "1 response", "3 responses". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** "a, b and c". */
export function listWords(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

// One formatter for the process: toLocaleDateString with options builds a new Intl formatter on every call,
// which was the largest single cost of rendering a report.
const DAY = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  timeZone: 'UTC',
});

/** A date as "3 Mar 2026" (UTC), or an empty string. */
export function day(value: Date | string | null | undefined): string {
  if (!value) return '';
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? '' : DAY.format(d);
}
