// The worker's end: connects to the collective server, answers its challenge with a hello that
// proves it holds the run's secret (handshake.ts), checks the server's proof in init, receives the
// run's config (and, for a process taking over a lost rank, where to start) there, and runs the
// collectives (all-reduce mean, broadcast) as request/reply exchanges, one at a time. The server
// beats as the worker does, so a worker notices a coordinator that went silent (its machine died,
// the link was cut) instead of waiting forever: TCP alone never tells it, because its own
// heartbeats keep unacknowledged data queued, which stops keepalive probing, and Node offers no
// TCP_USER_TIMEOUT.
import type { Socket } from 'node:net';
import type { CommDtype } from './delta-codec.js';
import { asFloat32, bytesOf, COORDINATOR_SENDS, type AveragingScope, HEARTBEAT_DOING_LIMIT, ProtocolError, type CollectiveKind, type Header, type HeaderOf, type ReduceTag } from './protocol.js';
import { describeCollective } from './collective.js';
import { checkEndpoint, connectTo, describeEndpoint, type Endpoint } from './endpoint.js';
import { handshakeProof, newNonce, proofMatches, secretFromText } from './handshake.js';
import { FrameConnection } from './transport.js';

/**
 * Environment variables the supervisor sets for each worker process it forks: where the server
 * is, which rank to claim, and the run's secret that proves it (hex). Everything else arrives in
 * the server's init message.
 */
export const ENV = {
  socket: 'LOCALSGD_SOCKET',
  rank: 'LOCALSGD_RANK',
  secret: 'LOCALSGD_SECRET',
} as const;

/** What a process that takes over a lost rank starts from. */
export interface Rejoin {
  /** How many processes held this rank before this one (1 for the first respawn). */
  restarts: number;
  /** Collectives every rank has completed, per kind: this process's first round of each is that number. */
  rounds: Record<CollectiveKind, number>;
  /** The result of the last parameter all-reduce (what every rank held after it); undefined before the first. */
  params: Float32Array | undefined;
  /** The optimizer step of that all-reduce, as the workers' headers said. */
  step: number | undefined;
}

export interface RoundTiming {
  /** From sending to holding the result, as this worker saw it. */
  commSeconds: number;
  /** Of which: the coordinator computing the mean, and this rank's data waiting for slower ranks. */
  reduceSeconds: number;
  waitForPeersSeconds: number;
  /** The rest: moving bytes both ways (including any simulated link delay). */
  transferSeconds: number;
}

export interface WorkerChannelStats {
  bytesSent: number;
  bytesReceived: number;
  commSeconds: number;
  /** Completed all-reduce rounds (broadcasts not counted). */
  rounds: number;
  lastRound: RoundTiming | undefined;
}

/** The coordinator sent nothing, heartbeats included, for longer than init.silenceLimitMs. */
export class CoordinatorSilentError extends Error {
  override name = 'CoordinatorSilentError';
}

interface Pending {
  kind: CollectiveKind;
  round: number;
  dtype: CommDtype;
  /** Where the result lands: the caller's bytes for an all-reduce, a fresh array for a broadcast. */
  into: Uint8Array | undefined;
  startedAt: number;
  /** With the result's bytes (`into` when given). */
  resolve: (payload: Uint8Array) => void;
  reject: (error: Error) => void;
}

export class WorkerChannel {
  /** What the server's init said; set before connect() resolves. */
  private session: { worldSize: number; config: unknown; rejoin: Rejoin | undefined } | undefined;
  private nextRound: Record<CollectiveKind, number> = { params: 0, grads: 0, broadcast: 0 };
  /** The ranks still training; changes only when the coordinator drops a lost rank. */
  liveRanks: readonly number[] = [];
  private awaitingInit: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** This side's challenge to the server, sent in hello once the server's challenge has come. */
  private helloNonce: string | undefined;
  private pending: Pending | undefined;
  private commSeconds = 0;
  private rounds = 0;
  private lastRound: RoundTiming | undefined;
  private closed = false;
  private broken: Error | undefined;
  private readonly connection: FrameConnection;
  /** What the program says it is doing (setActivity); heartbeats carry it with any collective in flight. */
  private activity = 'starting';
  private readonly activityListeners: Array<(doing: string) => void> = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private silenceCheck: NodeJS.Timeout | undefined;
  private lastSilenceCheckAt = 0;
  private readonly stopHandlers: Array<(why: Error) => void> = [];

  private constructor(
    readonly rank: number,
    /** The coordinator's address, for messages. */
    private readonly where: string,
    socket: Socket,
    private readonly secret: Uint8Array,
    private readonly lifeline: (() => void) | undefined,
  ) {
    this.connection = new FrameConnection(socket, COORDINATOR_SENDS, {
      onHeader: (header, bytes) => this.onHeader(header, bytes),
      onFrame: (header, payload) => this.onFrame(header, payload),
      onError: (error) => this.breakWith(new ProtocolError(`rank ${this.rank}: bad frame from the coordinator: ${error.message}`)),
      onClose: () => this.breakWith(new Error(this.awaitingInit
        ? `rank ${this.rank}: the coordinator closed the connection before init: it refused this worker's hello ` +
          "(a secret of another run, or a rank outside the run or already held; the coordinator's stderr says which)"
        : `rank ${this.rank}: the coordinator closed the connection`)),
    });
  }

  /**
   * Connects to the server at `endpoint` (its Unix socket path, or `{ host, port }` over TCP) as
   * `rank`, proving it holds the run's `secret` (32 bytes: what launch() puts in the workers'
   * environment, or join-token.ts's readJoinSecret() across machines), and waits for its init. For
   * callers that start workers themselves. Rejects if the server cannot be reached (naming the
   * address), refuses the hello, cannot prove it holds the secret too, or sends a bad init; with
   * `timeoutMs`, also if connecting and init together take longer (across machines, a SYN to a
   * dead host is retried for about two minutes, and a listener that is not a collective server may
   * never answer).
   */
  static connect(endpoint: Endpoint, rank: number, secret: Uint8Array, options: { timeoutMs?: number } = {}): Promise<WorkerChannel> {
    return WorkerChannel.open(endpoint, rank, secret, undefined, options.timeoutMs);
  }

  /** Connects as the supervisor's environment says; undefined when this process was not launched by one. */
  static async fromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<WorkerChannel | undefined> {
    const path = env[ENV.socket];
    if (!path) return undefined;
    const rank = Number(env[ENV.rank]);
    if (env[ENV.rank] === undefined || !Number.isInteger(rank) || rank < 0) {
      throw new Error(
        `bad worker environment: ${ENV.rank}=${env[ENV.rank]} (a whole number ≥ 0 expected); ` +
          'workers are started by launch() (dist/train.js --procs N), which sets it',
      );
    }
    const secret = secretFromText(env[ENV.secret], `bad worker environment: ${ENV.secret}`);
    // Read once; this process's own children (if any) need not inherit it.
    if (env === process.env) delete process.env[ENV.secret];
    // Lifeline: fork()'s IPC channel closes when the launcher dies, however it dies (even
    // SIGKILL), so no worker outlives it. A Dawn instance would otherwise keep this process alive.
    let lifeline: (() => void) | undefined;
    if (process.channel) {
      lifeline = () => {
        process.stderr.write(`rank ${rank}: the coordinator is gone; exiting\n`);
        process.exit(1);
      };
      process.once('disconnect', lifeline);
    }
    try {
      return await WorkerChannel.open(path, rank, secret, lifeline);
    } catch (error) {
      if (lifeline) process.off('disconnect', lifeline);
      throw error;
    }
  }

  private static async open(
    endpoint: Endpoint, rank: number, secret: Uint8Array, lifeline: (() => void) | undefined, timeoutMs?: number,
  ): Promise<WorkerChannel> {
    checkEndpoint(endpoint, `rank ${rank}: WorkerChannel.connect`);
    handshakeProof(secret, 'worker', newNonce(), rank); // a wrong-sized secret or a bad rank fails here, before any connection
    if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new RangeError(`rank ${rank}: WorkerChannel.connect timeoutMs must be > 0 (got ${timeoutMs})`);
    const where = describeEndpoint(endpoint);
    const socket = connectTo(endpoint);
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      if (timeoutMs === undefined) return;
      timer = setTimeout(() => {
        socket.destroy();
        const seconds = `${(timeoutMs / 1000).toFixed(1)} s`;
        reject(new Error(connected
          ? `rank ${rank}: connected to ${where}, but no init came from it within ${seconds}: is this run's collective server listening there (and not busy with another run)?`
          : `rank ${rank} could not connect to the coordinator at ${where} within ${seconds}: is the address right, and is that machine up and reachable?`));
      }, timeoutMs);
    });
    expired.catch(() => {}); // raced below; unobserved when nothing expires
    let channel: WorkerChannel | undefined;
    try {
      await Promise.race([expired, new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (e) => reject(new Error(`rank ${rank} cannot reach the coordinator at ${where}: ${e.message}`)));
      })]);
      connected = true;
      channel = new WorkerChannel(rank, where, socket, secret, lifeline);
      // The hello goes out when the server's challenge arrives (onFrame).
      const initialized = new Promise<void>((resolve, reject) => (channel!.awaitingInit = { resolve, reject }));
      await Promise.race([expired, initialized]);
    } catch (error) {
      channel?.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return channel;
  }

  get worldSize(): number {
    return this.session!.worldSize;
  }

  /** The run's settings as the server sent them (dist/worker.js's training config); validate before use. */
  get config(): unknown {
    return this.session!.config;
  }

  /** Set when this process took over a lost rank mid-run. */
  get rejoin(): Rejoin | undefined {
    return this.session!.rejoin;
  }

  /**
   * Element-wise mean over all workers, written into `data` (which is also what resolves). `step`:
   * for a 'params' round, the optimizer step it averages after (every rank must give the same).
   */
  allReduceMean(tag: ReduceTag, data: Float32Array, step?: number, scope: AveragingScope = 'global'): Promise<Float32Array> {
    const bytes = bytesOf(data);
    return this.collective(tag, 'f32', data.length, bytes, bytes, step, scope).then(() => data);
  }

  /**
   * A compressed 'params' round (delta-codec.ts): sends `count` 16-bit deltas and resolves with the
   * coordinator's 16-bit update, written into `into` (2·count bytes; may be the payload itself).
   */
  allReduceDelta(dtype: Exclude<CommDtype, 'f32'>, count: number, payload: Uint8Array, into: Uint8Array, step?: number): Promise<Uint8Array> {
    if (payload.byteLength !== count * 2 || into.byteLength !== count * 2) {
      return Promise.reject(new RangeError(`allReduceDelta: ${count} ${dtype} values need 2·${count} bytes (payload ${payload.byteLength}, into ${into.byteLength})`));
    }
    return this.collective('params', dtype, count, payload, into, step);
  }

  /** The main rank's data, on every rank (the main rank passes its data, the others undefined); also a barrier. */
  broadcast(data: Float32Array | undefined): Promise<Float32Array> {
    if ((this.rank === this.mainRank) !== (data !== undefined)) {
      return Promise.reject(new Error(
        `broadcast: the main rank (${this.mainRank}, the lowest live rank), and only it, passes data (this is rank ${this.rank}, data ${data ? 'given' : 'undefined'})`,
      ));
    }
    return this.collective('broadcast', 'f32', data?.length ?? 0, data && bytesOf(data), undefined).then((payload) => data ?? asFloat32(payload));
  }

  /** Fire and forget; records arrive at the coordinator in order. */
  log(record: unknown): void {
    if (this.broken || this.closed) return;
    void this.connection.send({ type: 'log', record });
  }

  /** The last message: resolves once it has left this process. Then close() and exit 0. */
  async done(summary: unknown): Promise<void> {
    if (this.broken || this.closed) return;
    await this.connection.send({ type: 'done', summary });
  }

  /** Reports the error to the coordinator; then close() and exit non-zero. */
  async fail(error: Error): Promise<void> {
    if (this.broken || this.closed) return;
    await this.connection.send({ type: 'error', message: error.message, ...(error.stack ? { stack: error.stack } : {}) });
  }

  /**
   * A worker program's body, run to its end: `work`'s result goes to the coordinator as the
   * summary, or its error as the failure; then the channel closes. Resolves to the exit code.
   */
  async serve(work: () => Promise<unknown>): Promise<number> {
    try {
      await this.done(await work());
      this.close();
      return 0;
    } catch (e) {
      await this.fail(e instanceof Error ? e : new Error(String(e)));
      this.close();
      return 1;
    }
  }

  /**
   * Says what this worker is doing ("training step 12", "evaluating after step 60"): its heartbeats
   * carry it, so a worker that goes silent is reported with what it was last doing.
   */
  setActivity(doing: string): void {
    this.activity = doing;
    this.activityChanged();
  }

  /** What the next heartbeat will say: the activity, and the collective this worker waits in, if any. */
  get doing(): string {
    const p = this.pending;
    const text = p ? `in ${describeCollective(p.kind, p.round)}, ${this.activity}` : this.activity;
    return text.slice(0, HEARTBEAT_DOING_LIMIT);
  }

  /** Called with `doing` whenever it changes (fault-injection hooks stop a worker at a chosen point). */
  onActivity(listener: (doing: string) => void): void {
    this.activityListeners.push(listener);
  }

  /**
   * Called once the run is over for this worker without its own doing: the coordinator stopped it
   * (an Error saying so), or went silent for longer than init.silenceLimitMs (a
   * CoordinatorSilentError naming its address: nobody else will report that, so print it and exit
   * non-zero). Any collective in flight has failed with the same error.
   */
  onStop(handler: (why: Error) => void): void {
    this.stopHandlers.push(handler);
  }

  stats(): WorkerChannelStats {
    return {
      bytesSent: this.connection.bytesSent,
      bytesReceived: this.connection.bytesReceived,
      commSeconds: this.commSeconds,
      rounds: this.rounds,
      lastRound: this.lastRound,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.silenceCheck);
    // Past this point the run is over for this worker, so the coordinator's exit no longer matters
    // (and the listener would keep the IPC channel, hence the process, alive).
    if (this.lifeline) process.off('disconnect', this.lifeline);
    this.connection.end();
  }

  private async collective(
    kind: CollectiveKind, dtype: CommDtype, count: number, payload: Uint8Array | undefined, into: Uint8Array | undefined, step?: number,
    scope: AveragingScope = 'global',
  ): Promise<Uint8Array> {
    if (this.broken) throw this.broken;
    if (this.closed) throw new Error(`rank ${this.rank}: ${kind} after close()`);
    if (this.pending) {
      throw new Error(
        `rank ${this.rank}: ${describeCollective(kind, this.nextRound[kind])} started while ` +
          `${describeCollective(this.pending.kind, this.pending.round)} is in flight; await each collective before the next`,
      );
    }
    const round = this.nextRound[kind]++;
    // dtype is left out for f32, so those frames are exactly the uncompressed protocol's.
    const header: Header = kind === 'broadcast'
      ? { type: 'broadcast', round, count }
      : {
        type: 'allreduce', tag: kind, round, count, ...(dtype === 'f32' ? {} : { dtype }), ...(step === undefined ? {} : { step }),
        ...(scope === 'machine' ? { scope } : {}),
      };
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending = { kind, round, dtype, into, startedAt: performance.now(), resolve, reject };
      void this.connection.send(header, payload);
      this.activityChanged();
    });
  }

  private onHeader(header: Header, payloadBytes: number): Uint8Array | undefined {
    if (header.type !== 'result') return undefined;
    const p = this.pending;
    if (!p || p.kind !== header.collective || p.round !== header.round) {
      throw new Error(
        `result for ${describeCollective(header.collective, header.round)} arrived while ` +
          `${p ? `waiting in ${describeCollective(p.kind, p.round)}` : 'not waiting in any collective'}`,
      );
    }
    if ((header.dtype ?? 'f32') !== p.dtype) throw new Error(`result of ${describeCollective(p.kind, p.round)} came in ${header.dtype ?? 'f32'}, but ${p.dtype} was sent`);
    if (p.into) {
      if (p.into.byteLength !== payloadBytes) throw new Error(`result of ${header.count} ${p.dtype} values (${payloadBytes} bytes) for ${p.into.byteLength} bytes sent`);
      return p.into; // the mean lands straight in the caller's array: no extra copy
    }
    return undefined;
  }

  private onFrame(header: Header, payload: Uint8Array): void {
    if (header.type === 'challenge') {
      this.answerChallenge(header.nonce);
      return;
    }
    if (header.type === 'init') {
      this.initialize(header, payload);
      return;
    }
    if (header.type === 'stop') {
      this.stop(new Error(`rank ${this.rank}: the coordinator stopped the run${header.reason ? ` (${header.reason})` : ''}`));
      return;
    }
    if (header.type === 'server-heartbeat') return; // its arrival is all it says (connection.lastReceivedAt)
    if (header.type !== 'result') return;
    const p = this.pending!;
    this.pending = undefined;
    const seconds = (performance.now() - p.startedAt) / 1000;
    if (header.members) this.liveRanks = header.members;
    if (p.kind !== 'broadcast') {
      this.commSeconds += seconds;
      this.rounds++;
      const reduceSeconds = header.reduceMs / 1000;
      const waitForPeersSeconds = header.waitMs / 1000;
      this.lastRound = { commSeconds: seconds, reduceSeconds, waitForPeersSeconds, transferSeconds: Math.max(0, seconds - reduceSeconds - waitForPeersSeconds) };
    }
    p.resolve(p.into ?? payload);
  }

  /** The handshake's worker side: prove the secret over the server's nonce, and challenge it in turn. */
  private answerChallenge(serverNonce: string): void {
    if (this.helloNonce !== undefined) throw new ProtocolError(`rank ${this.rank}: a second challenge from the coordinator`);
    this.helloNonce = newNonce();
    void this.connection.send({
      type: 'hello', rank: this.rank, pid: process.pid, nonce: this.helloNonce, proof: handshakeProof(this.secret, 'worker', serverNonce, this.rank),
    });
  }

  private initialize(init: HeaderOf<'init'>, payload: Uint8Array): void {
    const waiting = this.awaitingInit;
    if (!waiting) throw new ProtocolError(`rank ${this.rank}: a second init from the coordinator`);
    if (this.helloNonce === undefined) throw new ProtocolError(`rank ${this.rank}: init from the coordinator before its challenge`);
    // Before anything in init is used: only this run's coordinator can answer our nonce.
    if (!proofMatches(this.secret, 'server', this.helloNonce, this.rank, init.proof)) {
      throw new ProtocolError(
        `rank ${this.rank}: the coordinator's init carried a wrong proof: it does not hold this run's secret ` +
          "(another run's coordinator at this address?), so its config is refused",
      );
    }
    if (init.rank !== this.rank) throw new ProtocolError(`rank ${this.rank}: init is for rank ${init.rank}; the server and this worker disagree about its rank`);
    this.awaitingInit = undefined;
    const rejoin = init.rejoin && { ...init.rejoin, params: init.count > 0 ? asFloat32(payload) : undefined, step: init.rejoin.step };
    this.session = { worldSize: init.worldSize, config: init.config, rejoin };
    this.liveRanks = Array.from({ length: init.worldSize }, (_, r) => r);
    if (rejoin) this.nextRound = { ...rejoin.rounds };
    // From a timer, not from the work: a long GPU step or a wait for slower ranks still beats; a
    // stopped process or a blocked event loop does not, and the server reports that silence.
    this.heartbeat = setInterval(() => this.beat(), init.heartbeatMs).unref();
    // Checked several times per limit, so a silence is noticed soon after it passes; unref'd like the heartbeat.
    const every = Math.min(1000, init.silenceLimitMs / 4);
    this.lastSilenceCheckAt = performance.now();
    this.silenceCheck = setInterval(() => this.checkForSilence(init.silenceLimitMs, every), every).unref();
    waiting.resolve();
  }

  /** The lowest live rank: the one that evaluates and saves (rank 0 unless it was lost). */
  get mainRank(): number {
    return this.liveRanks[0] ?? 0;
  }

  /** Sends a heartbeat now rather than at the next tick (the timer's beats say the same). */
  beat(): void {
    if (!this.broken && !this.closed && this.connection.open) void this.connection.send({ type: 'heartbeat', doing: this.doing });
  }

  /** Breaks the channel if nothing at all has arrived from the coordinator for over `limitMs`. */
  private checkForSilence(limitMs: number, every: number): void {
    if (this.broken || this.closed) return;
    const now = performance.now();
    const late = now - this.lastSilenceCheckAt > 2 * every;
    this.lastSilenceCheckAt = now;
    // This process itself was stopped or blocked (timers run before pending reads are handled):
    // what the coordinator sent meanwhile may be unread, so judge it at the next check.
    if (late) return;
    const silentMs = now - this.connection.lastReceivedAt;
    if (silentMs <= limitMs) return;
    this.stop(new CoordinatorSilentError(
      `rank ${this.rank}: the coordinator at ${this.where} sent nothing for ${(silentMs / 1000).toFixed(1)} s ` +
        `(heartbeats included; the limit is ${(limitMs / 1000).toFixed(1)} s): it is gone or the link is cut`,
    ));
    this.connection.destroy(); // nothing more is wanted from it, and a late byte must not revive the channel
  }

  /** The run is over for this worker: fail what waits, and tell the stop handlers why. */
  private stop(why: Error): void {
    this.breakWith(why);
    for (const handler of this.stopHandlers) handler(why);
  }

  private activityChanged(): void {
    for (const listener of this.activityListeners) listener(this.doing);
  }

  /** The channel cannot be used any more: fail the waiting collective (and any later one). */
  private breakWith(error: Error): void {
    if (this.broken) return;
    this.broken = error;
    clearInterval(this.heartbeat);
    clearInterval(this.silenceCheck);
    this.awaitingInit?.reject(error);
    this.awaitingInit = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(error);
  }
}
