// deploy/kubernetes.yaml, read as Kubernetes reads it: its Job's command line, run through train.js's
// own parser with the environment an Indexed Job gives each pod, must put every pod where the run
// needs it (node rank, world size, the master's DNS name and port, the join secret's file).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseTrainArgs, UsageError } from '../../src/cli/config.js';
import { describeNodeLayout, globalRanksOf } from '../../src/cli/node-layout.js';

const test = suite('deploy/kubernetes.yaml');
const MANIFEST = fileURLToPath(new URL('../../../deploy/kubernetes.yaml', import.meta.url));

interface Container {
  command: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  ports?: Array<{ containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface Job {
  kind: 'Job';
  metadata: { name: string };
  spec: {
    completionMode: string; completions: number; parallelism: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        subdomain: string;
        containers: Container[];
        volumes: Array<{ name: string; secret?: { secretName: string; defaultMode?: number; items?: Array<{ key: string; path: string }> } }>;
      };
    };
  };
}
interface Service {
  kind: 'Service';
  metadata: { name: string };
  spec: { clusterIP: string; selector: Record<string, string>; ports: Array<{ port: number; targetPort: number }> };
}

function load(): { text: string; job: Job; service: Service } {
  const text = readFileSync(MANIFEST, 'utf8');
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error('deploy/kubernetes.yaml: not a YAML stream');
  for (const doc of docs) assert.equal(doc.errors.map(String), [], 'the manifest is valid YAML');
  const objects = docs.map((d) => d.toJS() as { kind?: string } | null).filter((o) => o !== null);
  const of = <T>(kind: string): T => {
    const found = objects.filter((o) => o.kind === kind);
    assert.is(found.length, 1, `one ${kind} in the manifest`);
    return found[0] as T;
  };
  return { text, job: of<Job>('Job'), service: of<Service>('Service') };
}

/** What Kubernetes puts in pod `index`'s environment, plus the manifest's own `env` values. */
function podEnv(job: Job, container: Container, index: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOSTNAME: `${job.metadata.name}-${index}`,
    JOB_COMPLETION_INDEX: String(index),
  };
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

/** The container's argv after `node dist/train.js`. */
function trainArgv(container: Container): string[] {
  const argv = [...container.command, ...(container.args ?? [])];
  assert.equal(argv.slice(0, 2), ['node', 'dist/train.js'], 'the container runs train.js');
  return argv.slice(2);
}

test('an Indexed Job of two pods at once, and a headless Service that selects them and names pod 0', () => {
  const { job, service } = load();
  assert.is(job.spec.completionMode, 'Indexed');
  assert.is(job.spec.completions, 2);
  assert.is(job.spec.parallelism, job.spec.completions, 'every node runs at once: the master waits for all');
  assert.is(service.spec.clusterIP, 'None', 'headless: DNS records per pod, no virtual IP');
  const labels = job.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(service.spec.selector)) assert.is(labels[key], value, `the Service selects the Job's pods by ${key}`);
  assert.is(job.spec.template.spec.subdomain, service.metadata.name, 'pods are <job>-<index>.<service> only with subdomain = the Service\'s name');
  assert.is(job.spec.template.spec.containers.length, 1);
});

test('each pod\'s command line, with the environment an Indexed Job sets, gives its node rank, the world size, the master and the join secret', () => {
  const { job, service } = load();
  const container = job.spec.template.spec.containers[0]!;
  const argv = trainArgv(container);
  const masterDns = `${job.metadata.name}-0.${service.metadata.name}`;
  const port = service.spec.ports[0]!;
  const mount = container.volumeMounts!.find((m) => job.spec.template.spec.volumes.some((v) => v.name === m.name && v.secret))!;
  const secret = job.spec.template.spec.volumes.find((v) => v.name === mount.name)!.secret!;
  const ranks: number[] = [];
  for (let index = 0; index < job.spec.completions; index++) {
    const c = parseTrainArgs(argv, podEnv(job, container, index));
    assert.is(c.nodeRank, index, `pod ${index}: its node rank is its completion index`);
    assert.is(c.nnodes, job.spec.completions, 'one node per pod');
    assert.is(c.nprocPerNode, 2);
    assert.is(c.procs, 4, 'the world size: 2 pods × 2 workers');
    assert.is(c.masterAddr, masterDns, 'the master is pod 0 by its DNS name');
    assert.is(c.masterPort, port.port, 'the master listens on the Service\'s port');
    assert.is(port.targetPort, c.masterPort);
    assert.ok(container.ports!.some((p) => p.containerPort === c.masterPort), 'and the container declares that port');
    assert.is(c.joinTokenFile, `${mount.mountPath}/${secret.items!.find((i) => i.key === 'join.token')!.path}`, 'the join secret is the mounted Secret');
    assert.is(c.insecure, false);
    assert.is(describeNodeLayout(c), `node ${index} of 2 (ranks ${2 * index}-${2 * index + 1} of 4), master ${masterDns}:29500`);
    ranks.push(...globalRanksOf(c));
  }
  assert.equal(ranks, [0, 1, 2, 3], 'the pods\' workers cover every global rank once');
  // A third pod (completions raised without --nnodes) is refused, naming both.
  assert.throws(() => parseTrainArgs(argv, podEnv(job, container, 2)),
    (e: Error) => e instanceof UsageError && /node rank 2 \(JOB_COMPLETION_INDEX=2\) must be below the node count 2 \(--nnodes 2\)/.test(e.message));
});

test('the join secret comes from a Secret, mounted as a file only its owner may read, and the header says how to make it', () => {
  const { text, job } = load();
  const volume = job.spec.template.spec.volumes.find((v) => v.secret)!;
  assert.ok(volume, 'a Secret volume');
  const mode = volume.secret!.defaultMode!;
  assert.is(mode & 0o077, 0, `mode ${mode.toString(8)}: train.js refuses a token file that group or others can read`);
  assert.ok(text.includes(`kubectl create secret generic ${volume.secret!.secretName} --from-file=join.token=`), 'the header makes the Secret the Job mounts');
  assert.match(text, /openssl rand -hex 32 > join\.token/);
});

test.run();
