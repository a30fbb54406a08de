import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';

/** Requests per window on the token routes: reads are page loads, writes are posts. */
export interface RateLimits {
  windowMs: number;
  readsPerIp: number;
  writesPerIp: number;
  readsPerToken: number;
  writesPerToken: number;
}

// A whole office may share one IP (NAT), so the IP limits leave room for many raters at once; a single
// rater moves through seven steps in minutes, so the per-link limits are tighter.
export const DEFAULT_RATE_LIMITS: RateLimits = {
  windowMs: 60_000,
  readsPerIp: 120,
  writesPerIp: 60,
  readsPerToken: 60,
  writesPerToken: 30,
};

const REDIS_PREFIX = 'panorama-rl:survey-link:';

/** A short one-way name for an IP or a link, so neither is kept in Redis as it is. */
export function limiterKey(purpose: 'ip' | 'link', value: string): string {
  return createHash('sha256').update(`panorama-survey-${purpose}\0${value}`).digest('base64url').slice(0, 22);
}

/** The per-IP rule, as `config.rateLimit` for @fastify/rate-limit. */
export function ipRule(max: number, windowMs: number) {
  return {
    max,
    timeWindow: windowMs,
    keyGenerator: (request: FastifyRequest) => limiterKey('ip', request.ip),
  };
}

interface Counter {
  /** Counts one hit for `key` and returns the hits in the current window and the ms left in it. */
  hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }>;
}

function redisCounter(redis: Redis): Counter {
  return {
    async hit(key, windowMs) {
      const results = await redis
        .multi()
        .set(REDIS_PREFIX + key, 0, 'PX', windowMs, 'NX')
        .incr(REDIS_PREFIX + key)
        .pttl(REDIS_PREFIX + key)
        .exec();
      const [, [incrError, count] = [], [, ttl] = []] = results ?? [];
      if (incrError || typeof count !== 'number')
        throw incrError ?? new Error('rate limit: no count from Redis');
      return { count, ttlMs: typeof ttl === 'number' && ttl > 0 ? ttl : windowMs };
    },
  };
}

function memoryCounter(): Counter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    async hit(key, windowMs) {
      const now = Date.now();
      let window = windows.get(key);
      if (!window || window.resetAt <= now) {
        if (windows.size > 10_000) for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k);
        window = { count: 0, resetAt: now + windowMs };
        windows.set(key, window);
      }
      window.count++;
      return { count: window.count, ttlMs: window.resetAt - now };
    },
  };
}

export class TooManyRequestsError extends Error {
  readonly statusCode = 429;
  readonly code = 'SURVEY_LINK_RATE_LIMITED';
  constructor() {
    super('Too many requests for this link');
  }
}

/**
 * Counts in Redis, and in this process while Redis cannot be reached. Without the fallback every rater
 * request failed with a 500 during a Redis outage (the fault tests in test/faults found it), although the
 * submission itself needs only Postgres. The per-IP limits make the same choice (`skipOnError`); counting
 * locally rather than skipping still stops one client hammering one link through this instance.
 */
function failOpenCounter(redis: Redis, onStoreError: (error: unknown) => void): Counter {
  const shared = redisCounter(redis);
  const local = memoryCounter();
  let degraded = false;
  return {
    async hit(key, windowMs) {
      try {
        const result = await shared.hit(key, windowMs);
        degraded = false;
        return result;
      } catch (error) {
        // Reported once per outage, not once per request.
        if (!degraded) onStoreError(error);
        degraded = true;
        return local.hit(key, windowMs);
      }
    },
  };
}

/**
 * A per-link limit, as an onRequest hook. @fastify/rate-limit runs at most one rule per request, and the
 * per-IP rule is that one, so the per-link rule is counted here, in the same Redis.
 */
export function linkLimiter(redis: Redis | undefined, onStoreError: (error: unknown) => void = () => {}) {
  const counter = redis ? failOpenCounter(redis, onStoreError) : memoryCounter();
  return (max: number, windowMs: number, name: string) =>
    async function limitPerLink(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const token = (request.params as { token?: string }).token ?? '';
      const { count, ttlMs } = await counter.hit(`${name}:${limiterKey('link', token)}`, windowMs);
      if (count > max) {
        reply.header('retry-after', String(Math.ceil(ttlMs / 1000)));
        throw new TooManyRequestsError();
      }
    };
}
