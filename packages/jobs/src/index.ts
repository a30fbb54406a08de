export * from './catalog.ts';
export { createRedis } from './connection.ts';
export { createProducer, type Producer } from './producer.ts';
export { startRedisServer, RedisServerMissingError, type RunningRedis } from './redis-server.ts';
export { createCompletionSet, MIN_COMPLETION_BATCH, type CompletionSet } from './completions.ts';
