// The launcher's public face: its options, what it reports, and the errors it stops a run with.
// Kept apart from launch.ts and the machinery behind it (collective-server.ts, supervisor.ts).
import { constants } from 'node:os';
import type { LinkOptions } from './link.js';
import type { TcpEndpoint } from './endpoint.js';
import type { TlsFiles } from './tls.js';
import type { CommDtype } from './delta-codec.js';
import type { OuterOptimizer } from './outer-optimizer.js';
import type { CollectiveKind, ReduceTag } from './protocol.js';
import type { TabOptions } from './tab-seats.js';
import { InterruptedError } from './interrupted.js';

export { InterruptedError };

export interface LaunchOptions {
  /** Workers in the whole run (on every machine). */
  procs: number;
  /** Several machines: where this one sits and how it reaches the master (see MachineOptions). */
  machines?: MachineOptions | undefined;
  /** The ranks started here: all of them (default), or on a machine of several, its own (launch() sets it). */
  ranks?: readonly number[];
  /** Browser tabs among the ranks: which ranks they take and how their page is served (tab-seats.ts). */
  tabs?: TabOptions | undefined;
  /**
   * The run's secret (handshake.ts), which every member proves. Default: a fresh random one. A run
   * with browser tabs derives it from the join token its link carries (join-token.ts).
   */
  secret?: Uint8Array | undefined;
  /** Absolute path of the worker program (a bundled .js). */
  workerScript: string;
  workerArgs: string[];
  /** Extra environment for the workers. */
  env?: Record<string, string>;
  /** The run's settings, sent to every worker in the server's init message (JSON; dist/worker.js's training config). */
  workerConfig?: unknown;
  /**
   * Simulated interconnect, both directions: on one machine every coordinator ↔ worker link; across
   * machines each machine's link to the master (node 0's excepted: it is local).
   */
  link?: LinkOptions | undefined;
  /**
   * The workers' --comm-dtype. Unless f32 (the default), the coordinator keeps a copy of each
   * 'params' round's result as the anchor of the next, compressed, round; with f32 it keeps none
   * and refuses compressed frames.
   */
  commDtype?: CommDtype;
  /** A rank silent this long while another waits in a collective is declared hung. Default 120 s. */
  timeoutMs?: number;
  onLog?: (rank: number, record: unknown) => void;
  onInterrupt?: (coordinator: CoordinatorHandle) => void | Promise<void>;
  /**
   * DiLoCo: steps the global weights with each 'params' round's pseudo-gradient, and takes θ from
   * every broadcast (rank 0's weights, which all workers then hold). Without it, rounds average.
   */
  outerOptimizer?: OuterOptimizer | undefined;
  /**
   * Each completed all-reduce round. `step` is the optimizer step the workers said the round
   * averaged after (a respawned worker starts at the last 'params' round's); `averaged` is the
   * server's buffer, valid during the call only (it is reused next round).
   */
  onRoundComplete?: (info: { tag: ReduceTag; round: number; step: number | undefined; averaged: Float32Array }) => void;
  /** Whose stdout reaches ours: rank 0's (default), everyone's (others prefixed `[rank N]`), or none. */
  stdout?: 'rank0' | 'all' | 'none';
  /** Echo workers' stderr, prefixed `[rank N]` (default true); the tail is kept for errors either way. */
  echoStderr?: boolean;
  /**
   * Also echo the driver notices every healthy worker prints (worker-output.ts,
   * HARMLESS_DRIVER_NOTICES), once each. Default false: hidden, though kept in the tail for errors.
   */
  verbose?: boolean;
  /** Each worker's pid as it starts, and the socket path once listening (for tools and tests). */
  onWorkerStarted?: (info: { rank: number; pid: number }) => void;
  onListening?: (socketPath: string) => void;
  /** Between SIGTERM and SIGKILL when stopping workers. Default 2000 ms. */
  killGraceMs?: number;
  /**
   * What a lost worker (killed, exited before done, or hung past timeoutMs) does to the run:
   * 'abort' stops it (default); 'continue' drops the rank and averages the others from then on;
   * 'respawn' starts a new process for the rank, which rejoins from the last parameter all-reduce.
   */
  onWorkerFailure?: WorkerFailurePolicy;
  /** 'respawn': new processes each rank may get; one more loss stops the run. Default 3. */
  maxRespawns?: number;
  /** Each lost worker, once the coordinator has dropped or replaced it. */
  onWorkerLost?: (event: WorkerLostEvent) => void;
}

export type WorkerFailurePolicy = 'abort' | 'continue' | 'respawn';

/** One machine of a run across several (torchrun's --nnodes, --node-rank, --nproc-per-node, --master-addr, --master-port). */
export interface MachineOptions {
  nodes: number;
  nodeRank: number;
  /** Workers on every machine: node n's are ranks n·perNode … n·perNode + perNode − 1. */
  perNode: number;
  /** Where node 0's launcher (the master) listens and every machine connects. */
  master: TcpEndpoint;
  /** The join secret (join-token.ts), or with `insecure` the public one. */
  secret: Uint8Array;
  insecure?: boolean;
  tls?: TlsFiles | undefined;
  /** How long the master waits for every machine, and a machine tries to reach it. */
  rendezvousTimeoutMs: number;
  /** The run's settings every machine must share, flag name → value; the master refuses a machine whose differ. */
  settings: Record<string, string>;
  /** This machine's name, for the master's lines. */
  host: string;
  /** The master's lines about machines joining, refused or lost (default: stderr). */
  onLine?: (line: string) => void;
}

export interface WorkerLostEvent {
  rank: number;
  /** What happened, e.g. "was killed by SIGKILL", with the last lines of its stderr. */
  reason: string;
  action: 'dropped' | 'respawned';
  /** Ranks the collectives wait for from now on. */
  liveRanks: number[];
  /** Collectives every rank had completed when it was lost (a respawned process starts after these). */
  completed: Record<CollectiveKind, number>;
  /** Processes this rank has been given after the first (respawn). */
  restarts: number;
}

export interface RoundStats {
  tag: ReduceTag;
  round: number;
  /** Payload bytes one rank sends (and receives back). */
  bytesPerRank: number;
  reduceSeconds: number;
  /** Slowest inbound frame (first byte to delivered) plus slowest outbound result (handed to the OS). */
  transferSeconds: number;
  /** From the first rank's data arriving to the last's: the ranks' compute imbalance, not the network. */
  skewSeconds: number;
}

export interface CommStats {
  /** Completed all-reduce rounds (parameters and gradients; broadcasts not counted). */
  rounds: number;
  /** Whole frames the coordinator sent and received, over all ranks. */
  bytesSent: number;
  bytesReceived: number;
  perRank: Array<{ rank: number; bytesSent: number; bytesReceived: number }>;
  /** Coordinator time spent computing means, and moving round data (see RoundStats). */
  reduceSeconds: number;
  transferSeconds: number;
  broadcasts: number;
  lastRound: RoundStats | undefined;
  /** Across machines: this machine's link to the master (whole frames each way, heartbeats excepted), and the steps of its parameter rounds. */
  crossMachine?: { bytesSent: number; bytesReceived: number; parameterRoundSteps: number[] };
}

export interface CoordinatorHandle {
  /** A copy of the last mean for `tag`, or undefined before the first round. */
  lastAveraged(tag: ReduceTag): Float32Array | undefined;
  stats(): CommStats;
}

export interface LaunchResult {
  /** Each rank's done summary, by rank. */
  summaries: unknown[];
  /** Workers lost along the way ('continue' and 'respawn'); a dropped rank's summary is undefined. */
  lost: WorkerLostEvent[];
  stats: CommStats;
  wallSeconds: number;
  /** The last parameter average (what every member held after the last round); undefined if none. */
  lastParameters: Float32Array | undefined;
}

export class WorkerFailedError extends Error {
  override name = 'WorkerFailedError';
  constructor(message: string, readonly rank: number, readonly exitCode: number | null, readonly signal: string | null, readonly stderrTail: string) {
    super(message);
  }
}

export class WorkerTimeoutError extends Error {
  override name = 'WorkerTimeoutError';
  constructor(message: string, readonly ranks: number[]) {
    super(message);
  }
}

/** Signals that stop a run cleanly, saving what it can: Ctrl-C, a kill, the terminal going away. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The exit status of a run stopped by `signal`, as a shell reports a process it killed: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

