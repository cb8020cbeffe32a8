// The launcher and reduction server (torchrun / `accelerate launch` in one): forks the worker
// processes, serves their collectives over a Unix socket, and stops the whole run cleanly when a
// worker fails, hangs, or the user presses Ctrl-C, leaving no process behind.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkIsOff, type LinkOptions } from './link.js';
import { payloadToFloat32, type CollectiveTag, type Message } from './protocol.js';
import { meanOf } from './reduce.js';
import { FramedConnection } from './transport.js';
import { ENV } from './worker-channel.js';

export type { LinkOptions } from './link.js';

export interface LaunchOptions {
  procs: number;
  /** Absolute path of the worker program (a bundled .js). */
  workerScript: string;
  workerArgs: string[];
  env?: Record<string, string>;
  link?: LinkOptions | undefined;
  /** A rank silent this long while others wait in a collective is declared hung. Default 120 s. */
  timeoutMs?: number;
  onLog?: (rank: number, record: unknown) => void;
  onInterrupt?: (coordinator: CoordinatorHandle) => void | Promise<void>;
  onRoundComplete?: (info: { tag: CollectiveTag; round: number; averaged: Float32Array }) => void;
}

export interface CommStats {
  /** Completed all-reduce rounds (parameters and gradients). */
  rounds: number;
  bytesSent: number;
  bytesReceived: number;
  perRank: Array<{ rank: number; bytesSent: number; bytesReceived: number }>;
  /** Time spent computing means. */
  reduceSeconds: number;
}

export interface CoordinatorHandle {
  lastAveraged(tag: CollectiveTag): Float32Array | undefined;
  stats(): CommStats;
}

export interface LaunchResult {
  summaries: unknown[];
  stats: CommStats;
  wallSeconds: number;
}

export class WorkerFailedError extends Error {
  override name = 'WorkerFailedError';
  constructor(message: string, readonly rank: number, readonly exitCode: number | null, readonly signal: string | null, readonly stderrTail: string) {
    super(message);
  }
}

export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

const STDERR_TAIL_LINES = 20;
/** How long workers get between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;

interface Worker {
  rank: number;
  process: ChildProcess;
  connection?: FramedConnection;
  stderrTail: string[];
  lastHeard: number;
  done: boolean;
  exited: Promise<void>;
  summary?: unknown;
  reportedError?: string;
}

interface PendingRound {
  tag: CollectiveTag | 'broadcast';
  round: number;
  count: number;
  firstRank: number;
  arrived: Map<number, Float32Array>;
}

export function launch(options: LaunchOptions): Promise<LaunchResult> {
  return new Coordinator(options).run();
}

class Coordinator implements CoordinatorHandle {
  private readonly workers: Worker[] = [];
  private readonly socketPath = join(tmpdir(), `local-sgd-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
  private server: Server | undefined;
  private readonly pending = new Map<string, PendingRound>();
  private readonly expectedRound = new Map<string, number>();
  private readonly averaged = new Map<CollectiveTag, Float32Array>();
  private readonly scratch = { acc: undefined as Float64Array | undefined };
  private rounds = 0;
  private reduceSeconds = 0;
  private finished = false;
  private resolveRun!: (r: LaunchResult) => void;
  private rejectRun!: (e: Error) => void;
  private readonly start = performance.now();
  private watchdog: NodeJS.Timeout | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => void this.interrupt(signal);

  constructor(private readonly options: LaunchOptions) {
    if (!Number.isInteger(options.procs) || options.procs < 1) throw new RangeError(`launch: procs must be a whole number >= 1 (got ${options.procs})`);
  }

  lastAveraged(tag: CollectiveTag): Float32Array | undefined {
    return this.averaged.get(tag);
  }

  stats(): CommStats {
    const perRank = this.workers.map((w) => ({ rank: w.rank, bytesSent: w.connection?.bytesSent ?? 0, bytesReceived: w.connection?.bytesReceived ?? 0 }));
    return {
      rounds: this.rounds,
      bytesSent: perRank.reduce((s, r) => s + r.bytesSent, 0),
      bytesReceived: perRank.reduce((s, r) => s + r.bytesReceived, 0),
      perRank,
      reduceSeconds: this.reduceSeconds,
    };
  }

  async run(): Promise<LaunchResult> {
    const result = new Promise<LaunchResult>((resolve, reject) => {
      this.resolveRun = resolve;
      this.rejectRun = reject;
    });
    await this.listen();
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    for (let rank = 0; rank < this.options.procs; rank++) this.spawn(rank);
    const timeoutMs = this.options.timeoutMs ?? 120_000;
    this.watchdog = setInterval(() => this.checkForHangs(timeoutMs), Math.min(1000, timeoutMs / 4));
    return result;
  }

  private listen(): Promise<void> {
    this.server = createServer((socket) => this.accept(socket));
    return new Promise((resolve, reject) => {
      this.server!.once('error', (e) => reject(new Error(`cannot listen on ${this.socketPath}: ${e.message}`)));
      this.server!.listen(this.socketPath, resolve);
    });
  }

  private spawn(rank: number): void {
    const link = this.options.link;
    const child = fork(this.options.workerScript, this.options.workerArgs, {
      env: {
        ...process.env,
        ...this.options.env,
        [ENV.socket]: this.socketPath,
        [ENV.rank]: String(rank),
        [ENV.worldSize]: String(this.options.procs),
        ...(linkIsOff(link) ? {} : { [ENV.link]: JSON.stringify(link, (_, v) => (v === Infinity ? 'Infinity' : v)) }),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const worker: Worker = {
      rank, process: child, stderrTail: [], lastHeard: performance.now(), done: false,
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    this.workers[rank] = worker;
    child.stdout!.on('data', (d: Buffer) => {
      if (rank === 0) process.stdout.write(d);
    });
    let partial = '';
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (/artificially reduced from/.test(line)) continue; // Dawn's harmless limits notice, printed by every device
        worker.stderrTail.push(line);
        if (worker.stderrTail.length > STDERR_TAIL_LINES) worker.stderrTail.shift();
        process.stderr.write(`[rank ${rank}] ${line}\n`);
      }
    });
    child.once('exit', (code, signal) => this.onExit(worker, code, signal));
    child.on('error', (e) => this.fail(new WorkerFailedError(`rank ${rank} could not start: ${e.message}`, rank, null, null, '')));
  }

  private accept(socket: Socket): void {
    let rank: number | undefined;
    let connection: FramedConnection;
    const peer = () => (rank === undefined ? 'an unidentified worker' : `rank ${rank}`);
    connection = new FramedConnection(socket, 'a worker', (message, payload) => {
      if (rank === undefined) {
        if (message.type !== 'hello' || message.worldSize !== this.options.procs || !this.workers[message.rank] || this.workers[message.rank]!.connection) {
          this.fail(new Error(`a worker connected with ${JSON.stringify(message)}; expected hello from an unconnected rank of ${this.options.procs}`));
          socket.destroy();
          return;
        }
        rank = message.rank;
        this.workers[rank]!.connection = connection;
        this.workers[rank]!.lastHeard = performance.now();
        return;
      }
      this.workers[rank]!.lastHeard = performance.now();
      try {
        this.handle(this.workers[rank]!, message, payload);
      } catch (e) {
        this.fail(new Error(`${peer()}: ${(e as Error).message}`));
      }
    }, (error) => this.fail(new Error(`${peer()}: ${error.message}`)), this.options.link);
  }

  private handle(worker: Worker, message: Message, payload: Buffer): void {
    switch (message.type) {
      case 'allreduce':
        this.arrive(worker.rank, message.tag, message.round, message.count, payloadToFloat32(payload));
        return;
      case 'broadcast': {
        const data = worker.rank === 0 ? payloadToFloat32(payload) : new Float32Array(0);
        if (worker.rank === 0 && data.length !== message.count) throw new Error(`broadcast of ${message.count} floats carried ${data.length}`);
        if (worker.rank !== 0 && payload.length !== 0) throw new Error('only rank 0 sends data in a broadcast');
        this.arrive(worker.rank, 'broadcast', message.round, message.count, data);
        return;
      }
      case 'log':
        this.options.onLog?.(worker.rank, message.record);
        return;
      case 'done':
        worker.done = true;
        worker.summary = message.summary;
        return;
      case 'error':
        worker.reportedError = message.message;
        return;
      default:
        throw new Error(`unexpected ${message.type} message from a worker`);
    }
  }

  private arrive(rank: number, tag: CollectiveTag | 'broadcast', round: number, count: number, data: Float32Array): void {
    const counterKey = `${tag}:${rank}`;
    const expected = (this.expectedRound.get(counterKey) ?? 0) + 1;
    if (round !== expected) throw new Error(`sent ${tag} round ${round}, expected round ${expected}`);
    this.expectedRound.set(counterKey, round);
    const key = `${tag}:${round}`;
    let pending = this.pending.get(key);
    // In a broadcast only rank 0's count matters: the others receive whatever it sends.
    const sized = tag !== 'broadcast' || rank === 0;
    if (!pending) {
      pending = { tag, round, count: sized ? count : -1, firstRank: rank, arrived: new Map() };
      this.pending.set(key, pending);
    } else if (sized && pending.count === -1) {
      pending.count = count;
    } else if (sized && pending.count !== count) {
      throw new Error(`sent ${count} floats for ${key} but rank ${pending.firstRank} sent ${pending.count}; every worker must have the same model`);
    }
    pending.arrived.set(rank, data);
    if (pending.arrived.size === this.options.procs) this.complete(pending, key);
  }

  private complete(p: PendingRound, key: string): void {
    this.pending.delete(key);
    let result: Float32Array;
    if (p.tag === 'broadcast') {
      result = p.arrived.get(0)!;
    } else {
      const t = performance.now();
      const inputs = [...p.arrived.keys()].sort((a, b) => a - b).map((r) => p.arrived.get(r)!);
      if (!this.scratch.acc || this.scratch.acc.length < p.count) this.scratch.acc = new Float64Array(p.count);
      result = meanOf(inputs, new Float32Array(p.count), this.scratch.acc);
      this.reduceSeconds += (performance.now() - t) / 1000;
      this.rounds++;
      this.averaged.set(p.tag, result);
      this.options.onRoundComplete?.({ tag: p.tag, round: p.round, averaged: result });
    }
    const bytes = new Uint8Array(result.buffer, result.byteOffset, result.byteLength);
    for (const w of this.workers) {
      const payload = p.tag === 'broadcast' && w.rank === 0 ? new Uint8Array(0) : bytes;
      w.connection!.send({ type: 'result', tag: p.tag, round: p.round, count: payload.byteLength / 4 }, payload);
    }
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.finished) return;
    if (worker.done && code === 0) {
      if (this.workers.every((w) => w.done)) this.succeedWhenAllExited();
      return;
    }
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const said = worker.reportedError ? `: ${worker.reportedError}` : '';
    const tail = worker.stderrTail.join('\n');
    this.fail(new WorkerFailedError(
      `worker rank ${worker.rank} ${how}${said}${tail && !worker.reportedError ? `\nlast lines of its stderr:\n${tail}` : ''}`,
      worker.rank, code, signal, tail,
    ));
  }

  private succeedWhenAllExited(): void {
    void Promise.all(this.workers.map((w) => w.exited)).then(async () => {
      if (this.finished) return;
      await this.shutdown();
      this.resolveRun({ summaries: this.workers.map((w) => w.summary), stats: this.stats(), wallSeconds: (performance.now() - this.start) / 1000 });
    });
  }

  private checkForHangs(timeoutMs: number): void {
    if (this.finished || this.pending.size === 0) return;
    const now = performance.now();
    for (const p of this.pending.values()) {
      const silent = this.workers.filter((w) => !p.arrived.has(w.rank) && now - w.lastHeard > timeoutMs);
      if (silent.length) {
        const ranks = silent.map((w) => w.rank).join(', ');
        this.fail(new WorkerFailedError(
          `worker rank ${ranks} did not answer for ${(timeoutMs / 1000).toFixed(1)} s while the others waited in ${p.tag} round ${p.round} (hung?); raise --worker-timeout if its steps are that slow`,
          silent[0]!.rank, null, null, silent[0]!.stderrTail.join('\n'),
        ));
        return;
      }
    }
  }

  private async interrupt(signal: NodeJS.Signals): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    try {
      await this.options.onInterrupt?.(this);
    } catch (e) {
      process.stderr.write(`while stopping: ${(e as Error).message}\n`);
    }
    await this.shutdown();
    this.rejectRun(new InterruptedError(`${signal} received; all workers stopped`));
  }

  private fail(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    void this.shutdown().then(() => this.rejectRun(error));
  }

  /** Stop, SIGTERM, then SIGKILL every live worker; wait until all are gone; remove the socket. */
  private async shutdown(): Promise<void> {
    this.finished = true;
    if (this.watchdog) clearInterval(this.watchdog);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    const alive = this.workers.filter((w) => w.process.exitCode === null && w.process.signalCode === null);
    for (const w of alive) {
      try {
        w.connection?.send({ type: 'stop' });
      } catch { /* the socket may already be gone */ }
      w.process.kill('SIGTERM');
    }
    const killer = setTimeout(() => alive.forEach((w) => w.process.kill('SIGKILL')), KILL_GRACE_MS);
    await Promise.all(this.workers.map((w) => w.exited));
    clearTimeout(killer);
    for (const w of this.workers) w.connection?.socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
