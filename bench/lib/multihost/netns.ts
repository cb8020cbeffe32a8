// Network namespaces as stand-in machines for the benchmark (scripts/netns-cluster.sh does the
// work): up, and a down that runs however the benchmark ends: normally, on an error, on Ctrl-C or
// SIGTERM, or on process exit (synchronously, so even an uncaught error cannot leave them behind).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// This file is bundled into dist/bench/multihost.js, so the repository root is two folders up.
const SCRIPT = fileURLToPath(new URL('../../scripts/netns-cluster.sh', import.meta.url));

export interface Cluster {
  prefix: string;
  rate: string;
  /** Namespace names and their addresses on the bridge, in order: node rank I runs in namespaces[I]. */
  namespaces: Array<{ name: string; address: string }>;
}

const upNow = new Set<string>();
let handlersInstalled = false;

function script(args: string[]): { code: number; output: string } {
  const r = spawnSync('/bin/bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 90_000 });
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Removes the namespaces of `prefix` (killing what runs inside); throws with the script's words if it could not. */
export function down(prefix: string): void {
  const r = script(['down', prefix]);
  if (r.code !== 0) throw new Error(`scripts/netns-cluster.sh down ${prefix} failed (exit ${r.code}):\n${r.output}`);
  upNow.delete(prefix);
}

function downAll(): void {
  for (const prefix of [...upNow]) {
    try {
      down(prefix);
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', downAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: removing the network namespaces (${[...upNow].join(', ') || 'none up'}) and stopping\n`);
      downAll();
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[signal]);
    });
  }
}

/** Brings up `n` namespaces whose links the kernel limits to `rate`; `down(prefix)` (or process exit) removes them. */
export function up(n: number, rate: string, prefix: string): Cluster {
  installHandlers();
  const r = script(['up', String(n), rate, prefix]);
  if (r.code !== 0) {
    throw new Error(`could not bring up ${n} network namespaces at ${rate} (scripts/netns-cluster.sh up ${n} ${rate} ${prefix} exited ${r.code}); ` +
      `the multi-machine benchmark needs root and the kernel's tbf qdisc:\n${r.output}`);
  }
  upNow.add(prefix);
  const namespaces = [...r.output.matchAll(/^namespace (\S+) (\d+\.\d+\.\d+\.\d+) /gm)].map((m) => ({ name: m[1]!, address: m[2]! }));
  if (namespaces.length !== n) {
    down(prefix);
    throw new Error(`scripts/netns-cluster.sh up ${n} ${rate} ${prefix} printed ${namespaces.length} namespaces:\n${r.output}`);
  }
  return { prefix, rate, namespaces };
}
