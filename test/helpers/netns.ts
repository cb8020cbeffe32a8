// Network namespaces as stand-in machines for tests: withNamespaces() brings up N namespaces joined by
// a bridge with every link limited to a rate (scripts/netns-cluster.sh does the work), runs the body,
// and always removes them again, killing whatever still runs inside, even when the body throws.
// Needs root; where namespaces cannot be made it throws the script's reason, never skips.
import { spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childTmpDir, runBounded, startCollecting, type Finished } from './processes.js';
import { isAlive, within } from '../comm/fixtures/procs.js';

/** scripts/netns-cluster.sh, from a test bundle at dist/test/<dir>/<name>.test.js. */
export const NETNS_SCRIPT = fileURLToPath(new URL('../../../scripts/netns-cluster.sh', import.meta.url));

export interface Namespace {
  /** The namespace's name, as `ip netns` shows it: PREFIX0, PREFIX1, ... */
  name: string;
  /** Its address on the bridge (eth0 inside it). */
  address: string;
}

export interface NetnsCluster {
  prefix: string;
  rate: string;
  /** The root namespace's address on the bridge: where a launcher outside every namespace is reached. */
  hostAddress: string;
  namespaces: Namespace[];
  /**
   * Runs `script` with this Node inside `ns`'s network namespace, collecting its output. Through
   * `nsenter --net`, not `ip netns exec`: the latter remounts /sys, which programs needing
   * /sys/fs/cgroup (or a GPU driver reading /sys) would miss.
   */
  startNode(ns: Namespace, script: string, args: string[], env?: Record<string, string>): { child: ChildProcess; done: Promise<Finished> };
  /** Takes `ns`'s link down: its peers notice only through their own timeouts (no RST is sent). */
  cutLink(ns: Namespace): void;
  /** Brings `ns`'s link back up; its address and route come back with it. */
  restoreLink(ns: Namespace): void;
}

/** Runs scripts/netns-cluster.sh with `args`, bounded in time. */
export function netnsScript(args: string[], timeoutMs = 90_000, env: Record<string, string> = {}): Promise<Finished> {
  return runBounded('/bin/bash', [NETNS_SCRIPT, ...args], { ...process.env, ...env }, timeoutMs, `netns-cluster.sh ${args.join(' ')}`);
}

/** Namespaces and links with `prefix` that exist now: what down must leave empty. */
export function leftovers(prefix: string): string[] {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((line) => line.split(' ')[0]!);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').map((line) => (line.split(': ')[1] ?? '').split('@')[0]!);
  const ours = new RegExp(`^(${prefix}[0-9]+|${prefix}br|${prefix}v[0-9]+)$`);
  return [...namespaces, ...links].filter((name) => ours.test(name));
}

/** A prefix no other test process uses: its pid, and a letter per cluster it makes. */
let clustersMade = 0;
function uniquePrefix(): string {
  return `nst${process.pid}${String.fromCharCode(97 + (clustersMade++ % 26))}`;
}

/** Clusters that are up, removed synchronously should the test process exit before their finally runs. */
const upNow = new Set<string>();
process.on('exit', () => {
  for (const prefix of upNow) spawnSync('/bin/bash', [NETNS_SCRIPT, 'down', prefix], { stdio: 'ignore', timeout: 30_000 });
});

function parseStatus(prefix: string, rate: string, stdout: string): { hostAddress: string; namespaces: Namespace[] } {
  const bridge = /^bridge \S+ (\d+\.\d+\.\d+\.\d+)\/24$/m.exec(stdout);
  const namespaces = [...stdout.matchAll(/^namespace (\S+) (\d+\.\d+\.\d+\.\d+) /gm)].map((m) => ({ name: m[1]!, address: m[2]! }));
  if (!bridge || namespaces.length === 0) throw new Error(`netns-cluster.sh up ${rate} ${prefix} printed no bridge or namespaces:\n${stdout}`);
  return { hostAddress: bridge[1]!, namespaces };
}

/**
 * Brings up `n` namespaces whose links are limited to `rate` (e.g. '100mbit'), runs `body` with them
 * and removes them afterwards, whatever the body did; processes started with `startNode` are killed
 * by then. The body's error is rethrown as it is, unless the teardown failed too (then both, in an
 * AggregateError).
 */
export async function withNamespaces<T>(n: number, rate: string, body: (cluster: NetnsCluster) => Promise<T>, options: { prefix?: string } = {}): Promise<T> {
  const prefix = options.prefix ?? uniquePrefix();
  const started = await netnsScript(['up', String(n), rate, prefix]);
  if (started.code !== 0) {
    throw new Error(`could not bring up ${n} network namespaces at ${rate} (scripts/netns-cluster.sh up ${n} ${rate} ${prefix} exited ${started.code}):\n${started.stderr}${started.stdout}`);
  }
  upNow.add(prefix);
  const children: Array<{ ns: string; child: ChildProcess; done: Promise<Finished> }> = [];
  let outcome: { value: T } | { error: unknown };
  try {
    const { hostAddress, namespaces } = parseStatus(prefix, rate, started.stdout);
    const cluster: NetnsCluster = {
      prefix,
      rate,
      hostAddress,
      namespaces,
      startNode(ns, script, args, env = {}) {
        const { child, done } = startCollecting('nsenter', [`--net=/run/netns/${ns.name}`, '--', process.execPath, script, ...args], {
          ...process.env, TMPDIR: childTmpDir(), ...env,
        });
        children.push({ ns: ns.name, child, done });
        return { child, done };
      },
      cutLink(ns) {
        execFileSync('ip', ['-n', ns.name, 'link', 'set', 'eth0', 'down']);
      },
      restoreLink(ns) {
        execFileSync('ip', ['-n', ns.name, 'link', 'set', 'eth0', 'up']);
      },
    };
    outcome = { value: await body(cluster) };
  } catch (error) {
    outcome = { error };
  }
  const teardownError = await teardown(prefix, children);
  if ('error' in outcome) {
    if (teardownError) throw new AggregateError([outcome.error, teardownError], `the body failed (${String(outcome.error)}) and so did the teardown (${teardownError.message})`);
    throw outcome.error;
  }
  if (teardownError) throw teardownError;
  return outcome.value;
}

/** Runs down and checks that it left nothing: no namespace or link, no process it started alive. */
async function teardown(prefix: string, children: Array<{ ns: string; child: ChildProcess; done: Promise<Finished> }>): Promise<Error | undefined> {
  let down: Finished;
  try {
    down = await netnsScript(['down', prefix]);
  } catch (e) {
    return e as Error;
  }
  if (down.code !== 0) return new Error(`scripts/netns-cluster.sh down ${prefix} exited ${down.code}:\n${down.stderr}`);
  upNow.delete(prefix);
  const left = leftovers(prefix);
  if (left.length > 0) return new Error(`scripts/netns-cluster.sh down ${prefix} left ${left.join(', ')} behind`);
  // down killed what ran inside (the namespace would outlive its deletion otherwise); wait for the pipes to close.
  try {
    await within(10_000, Promise.all(children.map((c) => c.done)), `processes in ${prefix}* to end after down`);
  } catch (e) {
    return e as Error;
  }
  const alive = children.filter((c) => c.child.pid !== undefined && isAlive(c.child.pid));
  if (alive.length > 0) return new Error(`processes outlived down ${prefix}: ${alive.map((c) => `${c.child.pid} in ${c.ns}`).join(', ')}`);
  return undefined;
}
