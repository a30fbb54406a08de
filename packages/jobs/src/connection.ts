import { Redis, type RedisOptions } from 'ioredis';

/**
 * Workers block on Redis and must wait out an outage (`maxRetriesPerRequest: null`);
 * producers fail fast (`enableOfflineQueue: false`) so a request is not held hostage by a dead Redis.
 */
export function createRedis(url: string, role: 'worker' | 'producer'): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 };
  const redis = new Redis(url, {
    ...options,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Without a listener ioredis prints every reconnect attempt; the owner decides what to log.
  redis.on('error', () => {});
  return redis;
}
