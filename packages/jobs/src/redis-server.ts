import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';

export class RedisServerMissingError extends Error {
  constructor() {
    super(
      'redis-server was not found on PATH, and REDIS_URL is not set.\n' +
        'Install Redis 6.2 or newer, then run this again:\n' +
        '  Debian/Ubuntu: sudo apt-get install -y redis-server\n' +
        '  macOS:         brew install redis\n' +
        'or point REDIS_URL at a Redis you already run (redis://host:6379).',
    );
    this.name = 'RedisServerMissingError';
  }
}

export interface RunningRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  dataDir: string;
  port?: number;
  /** Append-only file on (durable across restarts) unless false. */
  appendOnly?: boolean;
  binary?: string;
}

/**
 * Starts a private `redis-server` from PATH on loopback, with its data in `dataDir`, configured as BullMQ
 * wants it: AOF on and `maxmemory-policy noeviction` (an evicted job key is lost work).
 */
export async function startRedisServer(options: RedisServerOptions): Promise<RunningRedis> {
  const dataDir = path.resolve(options.dataDir);
  await fs.mkdir(dataDir, { recursive: true });
  const port = options.port ?? (await getPort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dataDir,
    '--appendonly',
    options.appendOnly === false ? 'no' : 'yes',
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    '--logfile',
    '',
  ];
  const child = spawn(options.binary ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));

  await new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new RedisServerMissingError() : error),
    );
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with code ${code} before it was ready:\n${output.join('')}`)),
    );
    child.once('spawn', () => resolve());
  });

  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on port ${port} within 10 s:\n${output.join('')}`);
    }
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    url,
    port,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
