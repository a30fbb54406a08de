import type { Redis } from 'ioredis';

/**
 * Invitations whose link was used, waiting to be marked completed. Kept in a Redis set rather than a
 * Postgres table: a set has no order and Redis no transaction ids, so nothing pairs a completion with the
 * response committed just before it. A worker batch moves them into Postgres once enough have gathered
 * that a batch cannot single out one rater.
 */
/**
 * Used invitations are marked completed only in batches of at least this many, so a batch cannot single out
 * the one rater whose response arrived in between.
 */
export const MIN_COMPLETION_BATCH = 5;

export interface CompletionSet {
  add(invitationId: string): Promise<void>;
  has(invitationId: string): Promise<boolean>;
  size(): Promise<number>;
  members(): Promise<string[]>;
  remove(invitationIds: string[]): Promise<void>;
}

export function createCompletionSet(redis: Redis, prefix: string): CompletionSet {
  const key = `${prefix}:pending-completions`;
  return {
    async add(id) {
      await redis.sadd(key, id);
    },
    async has(id) {
      return (await redis.sismember(key, id)) === 1;
    },
    size: () => redis.scard(key),
    members: () => redis.smembers(key),
    async remove(ids) {
      if (ids.length > 0) await redis.srem(key, ...ids);
    },
  };
}
