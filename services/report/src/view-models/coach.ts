import { subjectCell, type HrSubjectCell } from './hr-programme.ts';

/** One row of the coach's list: a leader in one cycle. */
export interface CoachSubjectRow {
  id: string;
  leader_id: string;
  leader_name: string;
  cycle_name: string;
  cycle_kind: 'baseline' | 'follow_up';
  cycle_status: string;
  programme_id: string;
  programme_name: string;
  released_version: number | null;
  latest_version: number | null;
}

const CYCLE_STATE: Record<string, string> = {
  draft: 'not started',
  open: 'collecting responses',
  closed: 'closed',
  released: 'closed',
};

/** The coach's leaders grouped by programme, one row per leader and cycle, with release state in words. */
export function coachView(rows: CoachSubjectRow[]) {
  const programmes = new Map<
    string,
    {
      name: string;
      leaders: Map<
        string,
        { name: string; reports: (HrSubjectCell & { cycle: string; kind: string; cycleState: string })[] }
      >;
    }
  >();
  for (const row of rows) {
    const programme = programmes.get(row.programme_id) ?? { name: row.programme_name, leaders: new Map() };
    programmes.set(row.programme_id, programme);
    const leader = programme.leaders.get(row.leader_id) ?? { name: row.leader_name, reports: [] };
    programme.leaders.set(row.leader_id, leader);
    leader.reports.push({
      ...subjectCell(row),
      cycle: row.cycle_name,
      kind: row.cycle_kind === 'baseline' ? 'Baseline' : 'Follow-up',
      cycleState: CYCLE_STATE[row.cycle_status] ?? row.cycle_status,
    });
  }
  return {
    pageTitle: 'My leaders',
    empty: programmes.size === 0,
    programmes: [...programmes.values()].map((p) => ({ name: p.name, leaders: [...p.leaders.values()] })),
    counts: {
      leaders: new Set(rows.map((r) => r.leader_id)).size,
      toRelease: rows.filter((r) => r.latest_version !== null && r.released_version !== r.latest_version)
        .length,
    },
  };
}
