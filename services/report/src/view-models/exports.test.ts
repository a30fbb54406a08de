import { describe, expect, it } from 'vitest';
import type { ChangeReport } from '@panorama/domain';
import {
  changesCsvRecords,
  cohortCsvRecords,
  JSON_FORMAT,
  profilesCsvRecords,
  PROFILES_CSV_COLUMNS,
  safeCell,
} from './exports.ts';
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

  it('writes the same profile records for JSON with text as is and null where the CSV is empty', () => {
    const input = {
      leaderName: '@Dana',
      leaderEmail: 'dana@acme.test',
      cycleName: 'Baseline',
      cycleKind: 'baseline',
      version: 2,
      releasedVersion: null,
      profile: testProfile(),
    };
    const csv = profilesCsvRecords(input);
    const json = profilesCsvRecords(input, JSON_FORMAT);
    expect(json[0]).toMatchObject({ leader_name: '@Dana', other_n: null, released_version: null, peer_n: 4 });
    expect(Object.keys(json[0]!)).toEqual(Object.keys(csv[0]!));
    for (const [i, row] of json.entries())
      for (const [key, value] of Object.entries(row))
        expect(csv[i]![key], key).toBe(
          value === null ? '' : typeof value === 'string' ? safeCell(value) : value,
        );
  });

  describe('changes.csv', () => {
    const change = (name: string, cells: Record<string, number | null>) => ({
      leaderName: name,
      leaderEmail: `${name.toLowerCase()}@acme.test`,
      cycleName: 'Follow-up',
      version: 1,
      report: {
        competencies: Object.entries(cells).map(([id, delta]) => ({
          id,
          allOthers:
            delta === null
              ? { available: false }
              : {
                  available: true,
                  delta,
                  reliableChange: { verdict: delta > 0.5 ? 'improved' : 'no_reliable_change' },
                },
        })),
      } as unknown as ChangeReport,
    });
    const competencies = [
      { id: 'a', title: 'A' },
      { id: 'b', title: '=B' },
    ];

    it('writes one row per leader and competency; a hidden cell says why and carries no number', () => {
      const rows = changesCsvRecords({
        changes: [
          change('Eli', { a: 0.75, b: null }),
          change('Dana', { a: -0.25, b: 0.1 }),
          change('Fay', { a: 0 }),
        ],
        competencies,
        kAllOthers: 3,
      });
      expect(rows.map((r) => `${r['leader_name']}/${r['competency_id']}`)).toEqual([
        'Dana/a',
        'Dana/b',
        'Eli/a',
        'Eli/b',
        'Fay/a',
        'Fay/b',
      ]);
      expect(rows[0]).toMatchObject({
        status: 'shown',
        change_all_others: -0.25,
        reliable_change: 'no reliable change',
      });
      expect(rows[1]!['competency']).toBe("'=B");
      expect(rows[2]).toMatchObject({ change_all_others: 0.75, reliable_change: 'improved' });
      for (const hidden of [rows[3]!, rows[5]!]) {
        expect(hidden['status']).toBe('fewer than 3 responses from all others in one of the cycles');
        expect(hidden['change_all_others']).toBeUndefined();
        expect(hidden['reliable_change']).toBeUndefined();
      }
    });

    it('shows no numbers at all while fewer than k leaders have comparable results, as the heatmap', () => {
      const rows = changesCsvRecords({
        changes: [change('Dana', { a: 0.3, b: 0.2 }), change('Eli', { a: null, b: null })],
        competencies,
        kAllOthers: 3,
      });
      expect(rows).toHaveLength(4);
      for (const row of rows) {
        expect(row['status']).toBe('fewer than 3 leaders with comparable results');
        expect(row).not.toHaveProperty('change_all_others');
      }
    });
  });
});
