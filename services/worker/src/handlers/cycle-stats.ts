import { resultRepository, type Db } from '@panorama/db';
import { competencyItemMatrix, cronbachAlpha, type Instrument } from '@panorama/domain';

const PAGE = 2_000;

interface Cached {
  fingerprint: string;
  value: Promise<Record<string, number>>;
}

/**
 * Cycle-level statistics that change and compute: per-process caches keyed by a cheap fingerprint of what
 * they read, so a cycle's thousands of change jobs compute them once.
 */
export function createCycleStats(deps: { db: Db }) {
  const { db } = deps;
  const reliabilityCache = new Map<string, Cached>();
  const sdCache = new Map<string, Cached>();

  async function cached(
    cache: Map<string, Cached>,
    cycleId: string,
    fingerprint: string,
    compute: () => Promise<Record<string, number>>,
  ) {
    const hit = cache.get(cycleId);
    if (hit && hit.fingerprint === fingerprint) return hit.value;
    const value = compute();
    value.catch(() => cache.delete(cycleId));
    cache.set(cycleId, { fingerprint, value });
    return value;
  }

  return {
    /**
     * Cronbach's alpha per competency over every response of the cycle (METHODS §5: raters x items pooled
     * across leaders, listwise, self included), streamed a page at a time. Competencies where alpha is
     * undefined, negative or 1 are left out: the RCI needs 0 <= rxx < 1, and they get no reliable change.
     */
    async reliability(cycleId: string, instrument: Instrument): Promise<Record<string, number>> {
      const fingerprint = await resultRepository.cycleResponsesFingerprint(db, cycleId);
      return cached(reliabilityCache, cycleId, fingerprint, async () => {
        const matrices = new Map(instrument.competencies.map((c) => [c.id, [] as number[][]]));
        let after: string | null = null;
        for (;;) {
          const page = await resultRepository.cycleResponsesPage(db, cycleId, after, PAGE);
          if (page.length === 0) break;
          for (const competency of instrument.competencies) {
            matrices.get(competency.id)!.push(...competencyItemMatrix(instrument, competency.id, page));
          }
          after = page[page.length - 1]!.id;
        }
        const alphas: Record<string, number> = {};
        for (const competency of instrument.competencies) {
          const rows = matrices.get(competency.id)!;
          if (rows.length < 2 || competency.items.length < 2) continue;
          const { alpha } = cronbachAlpha(rows);
          if (alpha !== null && alpha >= 0 && alpha < 1) alphas[competency.id] = alpha;
        }
        return alphas;
      });
    },

    /**
     * SD1 per competency: the between-leader SD of the all-others score over the cycle's latest profiles
     * (computed in SQL). Competencies with fewer than two leaders or no spread are left out.
     */
    async allOthersSd(cycleId: string): Promise<Record<string, number>> {
      const fingerprint = await resultRepository.cycleProfilesFingerprint(db, cycleId);
      return cached(sdCache, cycleId, fingerprint, async () => {
        const sds: Record<string, number> = {};
        for (const row of await resultRepository.allOthersSdByCompetency(db, cycleId)) {
          if (row.sd > 0) sds[row.competency_id] = row.sd;
        }
        return sds;
      });
    },
  };
}
export type CycleStats = ReturnType<typeof createCycleStats>;
