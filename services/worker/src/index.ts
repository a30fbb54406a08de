export { workerProcessEnv, type WorkerProcessConfig } from './config.ts';
export { createHandlers, type HandlerDeps } from './handlers/index.ts';
export { runWorkers, type RunningWorkers, type RunWorkersOptions } from './run-workers.ts';
export {
  MAINTENANCE_EVERY_MS,
  startWorker,
  type RunningWorker,
  type StartWorkerOptions,
} from './start-worker.ts';
export { createWorkerLogger } from './logger.ts';
