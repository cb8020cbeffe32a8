// The launcher and reduction server (torchrun / `accelerate launch` in one): forks the worker
// processes, serves their collectives over a Unix socket, and stops the whole run cleanly when a
// worker fails, hangs, or the user presses Ctrl-C, leaving no process and no socket file behind.
// With onWorkerFailure 'continue' or 'respawn' a lost worker does not stop the run (torchft's idea):
// its rank is dropped from the collectives, or a new process takes it over.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollectiveMismatchError, CollectiveTracker, describeCollective, type OpenCollective } from './collective.js';
import { SimulatedLink, linkIsOff, validateLink, type LinkOptions } from './link.js';
import { bytesPerElement, DeltaCodec, type CommDtype } from './delta-codec.js';
import type { OuterOptimizer } from './outer-optimizer.js';
import { asFloat32, bytesOf, ProtocolError, WORKER_SENDS, type Header, type ReduceTag } from './protocol.js';
import { meanOf } from './reduce.js';
import { FrameConnection } from './transport.js';
import { ENV, type RejoinEnv } from './worker-channel.js';

export type { LinkOptions } from './link.js';
export { CollectiveMismatchError } from './collective.js';
export { ProtocolError } from './protocol.js';

export * from './launch-api.js';
import {
  InterruptedError, WorkerFailedError, WorkerTimeoutError,
  type CommStats, type CoordinatorHandle, type LaunchOptions, type LaunchResult, type RoundStats, type WorkerFailurePolicy, type WorkerLostEvent,
} from './launch-api.js';

const STDERR_TAIL_LINES = 20;
/** Dawn's notice about an adapter limit it lowered; identical in every worker. */
const ADAPTER_NOTICE = /^Warning: max\w+ artificially reduced from \d+ to \d+/;
/** After a worker reports an error, how long it gets to exit by itself (so its own exit code is reported). */
const REPORTED_ERROR_EXIT_MS = 1000;
/** How long workers that sent stop get to exit before SIGTERM. */
const STOP_GRACE_MS = 300;
/** Once every rank is done, how long they get to exit before they are stopped. */
const EXIT_AFTER_DONE_MS = 10_000;
const DEFAULT_MAX_RESPAWNS = 3;

interface Worker {
  rank: number;
  child: ChildProcess;
  connection: FrameConnection | undefined;
  stderrTail: string[];
  spawnedAt: number;
  done: boolean;
  summary: unknown;
  reportedError: string | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  gone: boolean;
  whenGone: Promise<void>;
  /** Reusable payload buffers, one per all-reduce tag (a rank has at most one round in flight). */
  inputs: Partial<Record<ReduceTag, Float32Array>>;
  /** Processes that held this rank before this one. */
  restarts: number;
  /** Bytes moved by those earlier processes, so the run's totals survive a respawn. */
  priorBytes: { sent: number; received: number };
  /** Set when the watchdog killed it for hanging (not 'abort'): how it is described once gone. */
  hung: string | undefined;
  /** Dropped or replaced: its frames no longer count. */
  lost: boolean;
  /** Where a compressed round's 16-bit payload lands before it is decoded into inputs.params. */
  packed: Uint8Array;
}

export function launch(options: LaunchOptions): Promise<LaunchResult> {
  return new Coordinator(options).run();
}

class Coordinator implements CoordinatorHandle {
  private readonly workers: Worker[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'local-sgd-'));
  private readonly socketPath = join(this.dir, 'coordinator.sock');
  private readonly server: Server = createServer((socket) => this.accept(socket));
  private readonly tracker: CollectiveTracker;
  private readonly averaged = new Map<ReduceTag, Float32Array>();
  private scratch: Float64Array | undefined;
  private readonly echoedNotices = new Set<string>();
  /** Compressed 'params' rounds (--comm-dtype f16|bf16): the anchor, decoding and encoding. */
  private readonly codec = new DeltaCodec();
  private readonly totals = { reduceSeconds: 0, transferSeconds: 0, rounds: 0 };
  private lastRound: RoundStats | undefined;
  /** Per rank, how long its frame of the open collective took to arrive (first byte to delivered). */
  private readonly inboundMs: number[];
  /** Set once the run is ending (success, failure or interrupt): frames and exits stop mattering. */
  private stopping = false;
  private killedHard = false;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startedAt = performance.now();
  private readonly timeoutMs: number;
  private readonly policy: WorkerFailurePolicy;
  private readonly lost: WorkerLostEvent[] = [];
  private settle!: { resolve: (r: LaunchResult) => void; reject: (e: Error) => void };
  private readonly onSignal = (signal: NodeJS.Signals) => void this.interrupt(signal);

  constructor(private readonly options: LaunchOptions) {
    if (!Number.isInteger(options.procs) || options.procs < 1) {
      throw new RangeError(`launch: procs must be a whole number ≥ 1 (got ${options.procs})`);
    }
    if (options.link) validateLink(options.link);
    this.timeoutMs = options.timeoutMs ?? 120_000;
    if (!(this.timeoutMs > 0)) throw new RangeError(`launch: timeoutMs must be > 0 (got ${options.timeoutMs})`);
    this.policy = options.onWorkerFailure ?? 'abort';
    const maxRespawns = options.maxRespawns ?? DEFAULT_MAX_RESPAWNS;
    if (!Number.isInteger(maxRespawns) || maxRespawns < 0) throw new RangeError(`launch: maxRespawns must be a whole number ≥ 0 (got ${maxRespawns})`);
    this.tracker = new CollectiveTracker(options.procs);
    this.inboundMs = new Array<number>(options.procs).fill(0);
  }

  lastAveraged(tag: ReduceTag): Float32Array | undefined {
    return this.averaged.get(tag)?.slice();
  }

  stats(): CommStats {
    const perRank = this.workers.map((w) => ({
      rank: w.rank,
      bytesSent: w.priorBytes.sent + (w.connection?.bytesSent ?? 0),
      bytesReceived: w.priorBytes.received + (w.connection?.bytesReceived ?? 0),
    }));
    return {
      rounds: this.totals.rounds,
      bytesSent: perRank.reduce((s, r) => s + r.bytesSent, 0),
      bytesReceived: perRank.reduce((s, r) => s + r.bytesReceived, 0),
      perRank,
      reduceSeconds: this.totals.reduceSeconds,
      transferSeconds: this.totals.transferSeconds,
      broadcasts: this.tracker.completed.broadcast,
      lastRound: this.lastRound,
    };
  }

  async run(): Promise<LaunchResult> {
    const result = new Promise<LaunchResult>((resolve, reject) => (this.settle = { resolve, reject }));
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', (e) => reject(new Error(`cannot listen on ${this.socketPath}: ${e.message}`)));
        this.server.listen(this.socketPath, resolve);
      });
    } catch (error) {
      rmSync(this.dir, { recursive: true, force: true });
      throw error;
    }
    this.options.onListening?.(this.socketPath);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    for (let rank = 0; rank < this.options.procs; rank++) this.spawn(rank);
    this.watchdog = setInterval(() => this.checkForHangs(), Math.min(1000, this.timeoutMs / 4));
    return result;
  }

  // ---- processes ----

  private spawn(rank: number, rejoin?: RejoinEnv): void {
    const previous = this.workers[rank];
    const child = fork(this.options.workerScript, this.options.workerArgs, {
      env: {
        ...process.env, ...this.options.env, [ENV.socket]: this.socketPath, [ENV.rank]: String(rank), [ENV.worldSize]: String(this.options.procs),
        ...(rejoin ? { [ENV.rejoin]: JSON.stringify(rejoin) } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group, so a terminal's Ctrl-C reaches only the coordinator, which decides
      // how to stop (saving the last averaged weights first).
      detached: true,
    });
    let markGone!: () => void;
    const worker: Worker = {
      rank, child, connection: undefined, stderrTail: [], spawnedAt: performance.now(), done: false, summary: undefined,
      reportedError: undefined, exit: undefined, gone: false, whenGone: new Promise((resolve) => (markGone = resolve)), inputs: {},
      packed: new Uint8Array(0), restarts: rejoin?.restarts ?? 0, hung: undefined, lost: false,
      priorBytes: previous
        ? { sent: previous.priorBytes.sent + (previous.connection?.bytesSent ?? 0), received: previous.priorBytes.received + (previous.connection?.bytesReceived ?? 0) }
        : { sent: 0, received: 0 },
    };
    this.workers[rank] = worker;
    if (child.pid !== undefined) this.options.onWorkerStarted?.({ rank, pid: child.pid });
    this.pipeOutput(worker);
    const gone = () => {
      if (worker.gone) return;
      worker.gone = true;
      markGone();
      // Judge the exit only after its last frames are in: a worker that sent done and exited may
      // still have done in the socket or on the simulated link.
      const drained = worker.connection ? worker.connection.drained() : Promise.resolve();
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise((resolve) => (timer = setTimeout(resolve, 2000)));
      void Promise.race([drained, bound]).then(() => {
        clearTimeout(timer);
        this.onWorkerGone(worker);
      });
    };
    // 'close' waits for stdio to end, so the stderr tail is complete; the timer covers a
    // grandchild that keeps the pipes open.
    child.once('exit', (code, signal) => {
      worker.exit = { code, signal };
      setTimeout(gone, 500).unref();
    });
    child.once('close', gone);
    child.on('error', (e) => {
      // Spawn failures (and kill() on a dead pid) land here; an exit follows a real spawn.
      if (child.pid === undefined) {
        worker.exit = { code: null, signal: null };
        worker.stderrTail.push(`could not start ${this.options.workerScript}: ${e.message}`);
        gone();
      }
    });
  }

  private pipeOutput(worker: Worker): void {
    const { rank, child } = worker;
    const stdout = this.options.stdout ?? 'rank0';
    child.stdout!.on('data', (d: Buffer) => {
      if (stdout === 'none' || (stdout === 'rank0' && rank !== 0)) return;
      process.stdout.write(rank === 0 ? d : prefixLines(d.toString('utf8'), rank));
    });
    let partial = '';
    const echo = this.options.echoStderr ?? true;
    const addLine = (line: string) => {
      worker.stderrTail.push(line);
      if (worker.stderrTail.length > STDERR_TAIL_LINES) worker.stderrTail.shift();
      if (echo && !this.alreadyEchoed(line)) process.stderr.write(`[rank ${rank}] ${line}\n`);
    };
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      lines.forEach(addLine);
    });
    child.stderr!.on('end', () => {
      if (partial) addLine(partial);
      partial = '';
    });
  }

  /**
   * Dawn prints the same adapter notice in every process (on lavapipe: limits "artificially reduced"
   * to fit its dynamic offset allocation); the first worker's copy says it, the others' are noise.
   * Each line still goes to its worker's stderr tail, for error reports.
   */
  private alreadyEchoed(line: string): boolean {
    if (!ADAPTER_NOTICE.test(line)) return false;
    if (this.echoedNotices.has(line)) return true;
    this.echoedNotices.add(line);
    return false;
  }

  private onWorkerGone(worker: Worker): void {
    if (this.stopping || worker.lost) return;
    const { code } = worker.exit ?? { code: null, signal: null };
    if (worker.done && code === 0) {
      if (this.members().every((w) => w.done && w.gone)) void this.finish();
      return;
    }
    if (this.policy === 'abort') this.fail(() => this.workerFailed(worker));
    else this.lose(worker);
  }

  /** The ranks the collectives wait for, in rank order. */
  private liveRanks(): number[] {
    return [...this.tracker.members].sort((a, b) => a - b);
  }

  /** The workers the collectives wait for. */
  private members(): Worker[] {
    return this.liveRanks().map((rank) => this.workers[rank]!);
  }

  /** 'continue' and 'respawn': the run goes on without this process. */
  private lose(worker: Worker): void {
    const rank = worker.rank;
    const error = this.workerFailed(worker);
    worker.lost = true;
    if (this.policy === 'respawn') {
      const maxRespawns = this.options.maxRespawns ?? DEFAULT_MAX_RESPAWNS;
      if (worker.restarts >= maxRespawns) {
        error.message = `${error.message}\nrank ${rank} was already respawned ${worker.restarts} time(s), the limit (maxRespawns ${maxRespawns}), ` +
          'so the run stops: a worker that fails again after every restart probably fails deterministically';
        this.fail(() => error);
        return;
      }
      this.tracker.reset(rank);
      const completed = { ...this.tracker.completed };
      const rejoin: RejoinEnv = { restarts: worker.restarts + 1, rounds: completed };
      const params = this.averaged.get('params');
      if (completed.params > 0 && params) {
        // The new process reads the last parameter all-reduce's result from here (the directory goes with the run).
        rejoin.paramsFile = join(this.dir, `rank${rank}-restart${rejoin.restarts}.f32`);
        writeFileSync(rejoin.paramsFile, bytesOf(params));
        const step = this.options.parameterStep?.();
        if (step !== undefined) rejoin.step = step;
      }
      this.spawn(rank, rejoin);
      this.report({ rank, reason: error.message, action: 'respawned', liveRanks: this.liveRanks(), completed, restarts: rejoin.restarts });
      return;
    }
    if (rank === 0 && this.tracker.completed.broadcast === 0) {
      error.message = `${error.message}\nrank 0 was lost before it broadcast the initial weights, so the others have nothing to start from; the run stops`;
      this.fail(() => error);
      return;
    }
    const completed = { ...this.tracker.completed }; // before drop() completes the round it was missing from
    const complete = this.tracker.drop(rank);
    if (this.tracker.members.size === 0) {
      this.fail(() => error); // every worker is gone: as 'abort' would, report the last one
      return;
    }
    this.report({ rank, reason: error.message, action: 'dropped', liveRanks: this.liveRanks(), completed, restarts: worker.restarts });
    if (complete) this.complete(complete);
    const members = this.members();
    if (members.every((w) => w.done && w.gone)) void this.finish();
    else if (members.every((w) => w.done)) this.exitAfterDone();
  }

  private report(event: WorkerLostEvent): void {
    this.lost.push(event);
    this.options.onWorkerLost?.(event);
  }

  private workerFailed(worker: Worker, what?: string): WorkerFailedError {
    const { code, signal } = worker.exit ?? { code: null, signal: null };
    const how = what ?? worker.hung ?? (signal ? `was killed by ${signal}` : worker.done ? `exited with code ${code} after done` : `exited with code ${code} before sending done`);
    const said = worker.reportedError ? `; it reported: ${worker.reportedError}` : '';
    const tail = worker.stderrTail.join('\n');
    return new WorkerFailedError(
      `worker rank ${worker.rank} ${how}${said}${tail ? `\nlast lines of its stderr:\n${tail}` : ' (its stderr was empty)'}`,
      worker.rank, code, signal, tail,
    );
  }

  // ---- connections and frames ----

  private accept(socket: Socket): void {
    let worker: Worker | undefined;
    const peer = () => (worker ? `rank ${worker.rank}` : 'a worker that has not said hello yet');
    const link = this.options.link;
    const links = linkIsOff(link) ? {} : { inbound: new SimulatedLink(link!), outbound: new SimulatedLink(link!) };
    const connection = new FrameConnection(socket, WORKER_SENDS, {
      onHeader: (header, payloadBytes) => {
        if (!worker) {
          worker = this.hello(header, connection);
          return undefined;
        }
        return this.checkHeader(worker, header, payloadBytes);
      },
      onFrame: (header, payload, timing) => {
        if (worker && header.type !== 'hello') this.onFrame(worker, header, payload, timing.startedAt, timing.deliveredAt);
      },
      onError: (error) => {
        if (this.stopping) return;
        // Mismatch errors already name every rank involved; others get the peer's name in front.
        if (!(error instanceof CollectiveMismatchError)) error.message = `${peer()}: ${error.message}`;
        this.fail(() => error);
      },
      onClose: () => {},
    }, links);
  }

  private hello(header: Header, connection: FrameConnection): Worker {
    if (header.type !== 'hello') throw new ProtocolError(`first frame was '${header.type}', expected 'hello'`);
    const worker = this.workers[header.rank];
    if (header.worldSize !== this.options.procs || !worker) {
      throw new ProtocolError(`hello says rank ${header.rank} of ${header.worldSize}, but this run has ${this.options.procs} workers`);
    }
    if (worker.connection) throw new ProtocolError(`a second connection says it is rank ${header.rank}`);
    if (header.pid !== undefined && header.pid !== worker.child.pid) {
      throw new ProtocolError(`hello from pid ${header.pid} claims rank ${header.rank}, which is pid ${worker.child.pid}`);
    }
    worker.connection = connection;
    return worker;
  }

  /** Validates a header before its payload arrives, and picks a reusable buffer for it. */
  private checkHeader(worker: Worker, header: Header, payloadBytes: number): Uint8Array | undefined {
    if (this.stopping || worker.lost) return undefined;
    const rank = worker.rank;
    switch (header.type) {
      case 'hello':
        throw new ProtocolError(`rank ${rank} said hello twice`);
      case 'allreduce':
      case 'broadcast': {
        const kind = header.type === 'allreduce' ? header.tag : 'broadcast';
        const finished = this.members().filter((w) => w.done);
        if (finished.length > 0) {
          throw new ProtocolError(
            `rank ${rank} entered ${describeCollective(kind, header.round)} but rank ${finished.map((w) => w.rank).join(', ')} ` +
              'already sent done: every rank must run the same number of rounds',
          );
        }
        const dtype = header.type === 'allreduce' ? header.dtype ?? 'f32' : 'f32';
        if (dtype !== 'f32') this.checkCompressed(rank, describeCollective(kind, header.round), kind, dtype);
        this.tracker.enter(rank, kind, header.round, header.count, dtype);
        if (header.type !== 'allreduce') return undefined;
        let input = worker.inputs[header.tag];
        if (input?.length !== header.count) input = worker.inputs[header.tag] = new Float32Array(header.count);
        if (dtype === 'f32') return bytesOf(input);
        if (worker.packed.byteLength !== payloadBytes) worker.packed = new Uint8Array(payloadBytes);
        return worker.packed;
      }
      case 'done': {
        const open = this.tracker.open;
        if (open) {
          throw new ProtocolError(
            `rank ${rank} sent done while rank ${open.firstRank} waits in ${describeCollective(open.kind, open.round)}: ` +
              'every rank must run the same number of rounds',
          );
        }
        return undefined;
      }
      default:
        void payloadBytes;
        return undefined;
    }
  }

  private checkCompressed(rank: number, what: string, kind: string, dtype: CommDtype): void {
    const expected = this.options.commDtype ?? 'f32';
    let why: string | undefined;
    if (kind !== 'params') why = `only 'params' rounds may be compressed`;
    else if (dtype !== expected) why = `this run's --comm-dtype is ${expected}`;
    else if (!this.codec.hasAnchor) why = `no f32 'params' round has set the anchor yet (a run's first parameter round travels in f32)`;
    if (why) throw new ProtocolError(`rank ${rank} sent ${what} in ${dtype}, but ${why}`);
  }

  private onFrame(worker: Worker, header: Header, payload: Uint8Array, startedAt: number, deliveredAt: number): void {
    if (this.stopping || worker.lost) return;
    switch (header.type) {
      case 'allreduce':
      case 'broadcast': {
        // A compressed round's delta is decoded to weights as it arrives, so the reduction below
        // sees float32 weights whatever travelled.
        const dtype = header.type === 'allreduce' ? header.dtype ?? 'f32' : 'f32';
        const weights = dtype === 'f32' ? asFloat32(payload) : this.codec.decode(worker.rank, dtype, payload, worker.inputs.params!);
        const complete = this.tracker.deliver(worker.rank, weights, deliveredAt);
        this.inboundMs[worker.rank] = deliveredAt - startedAt;
        if (complete) this.complete(complete);
        return;
      }
      case 'log':
        this.options.onLog?.(worker.rank, header.record);
        return;
      case 'done':
        worker.done = true;
        worker.summary = header.summary;
        if (this.members().every((w) => w.done)) this.exitAfterDone();
        return;
      case 'error':
        worker.reportedError = header.message;
        // Give it a moment to exit by itself, so its own exit code and last words are reported.
        if (this.policy === 'abort') {
          this.later(REPORTED_ERROR_EXIT_MS, () => this.fail(() => this.workerFailed(worker, worker.exit ? undefined : 'reported an error')));
        } else {
          // Lost all the same; its exit brings it to lose().
          this.later(REPORTED_ERROR_EXIT_MS, () => worker.gone || worker.child.kill('SIGKILL'));
        }
        return;
      default:
        return;
    }
  }

  private exitAfterDone(): void {
    this.later(EXIT_AFTER_DONE_MS, () => {
      const stuck = this.members().filter((w) => !w.gone).map((w) => w.rank);
      process.stderr.write(`ranks ${stuck.join(', ')} sent done but did not exit within ${EXIT_AFTER_DONE_MS / 1000} s; stopping them (workers should exit after done)\n`);
      void this.finish();
    });
  }

  // ---- collectives ----

  private complete(c: OpenCollective): void {
    const members = this.members();
    const deliveredAt = members.map((w) => c.deliveredAt[w.rank]!);
    const first = Math.min(...deliveredAt);
    const last = Math.max(...deliveredAt);
    const inboundSeconds = Math.max(...members.map((w) => this.inboundMs[w.rank]!)) / 1000;
    let result: Float32Array;
    let encoded: Uint8Array | undefined;
    let reduceMs = 0;
    // A broadcast's data comes from its source, the lowest member (rank 0 until it is dropped).
    const source = c.kind === 'broadcast' ? members.find((w) => (c.payloads[w.rank]?.length ?? 0) > 0)?.rank : undefined;
    if (c.kind === 'broadcast') {
      if (source === undefined) {
        // The source was lost after sending, or before the others learned it was gone; they sent nothing.
        this.fail(() => new WorkerFailedError(
          `${describeCollective(c.kind, c.round)} lost its source: the rank that was to send the weights was lost at that moment, ` +
            'and no survivor knew it was to take over; the run stops', this.tracker.source, null, null, ''));
        return;
      }
      result = c.payloads[source]!;
      this.options.outerOptimizer?.setGlobal(result);
    } else {
      const t = performance.now();
      let out = this.averaged.get(c.kind);
      if (out?.length !== c.count) this.averaged.set(c.kind, (out = new Float32Array(c.count)));
      if (!this.scratch || this.scratch.length < c.count) this.scratch = new Float64Array(c.count);
      // Members only, in rank order: a dropped rank's payload was already removed by the tracker.
      result = meanOf(c.payloads.filter((p): p is Float32Array => p !== undefined), out, this.scratch);
      if (c.kind === 'params' && this.options.outerOptimizer) result = this.options.outerOptimizer.step(result);
      // Compressed rounds: send the 16-bit update from the anchor; `result` becomes the new anchor,
      // the weights every worker will hold. An f32 round's result is the next one's anchor.
      if (c.dtype !== 'f32') {
        encoded = this.codec.encode(c.dtype, result);
        // The workers now hold θ rounded through 16 bits (encode wrote it into result); the outer
        // optimizer's θ must be those bytes, or every later Δ would carry the rounding.
        this.options.outerOptimizer?.setGlobal(result);
      } else if (c.kind === 'params' && (this.options.commDtype ?? 'f32') !== 'f32') this.codec.setAnchor(result);
      reduceMs = performance.now() - t;
      this.options.onRoundComplete?.({ tag: c.kind, round: c.round, averaged: result });
    }
    const reducedAt = performance.now();
    const bytes = encoded ?? bytesOf(result);
    const dtype = c.dtype !== 'f32' ? { dtype: c.dtype } : {};
    // Once a rank has been dropped, every result names the survivors, so the lowest takes over rank 0's jobs.
    const dropped = this.tracker.members.size < this.options.procs ? { members: members.map((w) => w.rank) } : {};
    const sends = members.map((w) => {
      const payload = c.kind === 'broadcast' && w.rank === source ? new Uint8Array(0) : bytes;
      const header: Header = {
        type: 'result', collective: c.kind, round: c.round, count: payload.byteLength / bytesPerElement(c.dtype), ...dtype,
        reduceMs, waitMs: Math.max(0, last - c.deliveredAt[w.rank]!), ...dropped,
      };
      return w.connection!.send(header, payload);
    });
    if (c.kind === 'broadcast') return;
    this.totals.rounds++;
    this.totals.reduceSeconds += reduceMs / 1000;
    const tag = c.kind;
    void Promise.all(sends).then((sentAt) => {
      const transferSeconds = inboundSeconds + (Math.max(...sentAt) - reducedAt) / 1000;
      this.totals.transferSeconds += transferSeconds;
      this.lastRound = { tag, round: c.round, bytesPerRank: c.count * bytesPerElement(c.dtype), reduceSeconds: reduceMs / 1000, transferSeconds, skewSeconds: (last - first) / 1000 };
    });
  }

  private checkForHangs(): void {
    if (this.stopping) return;
    const open = this.tracker.open;
    if (!open) return;
    const now = performance.now();
    const silent = this.members().filter((w) => {
      if (open.entered.has(w.rank) || w.gone || w.hung) return false;
      if (w.connection?.receiving) return false; // still streaming a (slow-link) frame
      const heard = w.connection ? w.connection.lastReceivedAt : w.spawnedAt;
      return now - heard > this.timeoutMs;
    });
    if (silent.length === 0) return;
    const ranks = silent.map((w) => w.rank);
    const waiting = this.tracker.waiting();
    const lastHeard = silent.map((w) => `rank ${w.rank}: ${((now - (w.connection?.lastReceivedAt ?? w.spawnedAt)) / 1000).toFixed(1)} s ago${w.connection ? '' : ', never connected'}`);
    if (this.policy !== 'abort') {
      // A hung worker is a lost one: kill it; its exit brings it to lose().
      for (const [i, w] of silent.entries()) {
        w.hung = `hung: sent nothing for over ${(this.timeoutMs / 1000).toFixed(1)} s while rank ${waiting.join(', ')} waited in ` +
          `${describeCollective(open.kind, open.round)} (last heard ${lastHeard[i]}), so it was killed`;
        w.child.kill('SIGKILL');
      }
      return;
    }
    this.fail(() => new WorkerTimeoutError(
      `rank ${ranks.join(', ')} sent nothing for over ${(this.timeoutMs / 1000).toFixed(1)} s while rank ${waiting.join(', ')} ` +
        `waited in ${describeCollective(open.kind, open.round)} (last heard: ${lastHeard.join('; ')}); it may be hung. ` +
        'If its steps are really that slow, raise the worker timeout (--worker-timeout).',
      ranks,
    ));
  }

  // ---- ending ----

  private async interrupt(signal: NodeJS.Signals): Promise<void> {
    if (this.stopping) {
      // A second Ctrl-C: stop waiting politely.
      this.killedHard = true;
      for (const w of this.workers) if (!w.gone) w.child.kill('SIGKILL');
      return;
    }
    this.stopping = true;
    try {
      await this.options.onInterrupt?.(this);
    } catch (error) {
      process.stderr.write(`while handling ${signal}: onInterrupt failed: ${(error as Error).stack ?? String(error)}\n`);
    }
    await this.stopAll(`${signal} received`);
    const live = this.tracker.members.size;
    this.settle.reject(new InterruptedError(`interrupted by ${signal}; all ${live} ${live === this.options.procs ? '' : 'remaining '}workers stopped`));
  }

  private fail(makeError: () => Error): void {
    if (this.stopping) return;
    this.stopping = true;
    void this.stopAll('a worker failed').then(() => this.settle.reject(makeError()));
  }

  private async finish(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.stopAll('the run is complete');
    this.settle.resolve({
      summaries: this.workers.map((w) => (this.tracker.members.has(w.rank) ? w.summary : undefined)),
      lost: this.lost,
      stats: this.stats(),
      wallSeconds: (performance.now() - this.startedAt) / 1000,
      lastParameters: this.averaged.get('params'),
    });
  }

  /** stop, then SIGTERM, then SIGKILL every live worker; wait until all are gone; clean up. */
  private async stopAll(reason: string): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const alive = () => this.workers.filter((w) => !w.gone);
    for (const w of alive()) if (w.connection?.open) void w.connection.send({ type: 'stop', reason }, undefined, { bypassLink: true });
    const allGone = Promise.all(this.workers.map((w) => w.whenGone));
    const wait = (ms: number) => Promise.race([allGone, new Promise((resolve) => setTimeout(resolve, ms))]);
    if (alive().length > 0 && !this.killedHard) await wait(STOP_GRACE_MS);
    for (const w of alive()) w.child.kill('SIGTERM');
    if (alive().length > 0) await wait(this.options.killGraceMs ?? 2000);
    for (const w of alive()) w.child.kill('SIGKILL');
    await allGone;
    for (const w of this.workers) w.connection?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  /** A timer that stopAll() cancels. */
  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

function prefixLines(text: string, rank: number): string {
  return text.replace(/^(?=.)/gm, `[rank ${rank}] `);
}
