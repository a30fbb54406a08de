import { programmeRepository, type Db } from '@panorama/db';
import { InstrumentSchema, type AnonymityRules, type Instrument } from '@panorama/domain';

/** Parsed instruments by (id, version); a pinned version never changes, so entries never go stale. */
export function createInstrumentCache(db: Db) {
  const cache = new Map<string, Promise<Instrument>>();
  return {
    get(id: string, version: number): Promise<Instrument> {
      const key = `${id}@${version}`;
      let found = cache.get(key);
      if (!found) {
        found = programmeRepository
          .instrumentDefinition(db, id, version)
          .then((definition) => InstrumentSchema.parse(definition) as Instrument);
        // A failed load (database down) must not be remembered.
        found.catch(() => cache.delete(key));
        cache.set(key, found);
      }
      return found;
    },
  };
}
export type InstrumentCache = ReturnType<typeof createInstrumentCache>;

/**
 * The anonymity rules of a cycle: the instrument's own k when it sets one, else ANONYMITY_K for each
 * anonymous group and max(4, ANONYMITY_K + 1) for all-others; distributions from n = 4.
 */
export function anonymityRulesFor(instrument: Instrument, anonymityK: number): AnonymityRules {
  const k = instrument.anonymity?.k ?? {
    peer: anonymityK,
    direct_report: anonymityK,
    other: anonymityK,
    all_others: Math.max(4, anonymityK + 1),
  };
  return { k: { ...k }, distributionMinN: 4 };
}

/** item id -> competency id. */
export function itemCompetencies(instrument: Instrument): Map<string, string> {
  return new Map(instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)));
}
