// A member's end of the collective, over any byte stream (byte-stream.ts): answers the server's
// challenge with a hello that proves it holds the run's secret (handshake-web.ts), checks the
// server's proof in init, receives the run's config (and, for a process taking over a lost rank,
// where to start) there, and runs the collectives (all-reduce mean, broadcast) as request/reply
// exchanges, one at a time. The server beats as the member does, so a member notices a coordinator
// that went silent (its machine died, the link was cut) instead of waiting forever.
//
// Two kinds of member use it: a Node worker process (worker-channel.ts, over a Unix socket or TCP,
// claiming the rank its launcher gave it) and a browser tab (connectTab, over a WebSocket, taking
// the rank the server gives it). Pages bundle this file: nothing here may reach Node
// (test/comm/browser-bundle.test.ts checks).
import { webSocketStream, type ByteStream, type WebSocketLike } from './byte-stream.js';
import { describeCollective } from './collective.js';
import type { CommDtype } from './delta-codec.js';
import { checkSecret, handshakeProofAsync, newNonceWeb, proofMatchesAsync, TAB_PROOF_RANK } from './handshake-web.js';
import {
  asFloat32, bytesOf, COORDINATOR_SENDS, HEARTBEAT_DOING_LIMIT, ProtocolError, TAB_TEXT_LIMIT,
  type AveragingScope, type CollectiveKind, type Header, type HeaderOf, type ReduceTag,
} from './protocol.js';
import { FrameConnection } from './transport.js';

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

/** Who says hello: a worker claims the rank its launcher gave it; a tab claims none and names itself. */
export type MemberIdentity =
  | { kind: 'worker'; rank: number; pid: number }
  | { kind: 'tab'; adapter: string; agent: string };

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

type Timer = ReturnType<typeof setInterval>;

/** How long a member waits, after its last message, for the coordinator to close the connection. */
const LEAVE_WAIT_MS = 5000;
/** Node's timers keep a process alive unless unref'd; a page's are plain numbers and need nothing. */
const unref = (timer: Timer): Timer => {
  (timer as { unref?: () => void }).unref?.();
  return timer;
};

export class MemberChannel {
  /** What the server's init said; set before connecting resolves. */
  private session: { worldSize: number; config: unknown; rejoin: Rejoin | undefined } | undefined;
  /** A worker's from the start; a tab's once init has said it. */
  private assignedRank: number | undefined;
  private nextRound: Record<CollectiveKind, number> = { params: 0, grads: 0, broadcast: 0 };
  /** The ranks still training; changes only when the coordinator drops a lost rank. */
  liveRanks: readonly number[] = [];
  private awaitingInit: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** This side's challenge to the server, sent in hello once the server's challenge has come. */
  private helloNonce: string | undefined;
  /** Init has arrived (its proof may still be being checked): another is a protocol error. */
  private initSeen = false;
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
  private heartbeat: Timer | undefined;
  private silenceCheck: Timer | undefined;
  private lastSilenceCheckAt = 0;
  private readonly stopHandlers: Array<(why: Error) => void> = [];

  protected constructor(
    stream: ByteStream,
    /** The coordinator's address, for messages. */
    private readonly where: string,
    private readonly secret: Uint8Array,
    private readonly identity: MemberIdentity,
  ) {
    if (identity.kind === 'worker') this.assignedRank = identity.rank;
    this.connection = new FrameConnection(stream, COORDINATOR_SENDS, {
      onHeader: (header, bytes) => this.onHeader(header, bytes),
      onFrame: (header, payload) => this.onFrame(header, payload),
      onError: (error) => this.breakWith(new ProtocolError(`${this.who}: bad frame from the coordinator: ${error.message}`)),
      onClose: () => this.breakWith(new Error(this.awaitingInit
        ? `${this.who}: the coordinator closed the connection before init: it refused this ${identity.kind === 'tab' ? "tab's" : "worker's"} hello ` +
          (identity.kind === 'tab'
            ? "(a token of another run, or no rank free for a tab; the coordinator's stderr says which)"
            : "(a secret of another run, or a rank outside the run or already held; the coordinator's stderr says which)")
        : `${this.who}: the coordinator closed the connection`)),
    });
  }

  /**
   * A browser tab joins the run at its coordinator's WebSocket (tab-endpoint.ts): proves it holds
   * the run's secret (join-token-web.ts's secretFromJoinTokenAsync of the run's join token), names
   * itself by `adapter` and `agent` (navigator.userAgent; each cut to protocol.ts's TAB_TEXT_LIMIT),
   * checks the server's proof, and resolves once the server has given it a rank (`rank`) and the
   * run's config. Pass `socket` in the turn it was made (`new WebSocket(url)`), with no await
   * between: the coordinator's challenge comes as soon as it opens, and a page's WebSocket drops
   * messages that arrive before anyone listens. Rejects if the connection fails or closes first
   * (a wrong token, or no rank free: the coordinator says which), or with `timeoutMs`, if it takes longer.
   */
  static connectTab(
    socket: WebSocketLike, secret: Uint8Array, tab: { adapter: string; agent: string }, options: { timeoutMs?: number } = {},
  ): Promise<MemberChannel> {
    const where = socket.url ?? 'the coordinator';
    const identity: MemberIdentity = { kind: 'tab', adapter: tab.adapter.slice(0, TAB_TEXT_LIMIT), agent: tab.agent.slice(0, TAB_TEXT_LIMIT) };
    try {
      checkSecret(secret);
    } catch (error) {
      return Promise.reject(error);
    }
    // Listening from the start: the challenge may arrive in the same turn as the socket opens.
    const channel = new MemberChannel(webSocketStream(socket), where, secret, identity);
    return MemberChannel.handshake(options.timeoutMs, 'tab', where, () => socket.close(), async () => {
      if (socket.readyState === 0) {
        await new Promise<void>((resolve, reject) => {
          socket.addEventListener('open', () => resolve());
          socket.addEventListener('close', () => reject(new Error(`tab: cannot reach the coordinator at ${where}: the WebSocket closed before it opened (wrong address or path, or a page origin it does not allow)`)));
        });
      }
      return channel;
    });
  }

  /**
   * Opens the channel (`open` connects and wraps the stream) and waits for init; with `timeoutMs`,
   * no longer than that in all. `abort` drops the connection when time runs out.
   */
  protected static async handshake<T extends MemberChannel>(
    timeoutMs: number | undefined, who: string, where: string, abort: () => void, open: () => Promise<T>,
  ): Promise<T> {
    if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new RangeError(`${who}: connecting needs timeoutMs > 0 (got ${timeoutMs})`);
    let connected = false;
    let timer: Timer | undefined;
    const expired = new Promise<never>((_, reject) => {
      if (timeoutMs === undefined) return;
      timer = setTimeout(() => {
        abort();
        const seconds = `${(timeoutMs / 1000).toFixed(1)} s`;
        reject(new Error(connected
          ? `${who}: connected to ${where}, but no init came from it within ${seconds}: is this run's collective server listening there (and not busy with another run)?`
          : `${who} could not connect to the coordinator at ${where} within ${seconds}: is the address right, and is that machine up and reachable?`));
      }, timeoutMs);
    });
    expired.catch(() => {}); // raced below; unobserved when nothing expires
    let channel: T | undefined;
    try {
      channel = await Promise.race([expired, open()]);
      connected = true;
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

  /** This member's rank: a worker's from its launcher, a tab's from the server's init. */
  get rank(): number {
    if (this.assignedRank === undefined) throw new Error('MemberChannel.rank: a tab has no rank until the coordinator\'s init (await connectTab)');
    return this.assignedRank;
  }

  /** How messages name this member: "rank 2", or "tab" before a tab has its rank. */
  private get who(): string {
    return this.assignedRank === undefined ? 'tab' : `rank ${this.assignedRank}`;
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

  /**
   * The last message: resolves once the coordinator has read it (see leave). Then exit 0. Throws
   * brokenBy when the channel broke first: the coordinator cannot hear done, so the work did not end well.
   */
  async done(summary: unknown): Promise<void> {
    if (this.closed) return;
    if (this.broken) throw this.broken;
    await this.connection.send({ type: 'done', summary });
    await this.leave();
  }

  /** Reports the error to the coordinator, as the last message (see leave); then exit non-zero. */
  async fail(error: Error): Promise<void> {
    if (this.broken || this.closed) return;
    await this.connection.send({ type: 'error', message: error.message, ...(error.stack ? { stack: error.stack } : {}) });
    await this.leave();
  }

  /**
   * Closes this side after a last message and waits until the coordinator closes its side, which it
   * does once it has read everything (a socket answers an end with its own; a WebSocket its close).
   * A process that exits at once may leave the coordinator's latest heartbeat unread; then the
   * coordinator's next write to it fails, and a failed write closes its socket before it reads the
   * last message: a finished worker was reported as lost (test/comm/launch.test.ts makes that
   * happen). Bounded, so a coordinator that never answers does not keep this worker alive.
   */
  private async leave(): Promise<void> {
    this.close();
    let timer: Timer | undefined;
    const bound = new Promise((resolve) => (timer = setTimeout(resolve, LEAVE_WAIT_MS)));
    await Promise.race([this.connection.drained(), bound]);
    clearTimeout(timer);
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

  /** What broke the channel (the coordinator closed it or went silent, a bad frame, a stop), if it broke. */
  get brokenBy(): Error | undefined {
    return this.broken;
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
    this.connection.end();
  }

  private async collective(
    kind: CollectiveKind, dtype: CommDtype, count: number, payload: Uint8Array | undefined, into: Uint8Array | undefined, step?: number,
    scope: AveragingScope = 'global',
  ): Promise<Uint8Array> {
    if (this.broken) throw this.broken;
    if (this.closed) throw new Error(`${this.who}: ${kind} after close()`);
    if (this.pending) {
      throw new Error(
        `${this.who}: ${describeCollective(kind, this.nextRound[kind])} started while ` +
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
      this.stop(new Error(`${this.who}: the coordinator stopped the run${header.reason ? ` (${header.reason})` : ''}`));
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

  /**
   * Web Crypto answers later (a promise), so a handshake step runs after the frame that asked for
   * it; anything it throws breaks the channel as a bad frame would.
   */
  private later(step: () => Promise<void>): void {
    step().catch((error: Error) => {
      this.connection.destroy();
      this.breakWith(error instanceof ProtocolError ? error : new ProtocolError(`${this.who}: bad frame from the coordinator: ${error.message}`));
    });
  }

  /** The handshake's member side: prove the secret over the server's nonce, and challenge it in turn. */
  private answerChallenge(serverNonce: string): void {
    if (this.helloNonce !== undefined) throw new ProtocolError(`${this.who}: a second challenge from the coordinator`);
    const nonce = (this.helloNonce = newNonceWeb());
    const identity = this.identity;
    this.later(async () => {
      const hello: Header = identity.kind === 'worker'
        ? { type: 'hello', rank: identity.rank, pid: identity.pid, nonce, proof: await handshakeProofAsync(this.secret, 'worker', serverNonce, identity.rank) }
        : { type: 'tab-hello', nonce, proof: await handshakeProofAsync(this.secret, 'tab', serverNonce, TAB_PROOF_RANK), adapter: identity.adapter, agent: identity.agent };
      await this.connection.send(hello);
    });
  }

  private initialize(init: HeaderOf<'init'>, payload: Uint8Array): void {
    const waiting = this.awaitingInit;
    if (!waiting || this.initSeen) throw new ProtocolError(`${this.who}: a second init from the coordinator`);
    this.initSeen = true;
    const nonce = this.helloNonce;
    if (nonce === undefined) throw new ProtocolError(`${this.who}: init from the coordinator before its challenge`);
    // A worker's rank is its own; a tab's is the one init gives it, and the server's proof covers it.
    const rank = this.identity.kind === 'worker' ? this.identity.rank : init.rank;
    this.later(async () => {
      // Before anything in init is used: only this run's coordinator can answer our nonce.
      if (!(await proofMatchesAsync(this.secret, 'server', nonce, rank, init.proof))) {
        throw new ProtocolError(
          `${this.who}: the coordinator's init carried a wrong proof: it does not hold this run's secret ` +
            "(another run's coordinator at this address?), so its config is refused",
        );
      }
      if (init.rank !== rank) throw new ProtocolError(`${this.who}: init is for rank ${init.rank}; the server and this worker disagree about its rank`);
      if (this.broken) return; // the connection failed while the proof was checked: connecting has been told
      this.awaitingInit = undefined;
      this.assignedRank = rank;
      const rejoin = init.rejoin && { ...init.rejoin, params: init.count > 0 ? asFloat32(payload) : undefined, step: init.rejoin.step };
      this.session = { worldSize: init.worldSize, config: init.config, rejoin };
      this.liveRanks = Array.from({ length: init.worldSize }, (_, r) => r);
      if (rejoin) this.nextRound = { ...rejoin.rounds };
      // From a timer, not from the work: a long GPU step or a wait for slower ranks still beats; a
      // stopped process or a blocked event loop does not, and the server reports that silence.
      this.heartbeat = unref(setInterval(() => this.beat(), init.heartbeatMs));
      // Checked several times per limit, so a silence is noticed soon after it passes; unref'd like the heartbeat.
      const every = Math.min(1000, init.silenceLimitMs / 4);
      this.lastSilenceCheckAt = performance.now();
      this.silenceCheck = unref(setInterval(() => this.checkForSilence(init.silenceLimitMs, every), every));
      waiting.resolve();
    });
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
      `${this.who}: the coordinator at ${this.where} sent nothing for ${(silentMs / 1000).toFixed(1)} s ` +
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
