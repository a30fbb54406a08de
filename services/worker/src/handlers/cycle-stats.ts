import { resultRepository, type Db } from '@panorama/db';
import { alphaLabel, competencyItemMatrix, cronbachAlpha, type Instrument } from '@panorama/domain';

const PAGE = 2_000;

interface Cached<T> {
  fingerprint: string;
  value: Promise<T>;
}

/** Cronbach's alpha of one competency over one cycle, as stored with the cohort roll-up. */
export interface CycleAlpha {
  /** Null with fewer than two complete rows or no total variance. */
  alpha: number | null;
  /** Responses with every item of the competency answered (listwise). */
  rows: number;
  items: number;
  /** METHODS §5: >= .80 good, >= .70 acceptable, else low. */
  label: 'good' | 'acceptable' | 'low' | null;
}

/**
 * Cycle-level statistics that change and compute: per-process caches keyed by a cheap fingerprint of what
 * they read, so a cycle's thousands of change jobs compute them once. Each read takes an optional
 * connection, so a handler holding a lock in a transaction reads through it (and needs no second
 * connection from the pool while it holds the first).
 */
export function createCycleStats(deps: { db: Db }) {
  const { db } = deps;
  const alphaCache = new Map<string, Cached<Record<string, CycleAlpha>>>();
  const sdCache = new Map<string, Cached<Record<string, number>>>();

  async function cached<T>(
    cache: Map<string, Cached<T>>,
    cycleId: string,
    fingerprint: string,
    compute: () => Promise<T>,
  ): Promise<T> {
    const hit = cache.get(cycleId);
    if (hit && hit.fingerprint === fingerprint) return hit.value;
    const value = compute();
    value.catch(() => cache.delete(cycleId));
    cache.set(cycleId, { fingerprint, value });
    return value;
  }

  async function alphas(
    cycleId: string,
    instrument: Instrument,
    conn: Db = db,
  ): Promise<Record<string, CycleAlpha>> {
    const fingerprint = await resultRepository.cycleResponsesFingerprint(conn, cycleId);
    return cached(alphaCache, cycleId, fingerprint, async () => {
      const matrices = new Map(instrument.competencies.map((c) => [c.id, [] as number[][]]));
      let after: string | null = null;
      for (;;) {
        const page = await resultRepository.cycleResponsesPage(conn, cycleId, after, PAGE);
        if (page.length === 0) break;
        for (const competency of instrument.competencies) {
          matrices.get(competency.id)!.push(...competencyItemMatrix(instrument, competency.id, page));
        }
        after = page[page.length - 1]!.id;
      }
      const out: Record<string, CycleAlpha> = {};
      for (const competency of instrument.competencies) {
        const rows = matrices.get(competency.id)!;
        const alpha = rows.length < 2 || competency.items.length < 2 ? null : cronbachAlpha(rows).alpha;
        out[competency.id] = {
          alpha,
          rows: rows.length,
          items: competency.items.length,
          label: alpha === null ? null : alphaLabel(alpha),
        };
      }
      return out;
    });
  }

  return {
    /**
     * Cronbach's alpha per competency over every response of the cycle (METHODS §5: raters x items pooled
     * across leaders, listwise, self included), streamed a page at a time, with the rows it used and its
     * label. Alpha is null with fewer than two complete rows or no total variance; it is kept when negative,
     * so a report can say it is low.
     */
    alphas,

    /**
     * The alphas usable as rxx for the RCI: competencies where alpha is undefined, negative or 1 are left
     * out (the RCI needs 0 <= rxx < 1), and they get no reliable change unless a norm is configured.
     */
    async reliability(
      cycleId: string,
      instrument: Instrument,
      conn: Db = db,
    ): Promise<Record<string, number>> {
      const all = await alphas(cycleId, instrument, conn);
      const usable: Record<string, number> = {};
      for (const [id, { alpha }] of Object.entries(all)) {
        if (alpha !== null && alpha >= 0 && alpha < 1) usable[id] = alpha;
      }
      return usable;
    },

    /**
     * SD1 per competency: the between-leader SD of the all-others score over the cycle's latest profiles
     * (computed in SQL). Competencies with fewer than two leaders or no spread are left out.
     */
    async allOthersSd(cycleId: string, conn: Db = db): Promise<Record<string, number>> {
      const fingerprint = await resultRepository.cycleProfilesFingerprint(conn, cycleId);
      return cached(sdCache, cycleId, fingerprint, async () => {
        const sds: Record<string, number> = {};
        for (const row of await resultRepository.allOthersSdByCompetency(conn, cycleId)) {
          if (row.sd > 0) sds[row.competency_id] = row.sd;
        }
        return sds;
      });
    },
  };
}
export type CycleStats = ReturnType<typeof createCycleStats>;
