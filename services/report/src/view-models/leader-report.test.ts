import { describe, expect, it } from 'vitest';
import { buildChange, type GroupChange } from '@panorama/domain';
import {
  agreementWords,
  largestGaps,
  leaderReportView,
  mixWarningText,
  participationText,
  strongestAndWeakest,
  suppressedText,
  verdictWords,
  type LeaderReportInput,
} from './leader-report.ts';
import { TEST_INSTRUMENT, testProfile } from './test-profile.ts';

const subject = {
  id: '00000000-0000-4000-8000-000000000001',
  leaderName: 'Dana Lee',
  coachName: 'Cora Coach',
  cycleName: 'Follow-up',
  programmeName: 'Leading 2027',
  releasedVersion: null,
};

function input(overrides: Partial<LeaderReportInput> = {}): LeaderReportInput {
  return {
    subject,
    audience: 'staff',
    profile: { version: 2, computedAt: new Date('2027-03-01T00:00:00Z'), data: testProfile() },
    latestVersion: 2,
    instrument: TEST_INSTRUMENT,
    change: null,
    otherReports: [],
    canRelease: true,
    notice: null,
    ...overrides,
  };
}

describe('words for suppressed groups', () => {
  it('says "fewer than k responses", never a count', () => {
    expect(suppressedText('peer', 3)).toBe('fewer than 3 responses');
    expect(suppressedText('all_others', 4)).toBe('fewer than 4 responses');
    expect(suppressedText('manager', 1)).toBe('no response');
    expect(suppressedText('self', 1)).toBe('no self-rating');
  });

  it('hides the count of a group under k in the participation summary', () => {
    expect(participationText('other', { responses: 2, k: 3, shown: false })).toEqual({
      text: 'fewer than 3 responses',
      shown: false,
    });
    expect(participationText('peer', { responses: 4, k: 3, shown: true }).text).toBe('4 responses');
    expect(participationText('manager', { responses: 1, k: 1, shown: true }).text).toBe('1 response');
  });

  it('prints no number for the suppressed "others" group anywhere in its rows', () => {
    const view = leaderReportView(input());
    const others = view.summary.participation.find((p) => p.label === 'Others')!;
    expect(others.text).toBe('fewer than 3 responses');
    for (const c of view.competencies) {
      const row = c.groups.find((g) => g.label === 'Others')!;
      expect(row).toMatchObject({
        shown: false,
        suppressedText: 'fewer than 3 responses',
        nText: '',
        meanText: '',
      });
      expect(c.hiddenColumnsNote).toContain('others (fewer than 3 responses)');
      expect(c.itemColumns).not.toContain('Others');
    }
    expect(view.chart.table).not.toMatch(/Others/);
  });
});

describe('self-other', () => {
  const profile = testProfile();

  it('ranks the largest gaps first, with their direction in words', () => {
    expect(largestGaps(profile).map((g) => g.id)).toEqual(['vision', 'trust', 'delivery']);
    const view = leaderReportView(input());
    expect(view.summary.gaps[0]).toMatchObject({ title: 'Vision', direction: 'above' });
    expect(view.summary.gaps[0]!.text).toContain('the self-rating is 3.00 above others’');
    expect(view.summary.gaps[1]!.direction).toBe('below');
  });

  it('explains blind spots and hidden strengths in plain words', () => {
    const view = leaderReportView(input());
    expect(view.selfOther.blindSpots).toEqual([
      {
        title: 'Vision',
        text: 'Among the highest in the self-rating but among the lowest in the ratings of others, and the self-rating is 3.00 above the average of all others.',
      },
    ]);
    expect(view.selfOther.hiddenStrengths[0]!.title).toBe('Trust <&> "relationships"');
    expect(view.competencies.find((c) => c.id === 'vision')!.flags.map((f) => f.text)).toContain(
      'Blind spot',
    );
  });

  it('names the strongest and weakest competencies by the all-others mean', () => {
    const { strongest, weakest } = strongestAndWeakest(profile.competencies);
    expect(strongest.map((r) => r.id)).toEqual(['trust', 'coaching']);
    expect(weakest.map((r) => r.id)).toEqual(['vision', 'delivery']);
  });
});

describe('verdicts and agreement in words', () => {
  const change = (verdict: 'improved' | 'deteriorated' | 'no_reliable_change' | null): GroupChange => ({
    available: true,
    baseline: 3,
    followUp: 3.5,
    delta: 0.5,
    welchZ: null,
    reliableChange: verdict ? { sem: 0.2, sdiff: 0.28, mdc95: 0.55, rci: 1, verdict } : null,
  });

  it('turns reliable-change verdicts into words', () => {
    expect(verdictWords(change('improved'))).toEqual({ text: 'Reliable improvement', kind: 'up' });
    expect(verdictWords(change('deteriorated'))).toEqual({ text: 'Reliable decline', kind: 'down' });
    expect(verdictWords(change('no_reliable_change')).text).toBe('Within measurement error');
    expect(verdictWords(change(null)).text).toBe('Not assessed (no reliability data)');
  });

  it('says "raters disagree" for low consensus', () => {
    const base = { rwg: 0.8, rwgJ: null, rwgJBand: null, rwgJItems: 0 };
    expect(agreementWords({ ...base, rwgBand: 'strong', lowConsensus: true }).text).toBe('Raters disagree');
    expect(agreementWords({ ...base, rwgBand: 'strong', lowConsensus: false }).text).toBe('Raters agree');
    expect(agreementWords(null).text).toBe('—');
  });

  it('explains a change in the rater mix', () => {
    expect(mixWarningText({ type: 'group_removed', group: 'manager' })).toContain(
      'Manager rated at baseline but not',
    );
    expect(
      mixWarningText({ type: 'share_changed', group: 'peer', baselineShare: 0.5, followUpShare: 0.2 }),
    ).toContain('Peers made up 50% of raters at baseline and 20% in the follow-up');
    const general = mixWarningText({ type: 'mix_changed' });
    expect(general).toContain('mix of rater groups changed');
    expect(general).not.toMatch(/\d/);
  });

  it('says why staff see no numbers while the cycle is open, with participation counts only', () => {
    const participation = testProfile({}).participation;
    const view = leaderReportView(
      input({
        profile: null,
        publication: { state: 'withheld', closesAt: new Date('2026-12-01T00:00:00Z'), participation },
      }),
    );
    expect(view.hasProfile).toBe(false);
    expect(view.emptyText).toContain('published when the cycle closes on 1 Dec 2026');
    expect(view.emptyText).toContain('still coming in');
    expect(view.summary.participation.map((p) => p.label)).toContain('Peers');
    expect(view.competencies).toEqual([]);
    expect(view.change).toBeNull();
    const updating = leaderReportView(input({ profile: null, publication: { state: 'updating' } }));
    expect(updating.emptyText).toContain('being brought up to date');
    expect(updating.summary.participation).toEqual([]);
  });

  it('notes later responses held back by the re-release rule, without their counts', () => {
    const view = leaderReportView(
      input({
        publication: { state: 'shown', updating: false, heldBack: [{ group: 'peer', required: 3 }] },
      }),
    );
    expect(view.publicationNotes.join(' ')).toContain('Later responses are held back');
    expect(view.publicationNotes.join(' ')).toContain('peers at least 3');
  });
});

describe('leaderReportView', () => {
  it('labels comments by the group the profile gives them and keeps their text verbatim', () => {
    const view = leaderReportView(
      input({ profile: { version: 1, computedAt: new Date(), data: testProfile({ comment: '<b>hi</b>' }) } }),
    );
    expect(view.comments[0]).toEqual({
      question: 'What should they keep doing?',
      comments: [{ text: '<b>hi</b>', label: 'Peers' }],
      empty: false,
    });
  });

  it('shows the change per competency with verdicts, and "not comparable" for suppressed groups', () => {
    const before = testProfile();
    const after = testProfile({ others: 3 });
    const report = buildChange({
      baseline: before,
      followUp: after,
      sd1ByCompetency: { vision: 0.5, coaching: 0.5, delivery: 0.5, trust: 0.5 },
      rxxByCompetency: { vision: 0.8, coaching: 0.8, delivery: 0.8, trust: 0.8 },
      overlap: { peer: 3 },
    });
    const view = leaderReportView(
      input({
        profile: { version: 1, computedAt: new Date(), data: after },
        change: { report, baselineCycleName: 'Baseline' },
      }),
    );
    expect(view.change!.rows).toHaveLength(4);
    expect(view.change!.rows[0]).toMatchObject({
      title: 'Vision',
      shown: true,
      verdict: 'Within measurement error',
    });
    const othersColumn = view.change!.groupColumns.indexOf('Others');
    expect(othersColumn).toBe(-1);
    expect(view.change!.overlap).toEqual(['Peers: 3 raters']);
    expect(view.change!.warnings.join(' ')).toContain('Others could be shown in only one of the two cycles');
  });

  it('says what the reader sees: draft, behind the release, or the leader’s own released version', () => {
    expect(leaderReportView(input()).status.kind).toBe('draft');
    expect(leaderReportView(input({ subject: { ...subject, releasedVersion: 1 } })).status.text).toContain(
      'Dana Lee sees version 1',
    );
    const leader = leaderReportView(
      input({ audience: 'leader', subject: { ...subject, releasedVersion: 2 } }),
    );
    expect(leader.status.kind).toBe('leader');
    expect(leader.canRelease).toBe(false);
  });

  it('offers release for a draft and for a newer version, not when the leader already has the one shown', () => {
    expect(leaderReportView(input()).canRelease).toBe(true);
    const behind = leaderReportView(input({ subject: { ...subject, releasedVersion: 1 } }));
    expect(behind.canRelease).toBe(true);
    expect(behind.releaseLabel).toBe('Release the version shown to Dana Lee');
    expect(leaderReportView(input({ subject: { ...subject, releasedVersion: 2 } })).canRelease).toBe(false);
  });

  it('explains an empty report instead of showing zeros', () => {
    const view = leaderReportView(input({ profile: null, latestVersion: null }));
    expect(view.hasProfile).toBe(false);
    expect(view.emptyText).toContain('no responses have been aggregated');
    expect(view.canRelease).toBe(false);
  });
});

describe('suppressedText for item numbers withheld because of partial answers', () => {
  it('says why, without a count', () => {
    expect(suppressedText('peer', 3, 'partial_answers')).toBe('not shown per item, to protect anonymity');
    expect(suppressedText('peer', 3, 'fewer_than_k')).toBe('fewer than 3 responses');
  });
});
