import { day } from './format.ts';

/** The leader's home: their released reports, newest cycle first. */
export function meView(
  leaderName: string,
  rows: {
    id: string;
    cycle_name: string;
    cycle_kind: 'baseline' | 'follow_up';
    programme_name: string;
    coach_name: string | null;
    released_at: Date | string | null;
  }[],
) {
  return {
    pageTitle: 'My report',
    greeting: `Hello, ${leaderName}`,
    empty: rows.length === 0,
    emptyText:
      'Your report is not available yet. Your coach releases it once the feedback cycle has closed, usually ' +
      'in your next coaching session, so that you can talk it through together.',
    reports: rows.map((r) => ({
      href: `/reports/${r.id}`,
      title: `${r.programme_name}: ${r.cycle_name}`,
      kind: r.cycle_kind === 'baseline' ? 'Baseline' : 'Follow-up',
      released: r.released_at ? `Released ${day(r.released_at)}` : 'Released',
      coach: r.coach_name ? `Coach: ${r.coach_name}` : '',
    })),
  };
}
