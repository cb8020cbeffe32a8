// A real Slurm cluster for tests: withSlurmCluster() runs scripts/slurm-cluster.sh up (slurmctld here,
// one slurmd per network namespace), runs the body, and always runs down again, even when the body
// throws, then checks that no daemon, namespace or state directory is left. Needs root and the
// slurm-wlm and munge packages; where either is missing it throws the script's reason, never skips.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runBounded, type Finished } from './processes.js';
import { leftovers } from './netns.js';
import { isAlive } from '../comm/fixtures/procs.js';

/** scripts/slurm-cluster.sh, from a test bundle at dist/test/<dir>/<name>.test.js. */
export const SLURM_SCRIPT = fileURLToPath(new URL('../../../scripts/slurm-cluster.sh', import.meta.url));

export interface SlurmNode {
  /** The node's Slurm name, which is also its network namespace's name: PREFIX0, PREFIX1, ... */
  name: string;
  /** Its namespace's address on the bridge, where its hosts file says the name lives. */
  address: string;
}

export interface SlurmCluster {
  prefix: string;
  /** The cluster's slurm.conf: every client (sbatch, srun, scontrol) needs SLURM_CONF set to it. */
  slurmConf: string;
  /** Where the cluster's configuration, munge key, logs and pid files live until down. */
  stateDir: string;
  nodes: SlurmNode[];
  /** The environment for a Slurm client run here: this process's, with SLURM_CONF. */
  env: NodeJS.ProcessEnv;
  /** The daemons' pids (munged, slurmctld, one slurmd per node), as status printed them after up. */
  daemonPids: number[];
}

/** Runs scripts/slurm-cluster.sh with `args`, bounded in time. */
export function slurmScript(args: string[], timeoutMs = 120_000, env: Record<string, string> = {}): Promise<Finished> {
  return runBounded('/bin/bash', [SLURM_SCRIPT, ...args], { ...process.env, ...env }, timeoutMs, `slurm-cluster.sh ${args.join(' ')}`);
}

/** A prefix no other test process uses: its pid, and a letter per cluster it makes. */
let clustersMade = 0;
function uniquePrefix(): string {
  return `slt${process.pid}${String.fromCharCode(97 + (clustersMade++ % 26))}`;
}

/** Clusters that are up, removed synchronously should the test process exit before their finally runs. */
const upNow = new Set<string>();
process.on('exit', () => {
  for (const prefix of upNow) spawnSync('/bin/bash', [SLURM_SCRIPT, 'down', prefix], { stdio: 'ignore', timeout: 60_000 });
});

/** Reads what `up` printed: the SLURM_CONF line, the daemons, the namespaces. */
export function parseUp(prefix: string, stdout: string): Omit<SlurmCluster, 'env'> {
  const conf = /^SLURM_CONF=(\S+)$/m.exec(stdout);
  const daemonPids = [...stdout.matchAll(/^daemon \S+ (\d+) running$/gm)].map((m) => Number(m[1]));
  const nodes = [...stdout.matchAll(/^namespace (\S+) (\d+\.\d+\.\d+\.\d+) /gm)].map((m) => ({ name: m[1]!, address: m[2]! }));
  if (!conf || nodes.length === 0 || daemonPids.length !== nodes.length + 2) {
    throw new Error(`slurm-cluster.sh up ${prefix} printed no SLURM_CONF, nodes or daemons:\n${stdout}`);
  }
  return { prefix, slurmConf: conf[1]!, stateDir: conf[1]!.replace(/\/etc\/slurm\.conf$/, ''), nodes, daemonPids };
}

/**
 * Brings up a Slurm cluster of `n` nodes, each in its own network namespace, runs `body` with it and
 * removes it afterwards whatever the body did (jobs cancelled, daemons stopped, namespaces and state
 * removed). The body's error is rethrown as it is, unless the teardown failed too (then both, in an
 * AggregateError).
 */
export async function withSlurmCluster<T>(n: number, body: (cluster: SlurmCluster) => Promise<T>, options: { prefix?: string } = {}): Promise<T> {
  const prefix = options.prefix ?? uniquePrefix();
  upNow.add(prefix);
  const started = await slurmScript(['up', String(n), prefix]);
  if (started.code !== 0) {
    upNow.delete(prefix); // a failed up removes what it made
    throw new Error(`could not bring up a ${n}-node Slurm cluster (scripts/slurm-cluster.sh up ${n} ${prefix} exited ${started.code}):\n${started.stderr}${started.stdout}`);
  }
  let daemonPids: number[] = [];
  let outcome: { value: T } | { error: unknown };
  try {
    const parsed = parseUp(prefix, started.stdout);
    daemonPids = parsed.daemonPids;
    outcome = { value: await body({ ...parsed, env: { ...process.env, SLURM_CONF: parsed.slurmConf } }) };
  } catch (error) {
    outcome = { error };
  }
  const teardownError = await teardown(prefix, daemonPids);
  if ('error' in outcome) {
    if (teardownError) throw new AggregateError([outcome.error, teardownError], `the body failed (${String(outcome.error)}) and so did the teardown (${teardownError.message})`);
    throw outcome.error;
  }
  if (teardownError) throw teardownError;
  return outcome.value;
}

/** Runs down and checks that it left nothing: no daemon alive, no namespace or link, no state directory. */
async function teardown(prefix: string, daemonPids: number[]): Promise<Error | undefined> {
  let down: Finished;
  try {
    down = await slurmScript(['down', prefix]);
  } catch (e) {
    return e as Error;
  }
  if (down.code !== 0) return new Error(`scripts/slurm-cluster.sh down ${prefix} exited ${down.code}:\n${down.stderr}${down.stdout}`);
  upNow.delete(prefix);
  const problems = leftoversOf(prefix, daemonPids);
  return problems.length > 0 ? new Error(`scripts/slurm-cluster.sh down ${prefix} left ${problems.join(', ')} behind`) : undefined;
}

/** What of cluster `prefix` still exists: namespaces, links, its state directory, live daemons. */
export function leftoversOf(prefix: string, daemonPids: number[], stateDir = `${process.env.SLURM_CLUSTER_DIR ?? '/run/slurm-cluster'}/${prefix}`): string[] {
  return [
    ...leftovers(prefix),
    ...(existsSync(stateDir) ? [stateDir] : []),
    ...daemonPids.filter(isAlive).map((pid) => `daemon pid ${pid}`),
  ];
}
