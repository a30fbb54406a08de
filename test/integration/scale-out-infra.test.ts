import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { reportEnv, surveyEnv } from '@panorama/config';
import { workerProcessEnv } from '@panorama/worker';

// The compose file and Kubernetes manifests are for users; nothing here runs Docker or Kubernetes. These
// checks keep them parseable and in step with the code: probes on every long-running process, commands that
// name files and scripts that exist, configuration keys the processes actually read.

const ROOT = path.resolve(import.meta.dirname, '../..');
const INFRA = path.join(ROOT, 'infra');
const rootPackage = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  packageManager: string;
  scripts: Record<string, string>;
};

type Doc = Record<string, unknown> & { kind?: string; metadata?: { name?: string } };
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  command: string[];
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : yamlFiles(full);
    return /\.ya?ml$/.test(entry.name) ? [full] : [];
  });
}

/** Parses every document of a file; a syntax error fails with the file's name. */
function load(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  for (const doc of docs) {
    expect(
      doc.errors.map((e) => e.message),
      path.relative(ROOT, file),
    ).toEqual([]);
  }
  return docs.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

/**
 * A command runs something that exists: `pnpm <script>` of the root package.json, or `node --import tsx
 * <file>` of a file in the repository.
 */
function expectRunnable(command: string[], where: string) {
  if (command[0] === 'pnpm') {
    expect(Object.keys(rootPackage.scripts), where).toContain(command[1]);
    return;
  }
  expect(command.slice(0, 3), where).toEqual(['node', '--import', 'tsx']);
  expect(existsSync(path.join(ROOT, command[3]!)), `${where}: ${command[3]} exists`).toBe(true);
}

const ENTRY = {
  survey: 'services/survey/src/server.ts',
  report: 'services/report/src/server.ts',
  worker: 'services/worker/src/main.ts',
} as const;
const PORT = { survey: 3001, report: 3002, worker: 3003 } as const;
const knownKeys = new Set([
  ...Object.keys(surveyEnv.shape),
  ...Object.keys(reportEnv.shape),
  ...Object.keys(workerProcessEnv.shape),
]);

describe('infra files', () => {
  const files = yamlFiles(INFRA);

  it('are all valid YAML', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const file of files) load(file);
  });

  describe('compose', () => {
    const compose = load(path.join(INFRA, 'compose.yaml'))[0] as {
      services: Record<
        string,
        {
          image: string;
          command?: string[];
          environment?: Record<string, string>;
          healthcheck?: { test: string[] };
          depends_on?: Record<string, { condition: string }>;
          build?: { context: string; dockerfile: string };
        }
      >;
    };
    const { services } = compose;

    it('runs Postgres 16, Redis 7 as BullMQ needs it, a one-shot migration and the three processes', () => {
      expect(Object.keys(services).sort()).toEqual(
        ['migrate', 'postgres', 'redis', 'report', 'survey', 'worker'].sort(),
      );
      expect(services.postgres!.image).toMatch(/^postgres:16\b/);
      expect(services.redis!.image).toMatch(/^redis:7\b/);
      const redis = services.redis!.command!.join(' ');
      expect(redis).toContain('--appendonly yes');
      expect(redis).toContain('--maxmemory-policy noeviction');
      expect(services.migrate!.command).toEqual(['pnpm', 'db:migrate']);
      expectRunnable(services.migrate!.command!, 'compose migrate');
    });

    it('builds one image from infra/Dockerfile for every Panorama process', () => {
      const images = new Set(['migrate', 'survey', 'report', 'worker'].map((s) => services[s]!.image));
      expect(images.size).toBe(1);
      for (const name of ['migrate', 'survey', 'report', 'worker']) {
        const build = services[name]!.build!;
        expect(path.resolve(INFRA, build.context, build.dockerfile)).toBe(path.join(INFRA, 'Dockerfile'));
      }
    });

    it('gives every long-running service a healthcheck, on /readyz for Panorama processes', () => {
      for (const [name, service] of Object.entries(services)) {
        if (name === 'migrate') continue;
        expect(service.healthcheck?.test, `${name} healthcheck`).toBeDefined();
      }
      for (const name of ['survey', 'report', 'worker'] as const) {
        const service = services[name]!;
        expectRunnable(service.command!, `compose ${name}`);
        expect(service.command![3]).toBe(ENTRY[name]);
        expect(service.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${PORT[name]}/readyz`);
        expect(service.depends_on?.migrate?.condition).toBe('service_completed_successfully');
      }
      expect(services.worker!.environment!.WORKER_HTTP_PORT).toBe(PORT.worker);
    });

    it('passes the same APP_SECRET, and only keys the processes read, to every process', () => {
      const secrets = new Set(
        ['migrate', 'survey', 'report', 'worker'].map((s) => services[s]!.environment!.APP_SECRET),
      );
      expect(secrets.size).toBe(1);
      for (const name of ['survey', 'report', 'worker']) {
        for (const key of Object.keys(services[name]!.environment!))
          expect(knownKeys, `compose ${name}: ${key}`).toContain(key);
      }
    });
  });

  describe('Dockerfile', () => {
    const dockerfile = readFileSync(path.join(INFRA, 'Dockerfile'), 'utf8');

    it('installs the pinned pnpm from the lockfile alone, and names entry points that exist', () => {
      const pnpmVersion = rootPackage.packageManager.split('@')[1];
      expect(dockerfile).toContain(`pnpm@${pnpmVersion}`);
      expect(dockerfile).toContain('pnpm install --offline --frozen-lockfile');
      expect(dockerfile).toMatch(/ARG NODE_VERSION=20\.(19|[2-9]\d)/);
      for (const entry of Object.values(ENTRY)) expect(dockerfile).toContain(entry);
      for (const [, script] of dockerfile.matchAll(/pnpm (db:migrate|panorama)\b/g))
        expect(Object.keys(rootPackage.scripts)).toContain(script);
    });
  });

  describe('Kubernetes', () => {
    const k8sDir = path.join(INFRA, 'k8s');
    const docs = yamlFiles(k8sDir).flatMap(load);
    const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
    const podSpec = (d: Doc) =>
      (d as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec;

    it('has Deployments for survey, report and worker, each probed on /readyz and /healthz', () => {
      const deployments = ofKind('Deployment');
      expect(deployments.map((d) => d.metadata!.name).sort()).toEqual([
        'panorama-report',
        'panorama-survey',
        'panorama-worker',
      ]);
      for (const deployment of deployments) {
        const name = deployment.metadata!.name!.replace('panorama-', '') as keyof typeof ENTRY;
        for (const container of podSpec(deployment).containers) {
          const where = `${name}/${container.name}`;
          expectRunnable(container.command, where);
          expect(container.command[3], where).toBe(ENTRY[name]);
          expect(container.readinessProbe?.httpGet?.path, where).toBe('/readyz');
          expect(container.livenessProbe?.httpGet?.path, where).toBe('/healthz');
          const http = container.ports!.find((p) => p.name === container.readinessProbe!.httpGet!.port);
          expect(http?.containerPort, where).toBe(PORT[name]);
        }
      }
    });

    it('has Services for survey and report that select their Deployments', () => {
      const services = ofKind('Service') as (Doc & { spec: { selector: Record<string, string> } })[];
      expect(services.map((s) => s.metadata!.name).sort()).toEqual(['panorama-report', 'panorama-survey']);
      for (const service of services) {
        const deployment = ofKind('Deployment').find((d) => d.metadata!.name === service.metadata!.name)!;
        const labels = (
          deployment as { spec: { template: { metadata: { labels: Record<string, string> } } } }
        ).spec.template.metadata.labels;
        expect(labels).toMatchObject(service.spec.selector);
      }
    });

    it('migrates in a Job, and configures through a ConfigMap and a Secret of known keys', () => {
      const [job] = ofKind('Job');
      expect(podSpec(job!).containers[0]!.command).toEqual(['pnpm', 'db:migrate']);
      expectRunnable(podSpec(job!).containers[0]!.command, 'migrate job');
      const [configMap] = ofKind('ConfigMap') as (Doc & { data: Record<string, string> })[];
      for (const key of Object.keys(configMap!.data)) expect(knownKeys, `ConfigMap ${key}`).toContain(key);
      expect(configMap!.data.WORKER_HTTP_PORT).toBe(String(PORT.worker));
      const [secret] = ofKind('Secret') as (Doc & { stringData: Record<string, string> })[];
      for (const key of Object.keys(secret!.stringData).filter((k) => !k.startsWith('KEDA_')))
        expect(knownKeys, `Secret ${key}`).toContain(key);
      for (const key of ['APP_SECRET', 'DATABASE_URL', 'REDIS_URL'])
        expect(secret!.stringData).toHaveProperty(key);
    });

    it('scales the worker Deployment on the BullMQ wait lists of its prefix', () => {
      const [scaled] = ofKind('ScaledObject') as (Doc & {
        spec: {
          scaleTargetRef: { name: string };
          minReplicaCount: number;
          triggers: { type: string; metadata: Record<string, string> }[];
        };
      })[];
      expect(scaled!.spec.scaleTargetRef.name).toBe('panorama-worker');
      expect(scaled!.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      const prefix = (ofKind('ConfigMap')[0] as { data: Record<string, string> }).data.QUEUE_PREFIX;
      const lists = scaled!.spec.triggers.filter((t) => t.type === 'redis').map((t) => t.metadata.listName);
      expect(lists).toEqual([`${prefix}:aggregate:wait`, `${prefix}:email:wait`]);
      // The env the trigger reads from exists on the worker's container.
      const worker = ofKind('Deployment').find((d) => d.metadata!.name === 'panorama-worker')!;
      const env = podSpec(worker).containers[0]!.env!.map((e) => e.name);
      for (const trigger of scaled!.spec.triggers)
        for (const [key, value] of Object.entries(trigger.metadata))
          if (key.endsWith('FromEnv')) expect(env).toContain(value);
    });

    it('lists in its kustomization only files that exist, and never the Secret template', () => {
      const [kustomization] = load(path.join(k8sDir, 'kustomization.yaml')) as (Doc & {
        resources: string[];
      })[];
      for (const resource of kustomization!.resources)
        expect(existsSync(path.join(k8sDir, resource))).toBe(true);
      expect(kustomization!.resources).not.toContain('secret.template.yaml');
      const listed = new Set([...kustomization!.resources, 'kustomization.yaml', 'secret.template.yaml']);
      for (const file of readdirSync(k8sDir)) expect(listed, file).toContain(file);
    });
  });
});
