import { describe, expect, it } from 'vitest';
import { buildChange, buildCohort, buildProfile, DEFAULT_ANONYMITY } from '@panorama/domain';
import {
  effectWords,
  heatBand,
  hrProgrammesView,
  hrProgrammeView,
  intervalWords,
  shareWords,
  subjectCell,
  type HrProgrammeInput,
  type StoredAlpha,
  type StoredCohort,
} from './hr-programme.ts';
import { response, testProfile, TEST_INSTRUMENT } from './test-profile.ts';

const programme = { id: '00000000-0000-4000-8000-0000000000aa', name: 'Leading 2027', description: '' };
const cycles: HrProgrammeInput['cycles'] = [
  {
    id: 'b',
    kind: 'baseline',
    name: 'Baseline',
    status: 'closed',
    opened_at: null,
    closes_at: new Date('2027-01-10Z'),
    closed_at: new Date('2027-01-10Z'),
    released_at: null,
    leaders: 4,
  },
  {
    id: 'f',
    kind: 'follow_up',
    name: 'Follow-up',
    status: 'open',
    opened_at: new Date('2027-06-01Z'),
    closes_at: new Date('2027-06-20Z'),
    closed_at: null,
    released_at: null,
    leaders: 4,
  },
];
const sd1 = { vision: 0.5, coaching: 0.5, delivery: 0.5, trust: 0.5 };
const rxx = { vision: 0.8, coaching: 0.8, delivery: 0.8, trust: 0.8 };

function programmeInput(leaders: number, overrides: Partial<HrProgrammeInput> = {}): HrProgrammeInput {
  const pairs = Array.from({ length: leaders }, (_, i) => ({
    baseline: testProfile(),
    followUp: testProfile({ others: i % 2 ? 3 : 2 }),
  }));
  const report = buildCohort({ leaders: pairs, cohortLeaderCount: leaders, rxxByCompetency: rxx });
  return {
    programme,
    cycles,
    participation: { b: [{ relationship: 'peer', invited: 10, completed: 8 }], f: [] },
    cohort: { version: 1, computedAt: new Date('2027-06-21Z'), data: { leaders, report } },
    competencies: TEST_INSTRUMENT.competencies.map((c) => ({ id: c.id, title: c.title })),
    changes: pairs.map((p, i) => ({
      subject_id: `s${i}`,
      leader_name: `Leader ${i}`,
      data: {
        baselineVersion: 1,
        followUpVersion: 1,
        report: buildChange({
          baseline: p.baseline,
          followUp: p.followUp,
          sd1ByCompetency: sd1,
          rxxByCompetency: rxx,
        }),
      },
    })),
    subjects: [],
    releases: [],
    kAllOthers: 4,
    ...overrides,
  };
}

describe('statistics in words', () => {
  it('bands effect sizes the way non-statisticians read them', () => {
    expect(effectWords(0.1).band).toBe('negligible');
    expect(effectWords(0.3)).toEqual({ band: 'small', value: 'g = 0.30' });
    expect(effectWords(-0.6).band).toBe('moderate');
    expect(effectWords(0.9).band).toBe('large');
    expect(effectWords(null).band).toBe('not defined');
  });

  it('reads a 95% interval', () => {
    expect(intervalWords([0.01, 0.2]).text).toBe('Clear improvement');
    expect(intervalWords([-0.3, -0.01]).text).toBe('Clear decline');
    expect(intervalWords([-0.01, 0.2]).text).toBe('No clear change');
  });

  it('gives a share with its Wilson interval', () => {
    expect(shareWords({ share: 2 / 11, wilson95: [0.05, 0.48] }, 11)).toEqual({
      count: '2 of 11',
      range: '18%, plausibly 5%–48%',
    });
    expect(shareWords(null, 11).count).toBe('not assessed');
  });

  it('colours change in symmetric bands', () => {
    expect([-0.6, -0.3, -0.15, 0, 0.09, 0.1, 0.3, 0.5].map(heatBand)).toEqual([
      'd3',
      'd2',
      'd1',
      'n0',
      'n0',
      'u1',
      'u2',
      'u3',
    ]);
  });
});

describe('hrProgrammeView', () => {
  it('shows the cohort change, the CI chart and the heatmap for a cohort at or above k', () => {
    const view = hrProgrammeView(programmeInput(4));
    expect(view.cohort.available).toBe(true);
    expect(view.cohort.rows).toHaveLength(4);
    expect(view.heatmap.available).toBe(true);
    expect(view.heatmap.rows).toHaveLength(4);
    expect(view.heatmap.columns[3]).toBe('Trust <&> "relationships"');
    expect(view.distribution.available).toBe(true);
    expect(view.participation.rows.find((r) => r.label === 'Peers')!.cells[0]).toEqual({
      invited: '10',
      completed: '8',
      rate: '80%',
    });
  });

  it('says how many leaders a competency leaves out when their all-others score was suppressed', () => {
    const unrated = buildProfile({
      instrument: TEST_INSTRUMENT,
      responses: [response('s', 'self', {}), response('m', 'manager', {})],
      rules: DEFAULT_ANONYMITY,
      seed: 'test',
    });
    const pairs = [
      ...Array.from({ length: 4 }, (_, i) => ({
        baseline: testProfile(),
        followUp: testProfile({ others: i % 2 ? 3 : 2 }),
      })),
      { baseline: testProfile(), followUp: unrated },
    ];
    const report = buildCohort({ leaders: pairs, cohortLeaderCount: 5, rxxByCompetency: rxx });
    const view = hrProgrammeView(
      programmeInput(4, { cohort: { version: 1, computedAt: new Date(), data: { leaders: 5, report } } }),
    );
    expect(view.cohort.headline).toContain('5 leaders have results in both cycles.');
    expect(view.cohort.headline).toContain('1 leader is left out of the figures below');
    expect(view.cohort.rows!.every((r) => r.leaders === '4')).toBe(true);
    expect(hrProgrammeView(programmeInput(4)).cohort.headline).not.toContain('left out');
  });

  it('shows no number for a cohort under k, in the summary, the heatmap or the histogram', () => {
    const view = hrProgrammeView(programmeInput(3));
    expect(view.cohort.available).toBe(false);
    expect(view.cohort.message).toContain('fewer than 4 leaders');
    expect(view.heatmap.available).toBe(false);
    expect(view.heatmap.message).toContain('fewer than 4 leaders');
    expect(view.distribution.available).toBe(false);
  });

  it('marks a leader’s suppressed change as hatched with the reason in words', () => {
    const input = programmeInput(4);
    const first = input.changes[0]!;
    first.data.report.competencies[0]!.allOthers = { available: false, reason: 'suppressed' };
    const cell = hrProgrammeView(input).heatmap.rows.find((r) => r.leader === 'Leader 0')!.cells[0]!;
    expect(cell).toMatchObject({ band: 'none', text: '–' });
    expect(cell.srText).toContain('fewer than 4 responses');
  });

  it('says without results that the cohort comparison comes later', () => {
    const view = hrProgrammeView(programmeInput(4, { cohort: null, changes: [] }));
    expect(view.cohort.message).toContain('once the programme has a baseline and a follow-up');
    expect(view.heatmap.message).toContain('once follow-up results are in');
  });
});

describe('self-other agreement and alpha on the HR page', () => {
  const counts = { over_estimator: 3, under_estimator: 2, in_agreement_good: 4, in_agreement_poor: 3 };
  const summary = (n: number, shown: boolean) => ({
    n,
    counts: shown ? counts : null,
    cutoffs: shown ? { meanGap: 0.1, sdGap: 0.4, meanAllOthers: 3.6 } : null,
  });
  const agreement = (n: number) => ({
    minLeaders: 10,
    overall: summary(n, n >= 10),
    competencies: [{ id: 'vision', ...summary(n, n >= 10) }],
  });
  const withCohort = (data: Partial<StoredCohort>) => {
    const input = programmeInput(4);
    return { ...input, cohort: { ...input.cohort!, data: { ...input.cohort!.data, ...data } } };
  };
  const alpha = (value: number | null, label: StoredAlpha['label'], rows = 40) => ({
    alpha: value,
    rows,
    items: 3,
    label,
  });

  it('counts leaders per category in each cycle, under a one-line explanation', () => {
    const view = hrProgrammeView(
      withCohort({
        baselineCycleId: 'b',
        followUpCycleId: 'f',
        agreement: { baseline: agreement(12), followUp: agreement(12) },
      }),
    );
    expect(view.agreement.available).toBe(true);
    expect(view.agreement.cycles).toEqual(['Baseline', 'Follow-up']);
    expect(view.agreement.rows.map((r) => r.cells)).toEqual([
      ['3', '3'],
      ['2', '2'],
      ['4', '4'],
      ['3', '3'],
    ]);
    expect(view.agreement.leaders).toEqual(['12', '12']);
    expect(view.agreement.explanation).toMatch(/half a standard deviation/);
  });

  it('with fewer than 10 leaders says the categories are not shown and why', () => {
    const view = hrProgrammeView(
      withCohort({ agreement: { baseline: agreement(7), followUp: agreement(6) } }),
    );
    expect(view.agreement.available).toBe(false);
    expect(view.agreement.message).toContain('Baseline: not shown, 7 leaders have both');
    expect(view.agreement.message).toContain('fewer than 10');
    expect(view.agreement.rows.flatMap((r) => r.cells).every((c) => c === '—')).toBe(true);
  });

  it('shows one cycle and explains the other when only one reaches 10 leaders', () => {
    const view = hrProgrammeView(
      withCohort({ agreement: { baseline: agreement(11), followUp: agreement(9) } }),
    );
    expect(view.agreement.available).toBe(true);
    expect(view.agreement.rows[0]!.cells).toEqual(['3', '—']);
    expect(view.agreement.notes).toEqual([expect.stringContaining('Follow-up: not shown, 9 leaders')]);
  });

  it("lists Cronbach's alpha per competency and cycle with its label and the responses used", () => {
    const view = hrProgrammeView(
      withCohort({
        reliability: {
          baseline: { vision: alpha(0.8312, 'good'), coaching: alpha(0.71, 'acceptable') },
          followUp: { vision: alpha(0.52, 'low', 1), coaching: alpha(null, null, 1) },
        },
      }),
    );
    expect(view.reliability.available).toBe(true);
    const vision = view.reliability.rows.find((r) => r.cells[0]!.alpha === '0.83')!;
    expect(vision.cells).toEqual([
      { alpha: '0.83', label: 'good', rows: '40 complete responses', kind: 'good' },
      { alpha: '0.52', label: 'low', rows: '1 complete response', kind: 'low' },
    ]);
    const trust = view.reliability.rows.at(-1)!;
    expect(trust.cells[0]).toEqual({
      alpha: '—',
      label: 'not computable',
      rows: 'no responses',
      kind: 'none',
    });
  });

  it('shows neither table for a cohort stored before they existed', () => {
    const view = hrProgrammeView(programmeInput(4));
    expect(view.agreement.available).toBe(false);
    expect(view.agreement.message).toBe('');
    expect(view.reliability.available).toBe(false);
  });
});

describe('release state in words', () => {
  it('tells unreleased, released and released-but-behind apart', () => {
    expect(subjectCell({ id: 'x', released_version: null, latest_version: null }).state).toBe(
      'no results yet',
    );
    expect(subjectCell({ id: 'x', released_version: null, latest_version: 1 }).kind).toBe('ready');
    expect(subjectCell({ id: 'x', released_version: 1, latest_version: 2 }).state).toBe(
      'released v1; v2 newer',
    );
    expect(subjectCell({ id: 'x', released_version: 2, latest_version: 2 }).kind).toBe('released');
  });

  it('lists programmes with their cycle statuses', () => {
    const view = hrProgrammesView([
      { id: 'p', name: 'P', description: '', cycles: 2, leaders: 1, statuses: 'closed,open' },
    ]);
    expect(view.programmes[0]).toMatchObject({
      href: '/hr/programmes/p',
      leaders: '1 leader',
      cycles: '2 cycles',
    });
    expect(view.programmes[0]!.statuses.map((s) => s.text)).toEqual(['Closed', 'Open for responses']);
  });
});
