// Runs train.js as several machines on this one: one launcher process per node rank, all joining
// a master on 127.0.0.1 (a real TCP link, loopback), with a fresh join token. For tests that need
// rate-limited links between machines, see netns.ts.
import { chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { within } from '../comm/fixtures/procs.js';
import { startTrain, type Finished } from './processes.js';

/** A port nothing listens on now (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A join token file (0600) in `dir`. */
export function writeToken(path: string): string {
  writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export interface MachinesRun {
  nodes: number;
  perNode: number;
  /** Flags every machine gets. */
  args: string[];
  /** Flags for one machine only (e.g. --save on node 0). */
  nodeArgs?: (node: number) => string[];
  token: string;
  timeoutMs?: number;
}

/** The launch flags of node `node` (torchrun's). */
export function machineFlags(nodes: number, perNode: number, node: number, port: number, token: string, host = '127.0.0.1'): string[] {
  return [
    '--nnodes', String(nodes), '--node-rank', String(node), '--nproc-per-node', String(perNode),
    '--master-addr', host, '--master-port', String(port), '--join-token-file', token,
  ];
}

/** Starts every machine's launcher (the highest node rank first, so the others wait for the master) and waits for all to exit. */
export async function runMachines(run: MachinesRun): Promise<Finished[]> {
  const port = await freePort();
  const started = [];
  for (let node = run.nodes - 1; node >= 0; node--) {
    started[node] = startTrain([...machineFlags(run.nodes, run.perNode, node, port, run.token), ...run.args, ...(run.nodeArgs?.(node) ?? [])]);
  }
  try {
    return await within(run.timeoutMs ?? 120_000, Promise.all(started.map((s) => s!.done)), `${run.nodes} machines × ${run.perNode} workers`);
  } catch (error) {
    for (const s of started) s!.child.kill('SIGKILL');
    throw error;
  }
}

/** The last JSON line of a --metrics file: the run's summary. */
export function summaryOf(metricsText: string): Record<string, unknown> {
  const lines = metricsText.trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}
