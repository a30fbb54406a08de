import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInstrument, type Instrument, type Profile } from '@panorama/domain';
import { computeProfile, selfOtherOptionsOf, type ProfileSources } from './profile-versions.ts';

const RULES = { k: { peer: 3, direct_report: 3, other: 3, all_others: 4 }, distributionMinN: 4 };

async function flagship(): Promise<Instrument> {
  return loadInstrument(
    path.resolve(import.meta.dirname, '../../../../surveys/leadership-360/instrument.yaml'),
  );
}

/** Self rates every item 4, a manager and three peers 3.5 on average: every gap is 0.5. */
function sources(instrument: Instrument): ProfileSources {
  const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
  const rating = (value: number) => Object.fromEntries(items.map((id) => [id, value]));
  const responses = [
    { relationship: 'self' as const, ratings: rating(4) },
    { relationship: 'manager' as const, ratings: rating(3) },
    { relationship: 'peer' as const, ratings: rating(4) },
    { relationship: 'peer' as const, ratings: rating(3) },
    { relationship: 'peer' as const, ratings: rating(4) },
  ].map((r, i) => ({ id: `00000000-0000-4000-8000-00000000000${i}`, comments: {}, ...r }));
  return { subjectId: '00000000-0000-4000-8000-0000000000aa', digest: 'x', responses };
}

const gapFlags = (data: string) => (JSON.parse(data) as Profile).selfOther.competencies.blindSpots.gap;

describe('profile settings from the instrument', () => {
  it('maps self_other to the scoring options, and nothing when unset', () => {
    expect(selfOtherOptionsOf({})).toEqual({});
    expect(selfOtherOptionsOf({ self_other: { fraction: 0.2, gap_threshold: 0.5 } })).toEqual({
      fraction: 0.2,
      gapThreshold: 0.5,
    });
  });

  it('flags blind spots at the configured gap threshold instead of the default 1.0', async () => {
    const instrument = await flagship();
    expect(gapFlags(computeProfile(sources(instrument), instrument, RULES).data)).toEqual([]);
    const configured = { ...instrument, self_other: { gap_threshold: 0.5 } } as Instrument;
    expect(gapFlags(computeProfile(sources(configured), configured, RULES).data)).toEqual(
      instrument.competencies.map((c) => c.id),
    );
  });
});
