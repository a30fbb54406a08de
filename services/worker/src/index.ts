export { workerProcessEnv, type WorkerProcessConfig } from './config.ts';
export { createHandlers, type HandlerDeps } from './handlers/index.ts';
// The change and cohort handlers on their own, for tests that interleave two runs.
export { createComputeChange } from './handlers/compute-change.ts';
export { createCycleStats } from './handlers/cycle-stats.ts';
export { createInstrumentCache } from './handlers/instruments.ts';
export { createRollupCohort } from './handlers/rollup-cohort.ts';
export { runWorkers, type RunningWorkers, type RunWorkersOptions } from './run-workers.ts';
export {
  MAINTENANCE_EVERY_MS,
  startWorker,
  type RunningWorker,
  type StartWorkerOptions,
} from './start-worker.ts';
export { createWorkerLogger } from './logger.ts';
