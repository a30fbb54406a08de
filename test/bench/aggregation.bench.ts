/**
 * The aggregation scenario of `run.ts` on its own (kept for the command in the README):
 *
 *   pnpm exec tsx test/bench/aggregation.bench.ts [--leaders 10000] [--concurrency 4]
 */
process.argv.push('--only', 'aggregation');
await import('./run.ts');
