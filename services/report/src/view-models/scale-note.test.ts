import { describe, expect, it } from 'vitest';
import { leaderReportView, scaleNote, type ReportInstrument } from './leader-report.ts';
import { TEST_INSTRUMENT, testProfile } from './test-profile.ts';

const withPoints = (points: { value: number; label: string }[]): ReportInstrument => ({
  ...TEST_INSTRUMENT,
  scale: { ...TEST_INSTRUMENT.scale, points },
});

describe('the scale line above the profile chart', () => {
  it("names the instrument's own end anchors", () => {
    const instrument = withPoints([
      { value: 1, label: 'Not at all' },
      { value: 3, label: 'Somewhat' },
      { value: 5, label: 'To a great extent' },
    ]);
    expect(scaleNote({ min: 1, max: 5 }, instrument)).toBe(
      'Average ratings on the 1–5 scale (1 = not at all, 5 = to a great extent).',
    );
    expect(scaleNote({ min: 1, max: 5 }, withPoints([]))).toBe('Average ratings on the 1–5 scale.');
  });

  it('is what the leader report prints, not a fixed wording', () => {
    const view = leaderReportView({
      subject: {
        id: '00000000-0000-4000-8000-000000000001',
        leaderName: 'Dana Lee',
        coachName: null,
        cycleName: 'Baseline',
        cycleKind: 'baseline',
        programmeName: 'Leading 2027',
        releasedVersion: null,
      } as never,
      audience: 'staff',
      profile: { version: 1, computedAt: new Date('2027-03-01T00:00:00Z'), data: testProfile() },
      latestVersion: 1,
      instrument: withPoints([
        { value: 1, label: 'Never' },
        { value: 5, label: 'Always' },
      ]),
      change: null,
      otherReports: [],
      canRelease: false,
      notice: null,
    });
    expect(view.scaleNote).toBe('Average ratings on the 1–5 scale (1 = never, 5 = always).');
  });
});
