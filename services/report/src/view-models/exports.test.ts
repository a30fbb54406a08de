import { describe, expect, it } from 'vitest';
import { cohortCsvRecords, profilesCsvRecords, PROFILES_CSV_COLUMNS, safeCell } from './exports.ts';
import { testProfile } from './test-profile.ts';

describe('CSV exports', () => {
  it('neutralises cells a spreadsheet would run as formulas', () => {
    expect(safeCell('=HYPERLINK("x")')).toBe(`'=HYPERLINK("x")`);
    expect(safeCell('+1')).toBe("'+1");
    expect(safeCell('Dana Lee')).toBe('Dana Lee');
  });

  it('writes group aggregates only: no rater-level columns, and suppressed groups named, not counted', () => {
    const rows = profilesCsvRecords({
      leaderName: '@Dana',
      leaderEmail: 'dana@acme.test',
      cycleName: 'Baseline',
      cycleKind: 'baseline',
      version: 2,
      releasedVersion: null,
      profile: testProfile(),
    });
    expect(rows).toHaveLength(4);
    expect(PROFILES_CSV_COLUMNS.some((c) => /rater|response_id|comment/.test(c))).toBe(false);
    expect(rows[0]).toMatchObject({ leader_name: "'@Dana", other_n: '', other_mean: '', peer_n: 4 });
    expect(rows[0]!['not_shown']).toBe('other (fewer than 3 responses)');
  });

  it('writes a suppressed cohort as statuses without numbers', () => {
    const rows = cohortCsvRecords({ suppressed: true, reason: 'fewer_than_k', k: 4 }, [
      { id: 'a', title: 'A' },
    ]);
    expect(rows).toEqual([{ competency_id: 'a', competency: 'A', status: 'fewer than 4 leaders' }]);
  });
});
