// The multi-machine benchmark's runs: 2 machines × 2 workers, one train.js launcher per network
// namespace over a real rate-limited link, and the same two launchers on one machine over loopback
// with the link simulator at the same bandwidth on each machine's link to the master (the real
// topology, its bytes and its order: the machine's float64 sum up, then the result down); and the
// record each run leaves.
import { spawn } from 'node:child_process';
import { recordsOf, readMetrics, summaryOf, type MetricsRecord } from '../../../src/train/metrics.js';
import type { RunSummary } from '../../../src/train/summary.js';
import type { Cluster } from './netns.js';

export interface Mode {
  name: string;
  label: string;
  /** null: synchronous data-parallel (gradients averaged every step). */
  localSgdSteps: number | null;
  /** --cross-node-every M (machine-local rounds between cross-machine ones); 1 for none. */
  crossNodeEvery: number;
}

export const MODES: Mode[] = [
  { name: 'sync', label: 'sync', localSgdSteps: null, crossNodeEvery: 1 },
  { name: 'k8', label: 'K=8', localSgdSteps: 8, crossNodeEvery: 1 },
  { name: 'k32-m4', label: 'K=32, across machines every 4th round', localSgdSteps: 32, crossNodeEvery: 4 },
  // The quick configuration's small version of the last.
  { name: 'k4-m2', label: 'K=4, across machines every 2nd round', localSgdSteps: 4, crossNodeEvery: 2 },
];

export interface Workload {
  title: string;
  /** Data, model and length: the same for every run. */
  args: string[];
  steps: number;
  evalEvery: number;
  target: number;
}

// As bench:localsgd's MNIST group: 192 steps ≈ 3 epochs of each worker's 3,000 samples at batch 32.
// Evaluations at every 8th step are as fine as K=8's averaging points allow (K=32 with M=4 can be
// evaluated only at its cross-machine rounds, steps 128 and 192).
export const FULL: Workload = {
  title: 'MNIST 784-256-10', steps: 192, evalEvery: 8, target: 0.9,
  args: ['--data', 'mnist', '--hidden', '256', '--batch-size', '32', '--max-steps', '192', '--log-every', '8'],
};
export const QUICK: Workload = {
  title: 'quick: synthetic 20-16-5', steps: 16, evalEvery: 4, target: 0.5,
  args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
    '--hidden', '16', '--batch-size', '16', '--max-steps', '16', '--log-every', '4'],
};

export type Setup = 'real' | 'sim';

export interface Evaluation { step: number; trainSeconds: number; accuracy: number }

export interface RunRecord {
  link: string;
  linkBitsPerSecond: number;
  mode: string;
  label: string;
  setup: Setup;
  /** The train.js flags of this run (node rank and file paths left out). */
  args: string[];
  testAccuracy: number;
  finalTrainLoss: number;
  steps: number;
  /** Averaging rounds (machine-local ones included), and those that crossed the slow link. */
  rounds: number;
  slowLinkRounds: number;
  /** Rank 0's training seconds to the last step, evaluations excluded. */
  trainSeconds: number;
  /** Node 0's (or the one machine's) wall time, start-up and evaluations included. */
  wallSeconds: number;
  /** The first evaluation at or over the target, as measured (nothing interpolated); null if none reached it. */
  toTarget: Evaluation | null;
  /**
   * Bytes over the links that stand for the slow network. Real: the sum over machines of each
   * machine's link to the master (sent + received, whole frames, heartbeats excepted; node 0's link
   * is to its own launcher and stays on its loopback). Sim: the same, over loopback with node 1's link simulated.
   */
  linkBytes: number;
  /** Real: bytes of the links that crossed the kernel-limited veths (node ranks ≥ 1). Sim: as linkBytes. */
  shapedLinkBytes: number;
  /** Real: each machine's link, as its summary reports it. */
  machines: Array<{ nodeRank: number; linkBytesSent: number; linkBytesReceived: number }>;
  /**
   * Seconds the slowest link needs to carry one slow-link round's bytes at the nominal rate
   * (node 1's link, up then down: real, over the one shaped veth pair; sim, through the simulator).
   * The model that explains real against sim; see the report's text.
   */
  linkSecondsPerRound: number;
  evals: Evaluation[];
  adapter: string;
}

/** Rounds that cross the slow link: every step in sync mode; for Local SGD the M-th rounds and the closing one (LocalSGD's rule). */
export function slowLinkRounds(mode: Mode, steps: number): number {
  if (mode.localSgdSteps === null) return steps;
  const rounds = Math.ceil(steps / mode.localSgdSteps);
  let global = 0;
  for (let r = 1; r <= rounds; r++) if (r % mode.crossNodeEvery === 0 || r === rounds) global++;
  return global;
}

export function modeArgs(mode: Mode): string[] {
  if (mode.localSgdSteps === null) return ['--no-local-sgd'];
  const across = mode.crossNodeEvery > 1 ? ['--cross-node-every', String(mode.crossNodeEvery)] : [];
  return ['--local-sgd-steps', String(mode.localSgdSteps), ...across];
}

/** Runs `command args` to its end; rejects with the end of its output if it exits non-zero or runs past `ms`. */
export function runToEnd(command: string, args: string[], ms: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    // train.js has its own timeouts; this is the backstop against a hung benchmark.
    const killer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      if (code === 0) resolve(output);
      else reject(new Error(`${what} ${signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, past ${ms / 1000} s` : ''})` : `exited with code ${code}`}; its output ended with:\n${output.split('\n').slice(-15).join('\n')}`));
    });
  });
}

export interface RealRunOptions {
  trainJs: string;
  cluster: Cluster;
  tokenFile: string;
  /** Per node rank: where its --metrics go. */
  metrics: string[];
  port: number;
}

/** One launcher per namespace (node rank I in namespace I), `nprocPerNode` workers each; every node's records. */
export async function realRun(args: string[], nprocPerNode: number, o: RealRunOptions): Promise<MetricsRecord[][]> {
  const { namespaces } = o.cluster;
  const master = namespaces[0]!.address;
  await Promise.all(namespaces.map((ns, rank) => runToEnd('nsenter', [
    `--net=/run/netns/${ns.name}`, '--', process.execPath, o.trainJs, ...args,
    '--nnodes', String(namespaces.length), '--node-rank', String(rank), '--nproc-per-node', String(nprocPerNode),
    '--master-addr', master, '--master-port', String(o.port), '--join-token-file', o.tokenFile,
    '--metrics', o.metrics[rank]!, '--quiet',
  ], 900_000, `node rank ${rank} (namespace ${ns.name}): train.js ${args.join(' ')}`)));
  return o.metrics.map((m) => readMetrics(m));
}

/** One machine, `procs` workers, no simulated link: the untimed run that warms Mesa's shader cache. */
export async function oneMachineRun(trainJs: string, args: string[], procs: number, metrics: string): Promise<MetricsRecord[]> {
  await runToEnd(process.execPath, [trainJs, ...args, '--procs', String(procs), '--metrics', metrics, '--quiet'], 900_000, `one machine: train.js ${args.join(' ')}`);
  return readMetrics(metrics);
}

/**
 * The same machines on this one: one launcher per node rank over loopback, each machine's link to
 * the master simulated at `bandwidth` (train.js's --link-bandwidth across machines); every node's records.
 */
export async function simRun(args: string[], nodes: number, nprocPerNode: number, bandwidth: string, o: Omit<RealRunOptions, 'cluster'>): Promise<MetricsRecord[][]> {
  await Promise.all(Array.from({ length: nodes }, (_, rank) => runToEnd(process.execPath, [
    o.trainJs, ...args, '--nnodes', String(nodes), '--node-rank', String(rank), '--nproc-per-node', String(nprocPerNode),
    '--master-addr', '127.0.0.1', '--master-port', String(o.port), '--join-token-file', o.tokenFile,
    '--link-bandwidth', bandwidth, '--link-latency', '0', '--metrics', o.metrics[rank]!, '--quiet',
  ], 900_000, `simulated node rank ${rank}: train.js ${args.join(' ')}`)));
  return o.metrics.map((m) => readMetrics(m));
}

/** TCP/IPv4 over Ethernet: a full 1514-byte frame, which tbf counts, carries 1448 bytes of payload (timestamps on). */
export const WIRE_OVERHEAD = 1514 / 1448;

export interface RecordInput {
  link: string;
  linkBitsPerSecond: number;
  mode: Mode;
  setup: Setup;
  args: string[];
  workload: Workload;
  /** Node 0's records first, then node 1's… */
  nodes: MetricsRecord[][];
  procs: number;
}

export function toRecord(x: RecordInput): RunRecord {
  const what = `${x.setup} ${x.link} ${x.mode.label}`;
  const summaries: RunSummary[] = x.nodes.map((records, i) => summaryOf(records, `${what}, node ${i}`));
  const main = summaries[0]!;
  const evals = recordsOf(x.nodes[0]!, 'eval').map((e) => ({ step: e.step, trainSeconds: e.trainSeconds, accuracy: e.accuracy }));
  if (evals.length === 0) throw new Error(`${what}: rank 0 logged no evaluation`);
  const machines = summaries.map((s, i) => {
    if (!s.machine) throw new Error(`${what}: node ${i}'s summary has no machine record`);
    return { nodeRank: s.machine.nodeRank, linkBytesSent: s.machine.linkBytesSent, linkBytesReceived: s.machine.linkBytesReceived };
  });
  const slowRounds = slowLinkRounds(x.mode, main.steps);
  const bytesOf = (m: RunRecord['machines'][number]) => m.linkBytesSent + m.linkBytesReceived;
  const linkBytes = machines.reduce((s, m) => s + bytesOf(m), 0);
  const shapedLinkBytes = machines.filter((m) => m.nodeRank > 0).reduce((s, m) => s + bytesOf(m), 0);
  // Node 1's link carries its machine's share up and the result down, one after the other: over one
  // shaped veth pair (real), or through the simulator (sim).
  const perLinkRoundBytes = Math.max(...machines.filter((m) => m.nodeRank > 0).map(bytesOf)) / slowRounds;
  const overhead = x.setup === 'real' ? WIRE_OVERHEAD : 1; // the simulator charges payload bytes only
  return {
    link: x.link, linkBitsPerSecond: x.linkBitsPerSecond, mode: x.mode.name, label: x.mode.label, setup: x.setup, args: x.args,
    testAccuracy: main.testAccuracy, finalTrainLoss: main.finalTrainLoss, steps: main.steps, rounds: main.rounds, slowLinkRounds: slowRounds,
    trainSeconds: evals.at(-1)!.trainSeconds, wallSeconds: main.wallSeconds,
    toTarget: evals.find((e) => e.accuracy >= x.workload.target) ?? null,
    linkBytes, shapedLinkBytes, machines,
    linkSecondsPerRound: (perLinkRoundBytes * 8 * overhead) / x.linkBitsPerSecond,
    evals, adapter: main.adapter,
  };
}
