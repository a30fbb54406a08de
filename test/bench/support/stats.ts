import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** Peak resident set size of this process, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Peak resident set size (VmHWM) of another process, in bytes; null once it has exited. */
export function peakRssOf(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export const mib = (bytes: number | null) => (bytes === null ? null : round(bytes / 1024 / 1024, 1));

export interface ServerStats {
  times: Record<string, number[]>;
  peakRssBytes: number;
}

export interface BenchServer {
  port: number;
  url: string;
  child: ChildProcess;
  stats(): Promise<ServerStats>;
  reset(): void;
  stop(): Promise<void>;
}

/** Forks `servers/serve.ts <kind>` and waits until it listens on loopback. */
export async function startServer(kind: 'survey' | 'noop' | 'report', env: Record<string, string>) {
  const child = fork(path.resolve(import.meta.dirname, '../servers/serve.ts'), [kind], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  const server: BenchServer = {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as ServerStats));
        child.send('stats');
      }),
    reset: () => child.send('reset'),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send('stop');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
  return server;
}
