// The collective server: accepts worker connections, checks every frame, runs the collectives
// (all-reduce rounds through reduction.ts, broadcasts from the lowest live rank) and tells whoever
// runs it what happened through ServerEvents. It forks nothing and knows no processes: whatever
// connects and proves it holds the run's secret (handshake.ts) in a hello with a rank of this run is
// that rank's worker, and gets the run's config in init; a connection that does not is closed and
// reported, and changes nothing. It listens on a Unix socket path (workers on this machine) or a TCP
// address (workers elsewhere): the same accept, handshake and frame code serves both. A browser tab
// (issue 15) is one more member over a WebSocket (tab-endpoint.ts hands it to acceptTab): it proves
// the same secret in a tab-hello, claims no rank, and takes the one ServerOptions.tabSeat gives it.
// supervisor.ts starts local worker processes and decides what a lost one means.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { socketStream, type ByteStream } from './byte-stream.js';
import { CollectiveMismatchError, CollectiveTracker, describeCollective, type OpenCollective } from './collective.js';
import { bytesPerElement, type CommDtype } from './delta-codec.js';
import { SimulatedLink, linkIsOff, type LinkOptions } from './link.js';
import type { OuterOptimizer } from './outer-optimizer.js';
import { checkEndpoint, describeEndpoint, isLoopback, isTcp, KEEPALIVE_IDLE_MS, type Endpoint } from './endpoint.js';
import { handshakeProof, HELLO_HEADER_LIMIT_BYTES, HELLO_TIMEOUT_MS, newNonce, newSecret, proofMatches, TAB_PROOF_RANK } from './handshake.js';
import { insecureSecret, JOIN_TOKEN_ENV, MAKE_TOKEN } from './join-token.js';
import {
  asFloat32, bytesOf, DEFAULT_FRAME_LIMITS, heartbeatIntervalMs, ProtocolError, TAB_SENDS, WORKER_SENDS, type CollectiveKind, type Header, type HeaderOf, type ReduceTag,
} from './protocol.js';
import { RefusedError, type Refusal, type RefusalKind } from './refusals.js';
import { Reduction } from './reduction.js';
import { FrameConnection } from './transport.js';
import type { Upstream, UpstreamResult } from './upstream.js';
import { WorkerFailedError, type CommStats, type CoordinatorHandle, type RoundStats } from './launch-api.js';

export interface ServerOptions {
  worldSize: number;
  /**
   * The ranks whose workers connect here (default: all of them). A machine's launcher serves its own
   * workers' global ranks and reduces through `upstream`.
   */
  ranks?: readonly number[];
  /** Across machines: each collective of this machine's workers is completed by the level above (upstream.ts). */
  upstream?: Upstream | undefined;
  /** Simulated interconnect on every link, both directions. */
  link?: LinkOptions | undefined;
  commDtype?: CommDtype;
  outerOptimizer?: OuterOptimizer | undefined;
  /** A rank that sends nothing this long, or only heartbeats while others wait for it in a collective, is reported by onSilent. */
  timeoutMs: number;
  /** How often workers send a heartbeat (told in init); by default often enough that several fit in timeoutMs. */
  heartbeatMs?: number;
  /** Sent to every worker in init: the run's settings, opaque here. */
  workerConfig?: unknown;
  /**
   * The run's secret (handshake.ts): a connection proves it holds it before anything it says
   * counts. Without one, a server on a Unix socket or a loopback address makes a fresh one
   * (`secret` then tells it, for the workers the caller starts); on any other address it refuses
   * to listen, unless `insecure`.
   */
  secret?: Uint8Array | undefined;
  /**
   * For trusted networks: listen on any address without a secret. The handshake still runs, with a
   * publicly known secret (join-token.ts's insecureSecret(), which the workers pass too), so there
   * is one code path for every connection, strangers are still bounded and timed out, and a worker
   * holding a real token is refused by an insecure server rather than joining it by mistake.
   * Warns through onWarning each time it listens so.
   */
  insecure?: boolean;
  /** A connection without a valid hello this long after it was accepted is refused. Default HELLO_TIMEOUT_MS. */
  helloTimeoutMs?: number;
  /**
   * Which rank a browser tab that proved the secret takes (the launcher knows which ranks tabs may
   * hold); undefined refuses it ('seat'). Without it every tab is refused so.
   */
  tabSeat?: ((tab: TabInfo) => number | undefined) | undefined;
}

/** A browser tab as its connection and tab-hello describe it. */
export interface TabInfo {
  /** Where it connected from, e.g. "127.0.0.1 port 51234". */
  address: string;
  /** Its WebGPU adapter and navigator.userAgent, as it said (bounded: protocol.ts's TAB_TEXT_LIMIT). */
  adapter: string;
  agent: string;
}

/** "tab at 127.0.0.1 port 51234 (SwiftShader)": a tab has no pid, so reports name it so. */
export const describeTab = (tab: TabInfo): string => `tab at ${tab.address}${tab.adapter ? ` (${tab.adapter})` : ''}`;

export interface RoundComplete {
  tag: ReduceTag;
  round: number;
  /** The optimizer step the round averaged after, as the workers' headers said (undefined if they did not). */
  step: number | undefined;
  /** The server's buffer, valid during the call only (it is reused next round). */
  averaged: Float32Array;
}

export interface SilenceReport {
  /**
   * 'silent': nothing at all arrived from these ranks, heartbeats included, wherever they are in the
   * run: the process is stopped or its event loop blocked. 'stalled': only heartbeats arrived while
   * others waited for them in the open collective: alive, but not getting there.
   */
  kind: 'silent' | 'stalled';
  /**
   * Each rank with its pid (as its hello said), when it was last heard from (for 'stalled': when it
   * last sent anything but a heartbeat), e.g. "rank 2: 3.1 s ago", and what its last heartbeat said it was doing.
   */
  ranks: Array<{
    rank: number; pid: number | undefined; lastHeard: string; doing: string | undefined;
    /** For a browser tab (which has no pid): describeTab's words for it. */
    tab: string | undefined;
  }>;
  /** Ranks waiting in the open collective, and its description; none and undefined when none is open. */
  waiting: number[];
  collective: string | undefined;
  timeoutMs: number;
}

/**
 * What the server reports. Handlers run inside frame handling; checkHello may throw to refuse a
 * hello, and any other handler that throws stops the run with a CoordinatorError (not blamed on the rank whose frame it handled).
 */
export interface ServerEvents {
  /** Something the person running it should know that does not stop the run (an insecure listener). Default: stderr. */
  onWarning?(message: string): void;
  /** May refuse a proven hello by throwing (the launcher knows which process should hold `rank`). */
  checkHello?(rank: number, pid: number): void;
  /** A browser tab proved the secret and took `rank` (ServerOptions.tabSeat chose it). */
  onTabJoined?(rank: number, tab: TabInfo): void;
  /**
   * A tab's connection closed: after its done ('done'), while the run went on without its done
   * ('lost': the page closed or the network went; the rank is the caller's to drop or replace, as
   * for a worker whose process exited), or because the run was ending ('ended').
   */
  onTabLeft?(rank: number, tab: TabInfo, why: 'done' | 'lost' | 'ended'): void;
  /** A connection was closed before its handshake completed; the run is untouched. */
  onRefused(refusal: Refusal): void;
  onLog(rank: number, record: unknown): void;
  onDone(rank: number, summary: unknown): void;
  /** A worker reported a failure; its connection or process ending is how it is lost. */
  onWorkerError(rank: number, message: string): void;
  onRoundComplete(round: RoundComplete): void;
  /** Checked about every second; reported again until something changes. */
  onSilent(report: SilenceReport): void;
  /** A protocol error, a mismatch between ranks, a broadcast without its source: the run cannot go on. */
  onFatal(error: Error): void;
}

/** One rank's place in the run, held by one connection at a time. */
interface Seat {
  rank: number;
  connection: FrameConnection | undefined;
  done: boolean;
  /** Dropped, or handed to a new worker: this seat's frames no longer count. */
  lost: boolean;
  /** When the server began expecting this rank: the watchdog's clock until it connects. */
  expectedSince: number;
  /** When its last frame other than a heartbeat arrived (or expectedSince): the clock for 'stalled'. */
  lastProgressAt: number;
  /** What its hello and last heartbeat said. */
  pid: number | undefined;
  /** Set when a browser tab holds this seat. */
  tab: TabInfo | undefined;
  doing: string | undefined;
  /** Reusable payload buffers, one per all-reduce tag (a rank has at most one round in flight). */
  inputs: Partial<Record<ReduceTag, Float32Array>>;
  /** Where a compressed round's 16-bit payload lands before it is decoded into inputs.params. */
  packed: Uint8Array;
  /** Bytes moved by the rank's earlier connections, so the run's totals survive a respawn. */
  priorBytes: { sent: number; received: number };
  /** For a worker taking over the rank: what its init says, and the weights it carries. */
  rejoin: { header: NonNullable<HeaderOf<'init'>['rejoin']>; params: Float32Array | undefined } | undefined;
}

export class CollectiveServer implements CoordinatorHandle {
  private readonly server: Server = createServer((socket) => this.acceptSocket(socket));
  private readonly connections = new Set<FrameConnection>();
  /** Connections still in their handshake, each with how to refuse it. */
  private readonly unproven = new Map<FrameConnection, (kind: RefusalKind, why: string) => void>();
  private accepted = 0;
  /** Indexed by rank; only the ranks served here are present (see seatList). */
  private readonly seats: Seat[];
  private readonly ranks: readonly number[];
  private readonly tracker: CollectiveTracker;
  private readonly reduction: Reduction;
  /** The optimizer step of the last 'params' round, for a worker that takes over a rank. */
  private parameterStep: number | undefined;
  private readonly totals = { reduceSeconds: 0, transferSeconds: 0, rounds: 0 };
  private lastRound: RoundStats | undefined;
  /** Per rank, how long its frame of the open collective took to arrive (first byte to delivered). */
  private readonly inboundMs: number[];
  /** Set once the run is ending: frames, errors and silences stop mattering. */
  private halted = false;
  private watchdog: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private runSecret: Uint8Array | undefined;

  constructor(private readonly options: ServerOptions, private readonly events: ServerEvents) {
    const now = performance.now();
    this.ranks = options.ranks ?? Array.from({ length: options.worldSize }, (_, rank) => rank);
    if (this.ranks.length === 0 || this.ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= options.worldSize)) {
      throw new RangeError(`CollectiveServer: ranks must be some of 0 … ${options.worldSize - 1} (got ${this.ranks.join(', ')})`);
    }
    this.seats = [];
    for (const rank of this.ranks) this.seats[rank] = newSeat(rank, now, { sent: 0, received: 0 });
    this.tracker = new CollectiveTracker(options.worldSize, this.ranks);
    this.reduction = new Reduction(options);
    this.inboundMs = new Array<number>(options.worldSize).fill(0);
  }

  /**
   * Listens on a Unix socket path or a TCP address (port 0: any free port; `address` then says
   * which); the watchdog's clock starts now for every rank. Refuses, before binding anything, a
   * non-loopback address without a secret (see ServerOptions.secret).
   */
  async listen(endpoint: Endpoint): Promise<void> {
    checkEndpoint(endpoint, 'CollectiveServer.listen');
    this.runSecret = this.secretFor(endpoint);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (e) => reject(new Error(`cannot listen on ${describeEndpoint(endpoint)}: ${e.message}`)));
      if (isTcp(endpoint)) this.server.listen({ host: endpoint.host, port: endpoint.port }, resolve);
      else this.server.listen(endpoint, resolve);
    });
    if (!this.options.secret && this.options.insecure) {
      // Named with the port it got, each time: whoever reads the log should know what was open.
      const warning = `warning: listening on ${describeEndpoint(this.address)} WITHOUT a join secret (insecure): anyone who can reach it can join this run; ` +
        `on any network you do not fully trust, make a token (${MAKE_TOKEN}) and give it to every machine`;
      if (this.events.onWarning) this.events.onWarning(warning);
      else process.stderr.write(`${warning}\n`);
    }
    const now = performance.now();
    for (const seat of this.seatList) seat.expectedSince = seat.lastProgressAt = now;
    this.watchdog = setInterval(() => this.checkForSilence(), Math.min(1000, this.options.timeoutMs / 4));
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
  }

  /** Where it listens, once listen() has resolved: the socket path, or the TCP address and the port it got. */
  get address(): Endpoint {
    const bound = this.server.address();
    if (bound === null) throw new Error('CollectiveServer.address: not listening (call listen() first)');
    if (typeof bound === 'string') return bound;
    return { host: (bound as AddressInfo).address, port: (bound as AddressInfo).port };
  }

  /** The secret connections must prove, once listen() has been called: the one given, or the one it made. */
  get secret(): Uint8Array {
    if (!this.runSecret) throw new Error('CollectiveServer.secret: not listening (call listen() first)');
    return this.runSecret;
  }

  private secretFor(endpoint: Endpoint): Uint8Array {
    const { secret, insecure } = this.options;
    if (secret) return secret;
    if (insecure) return insecureSecret();
    if (!isTcp(endpoint) || isLoopback(endpoint.host)) return newSecret(); // only this machine can connect: a fresh one, which the caller hands out
    throw new Error(
      `refusing to listen on ${describeEndpoint(endpoint)} without a join secret: anyone who can reach that address could join the run and change its weights. ` +
        `Make a token (${MAKE_TOKEN}) and give it to every machine (a token file, or ${JOIN_TOKEN_ENV}); ` +
        'or listen on 127.0.0.1 for this machine only; or, on a network you trust, choose insecure',
    );
  }

  /** The ranks the collectives wait for, in rank order. */
  get liveRanks(): number[] {
    return [...this.tracker.members].sort((a, b) => a - b);
  }

  /** Collectives every rank has completed, per kind. */
  get completed(): Readonly<Record<CollectiveKind, number>> {
    return this.tracker.completed;
  }

  isDone(rank: number): boolean {
    return this.seats[rank]!.done;
  }

  lastAveraged(tag: ReduceTag): Float32Array | undefined {
    return this.reduction.last(tag)?.slice();
  }

  /** The last parameter average (the server's buffer): what every member held after the last round. */
  get lastParameters(): Float32Array | undefined {
    return this.reduction.last('params');
  }

  /** The seats of the ranks served here, in rank order. */
  private get seatList(): Seat[] {
    return this.ranks.map((rank) => this.seats[rank]!);
  }

  stats(): CommStats {
    const perRank = this.seatList.map((s) => ({
      rank: s.rank,
      bytesSent: s.priorBytes.sent + (s.connection?.bytesSent ?? 0),
      bytesReceived: s.priorBytes.received + (s.connection?.bytesReceived ?? 0),
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

  /** Resolves once `rank`'s connection has closed and every frame it sent has been handled (at once if it never connected). */
  drained(rank: number): Promise<void> {
    return this.seats[rank]!.connection?.drained() ?? Promise.resolve();
  }

  /**
   * A lost rank leaves for good: collectives wait for the others from now on. Returns the
   * collectives completed before it left, and `resume`, which completes the open collective if
   * that rank was all it waited for (called once the caller has reported the loss).
   */
  drop(rank: number): { completed: Record<CollectiveKind, number>; resume: () => void } {
    const completed = { ...this.tracker.completed };
    this.seats[rank]!.lost = true;
    const complete = this.tracker.drop(rank);
    return { completed, resume: () => complete && this.complete(complete) };
  }

  /**
   * A new worker will take over `rank` (its `restarts`-th): the rank stays a member, the open
   * collective waits for the newcomer, whose init carries the last parameter average and its step.
   * Returns the collectives every rank has completed, where the newcomer starts.
   */
  replace(rank: number, restarts: number): Record<CollectiveKind, number> {
    const old = this.seats[rank]!;
    old.lost = true;
    this.tracker.reset(rank);
    const rounds = { ...this.tracker.completed };
    const seat = newSeat(rank, performance.now(), {
      sent: old.priorBytes.sent + (old.connection?.bytesSent ?? 0), received: old.priorBytes.received + (old.connection?.bytesReceived ?? 0),
    });
    const params = this.reduction.last('params');
    const carried = rounds.params > 0 && params ? params.slice() : undefined;
    seat.rejoin = {
      header: { restarts, rounds, ...(carried && this.parameterStep !== undefined ? { step: this.parameterStep } : {}) },
      params: carried,
    };
    this.seats[rank] = seat;
    return { ...rounds };
  }

  /**
   * Closes `rank`'s connection, as killing its process does for a worker: for a browser tab, which
   * has no process (a hung tab, or one that outstayed the run's end). Its end is then reported as any.
   */
  disconnect(rank: number): void {
    this.seats[rank]?.connection?.destroy();
  }

  /** The run is ending: from now on frames, errors and silences are ignored. */
  halt(): void {
    this.halted = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  /** Asks every connected worker to stop (past any simulated link delay). */
  sendStop(reason: string): void {
    for (const seat of this.seatList) {
      if (seat.connection?.open) void seat.connection.send({ type: 'stop', reason }, undefined, { bypassLink: true });
    }
  }

  /** Destroys every connection, proven or not, and stops listening, without waiting for any peer. */
  async close(): Promise<void> {
    this.halt();
    for (const refuse of [...this.unproven.values()]) refuse('ended', 'it had not completed its hello when the run ended');
    for (const connection of this.connections) connection.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- connections and frames ----

  private acceptSocket(socket: Socket): void {
    if (this.halted) {
      socket.destroy(); // the run is ending: nobody joins it now
      return;
    }
    // A worker machine that dies or drops off the network sends no FIN: probe it (idle ones only; heartbeats cover the rest).
    if (socket.remoteAddress) socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    this.accept(socketStream(socket), 'worker');
  }

  /**
   * A browser tab's WebSocket, once its upgrade was accepted (tab-endpoint.ts): a stranger like any
   * connection until its tab-hello proves the secret, then a member in the rank tabSeat gives it.
   */
  acceptTab(stream: ByteStream): void {
    if (!this.runSecret) throw new Error('CollectiveServer.acceptTab: not listening (call listen() first: it settles the secret a tab must prove)');
    if (this.halted) {
      stream.destroy();
      return;
    }
    this.accept(stream, 'tab');
  }

  /**
   * A new connection is a stranger until its hello proves otherwise: it gets a challenge, may send
   * one small frame (no payload) within helloTimeoutMs, and anything else closes it, reported
   * through onRefused, never onFatal. Only a proven worker's protocol errors stop the run.
   */
  private accept(stream: ByteStream, kind: 'worker' | 'tab'): void {
    const where = kind === 'tab'
      ? `tab connection #${++this.accepted} from ${stream.remote ?? 'an unknown address'}`
      : `connection #${++this.accepted} on ${stream.remote ?? 'the local socket'}`;
    const challenge = newNonce();
    let seat: Seat | undefined;
    const link = this.options.link;
    const links = linkIsOff(link) ? {} : { inbound: new SimulatedLink(link!), outbound: new SimulatedLink(link!) };
    const refuse = (kind: RefusalKind, why: string) => {
      if (!this.unproven.delete(connection)) return; // proven, or refused already
      clearTimeout(timer);
      connection.destroy();
      this.events.onRefused({ kind, message: `${where}: ${why}` });
    };
    const connection = new FrameConnection(stream, kind === 'tab' ? TAB_SENDS : WORKER_SENDS, {
      onHeader: (header, payloadBytes) => {
        if (!seat) {
          // Throws to refuse.
          seat = kind === 'tab' ? this.tabHello(header, challenge, connection, stream.remote ?? 'an unknown address') : this.hello(header, challenge, connection);
          this.unproven.delete(connection);
          clearTimeout(timer);
          connection.limits = DEFAULT_FRAME_LIMITS;
          return undefined;
        }
        return this.checkHeader(seat, header, payloadBytes);
      },
      onFrame: (header, payload, timing) => {
        if (seat && header.type !== 'hello' && header.type !== 'tab-hello') this.onFrame(seat, header, payload, timing.startedAt, timing.deliveredAt);
      },
      onError: (error) => {
        if (!seat) {
          refuse(error instanceof RefusedError ? error.kind : 'not-hello', error instanceof RefusedError ? error.message : `it sent something other than a valid hello: ${error.message}`);
          return;
        }
        if (this.halted) return;
        // Mismatch errors already name every rank involved; others get the peer's name in front.
        if (!(error instanceof CollectiveMismatchError)) error.message = `rank ${seat.rank}${seat.tab ? ` (${describeTab(seat.tab)})` : ''}: ${error.message}`;
        this.events.onFatal(error);
      },
      onClose: (why) => {
        this.connections.delete(connection);
        if (why) refuse('not-hello', `it ${why.startsWith('sent') ? why : `broke its connection before a hello (${why})`}`);
        else refuse('left', connection.receiving ? 'it sent part of a frame, then hung up' : 'it hung up without a hello');
        // A worker's end is told by its process's exit (supervisor.ts); a tab has no process, so its connection's end is.
        const tab = seat?.tab;
        if (seat && tab && seat.connection === connection) {
          const why = seat.done ? 'done' : this.halted ? 'ended' : 'lost';
          const rank = seat.rank;
          this.notify(`the departure of rank ${rank} (${describeTab(tab)})`, () => this.events.onTabLeft?.(rank, tab, why));
        }
      },
    }, links, { headerBytes: HELLO_HEADER_LIMIT_BYTES, payloadBytes: 0 });
    const timeoutMs = this.options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    const timer = setTimeout(() => {
      const seconds = `${(timeoutMs / 1000).toFixed(1)} s`;
      if (connection.receiving) refuse('partial', `it sent part of a frame, then nothing more for ${seconds} after connecting`);
      else refuse('silent', `it said nothing for ${seconds} after connecting`);
    }, timeoutMs).unref();
    this.connections.add(connection);
    this.unproven.set(connection, refuse);
    void connection.send({ type: 'challenge', nonce: challenge });
  }

  /** The handshake's server side: a hello whose proof answers this connection's challenge takes its rank's seat. */
  private hello(header: Header, challenge: string, connection: FrameConnection): Seat {
    if (header.type !== 'hello') throw new RefusedError('not-hello', `its first frame was '${header.type}', not a hello`);
    // The proof first: until it holds, nothing the connection says, its rank included, counts.
    if (!proofMatches(this.secret, 'worker', challenge, header.rank, header.proof)) {
      throw new RefusedError('proof',
        `its hello for rank ${header.rank} (pid ${header.pid}) carried a wrong proof: it does not hold this run's secret, ` +
          'or it replayed a hello made for another connection');
    }
    const { worldSize } = this.options;
    const seat = this.seats[header.rank];
    const claim = (why: string) => new RefusedError('rank', `its hello (pid ${header.pid}) claims rank ${header.rank}, but ${why}`);
    if (!seat) {
      throw claim(this.ranks.length === worldSize
        ? `this run has ${worldSize} workers (ranks 0 to ${worldSize - 1})`
        : `this machine's workers are ranks ${this.ranks.join(', ')} of ${worldSize}`);
    }
    if (seat.connection) throw claim('another connection holds that rank');
    if (!this.tracker.members.has(header.rank)) throw claim('that rank was dropped from this run');
    try {
      this.events.checkHello?.(header.rank, header.pid);
    } catch (error) {
      throw claim((error as Error).message);
    }
    seat.connection = connection;
    seat.pid = header.pid;
    seat.lastProgressAt = performance.now();
    this.sendInit(seat, header.nonce);
    return seat;
  }

  /** The tab's side of the handshake: a proven tab-hello takes the seat ServerOptions.tabSeat gives it. */
  private tabHello(header: Header, challenge: string, connection: FrameConnection, address: string): Seat {
    if (header.type !== 'tab-hello') throw new RefusedError('not-hello', `its first frame was '${header.type}', not a tab-hello`);
    const tab: TabInfo = { address, adapter: header.adapter, agent: header.agent };
    if (!proofMatches(this.secret, 'tab', challenge, TAB_PROOF_RANK, header.proof)) {
      throw new RefusedError('proof',
        `its tab-hello (${describeTab(tab)}) carried a wrong proof: the page does not hold this run's join token, ` +
          'or it replayed a tab-hello made for another connection');
    }
    const rank = this.options.tabSeat?.(tab);
    const refuse = (why: string) => new RefusedError('seat', `${describeTab(tab)} proved the secret, but ${why}`);
    if (rank === undefined) {
      throw refuse(this.options.tabSeat ? 'no rank is free for a tab (every rank tabs may take is held)' : 'this run takes no browser tabs');
    }
    const seat = this.seats[rank];
    if (!seat) throw refuse(`the rank it was given, ${rank}, is not one served here (ranks ${this.ranks.join(', ')} of ${this.options.worldSize})`);
    if (seat.connection) throw refuse(`the rank it was given, ${rank}, is held by another connection`);
    if (!this.tracker.members.has(rank)) throw refuse(`the rank it was given, ${rank}, was dropped from this run`);
    seat.connection = connection;
    seat.tab = tab;
    seat.lastProgressAt = performance.now();
    this.sendInit(seat, header.nonce);
    this.notify(`rank ${rank}'s joining (${describeTab(tab)})`, () => this.events.onTabJoined?.(rank, tab));
    return seat;
  }

  /** Answers a proven hello: the server's proof over the member's nonce, and the run's settings. */
  private sendInit(seat: Seat, memberNonce: string): void {
    const params = seat.rejoin?.params;
    const init: Header = {
      type: 'init', proof: handshakeProof(this.secret, 'server', memberNonce, seat.rank),
      rank: seat.rank, worldSize: this.options.worldSize, config: this.options.workerConfig, count: params?.length ?? 0, heartbeatMs: this.heartbeatMs,
      silenceLimitMs: Math.ceil(this.options.timeoutMs),
      ...(seat.rejoin ? { rejoin: seat.rejoin.header } : {}),
    };
    void seat.connection!.send(init, params && bytesOf(params));
  }

  /** Validates a header before its payload arrives, and picks a reusable buffer for it. */
  private checkHeader(seat: Seat, header: Header, payloadBytes: number): Uint8Array | undefined {
    if (this.halted || seat.lost) return undefined;
    const rank = seat.rank;
    if (header.type !== 'heartbeat') seat.lastProgressAt = performance.now();
    switch (header.type) {
      case 'hello':
      case 'tab-hello':
        throw new ProtocolError(`rank ${rank} said hello twice`);
      case 'allreduce':
      case 'broadcast': {
        const kind = header.type === 'allreduce' ? header.tag : 'broadcast';
        const finished = this.liveRanks.filter((r) => this.seats[r]!.done);
        if (finished.length > 0) {
          throw new ProtocolError(
            `rank ${rank} entered ${describeCollective(kind, header.round)} but rank ${finished.join(', ')} ` +
              'already sent done: every rank must run the same number of rounds',
          );
        }
        const dtype = header.type === 'allreduce' ? header.dtype ?? 'f32' : 'f32';
        this.reduction.checkDtype(rank, describeCollective(kind, header.round), kind, dtype);
        this.tracker.enter(
          rank, kind, header.round, header.count, dtype, header.type === 'allreduce' ? header.step : undefined,
          header.type === 'allreduce' ? header.scope ?? 'global' : 'global',
        );
        if (header.type !== 'allreduce') return undefined;
        let input = seat.inputs[header.tag];
        if (input?.length !== header.count) input = seat.inputs[header.tag] = new Float32Array(header.count);
        if (dtype === 'f32') return bytesOf(input);
        if (seat.packed.byteLength !== payloadBytes) seat.packed = new Uint8Array(payloadBytes);
        return seat.packed;
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
        return undefined;
    }
  }

  private onFrame(seat: Seat, header: Header, payload: Uint8Array, startedAt: number, deliveredAt: number): void {
    if (this.halted || seat.lost) return;
    const rank = seat.rank;
    switch (header.type) {
      case 'allreduce':
      case 'broadcast': {
        const dtype = header.type === 'allreduce' ? header.dtype ?? 'f32' : 'f32';
        const weights = dtype === 'f32' ? asFloat32(payload) : this.reduction.decode(rank, dtype, payload, seat.inputs.params!);
        const complete = this.tracker.deliver(rank, weights, deliveredAt);
        this.inboundMs[rank] = deliveredAt - startedAt;
        if (complete) this.complete(complete);
        return;
      }
      case 'heartbeat':
        seat.doing = header.doing;
        return;
      case 'log':
        this.notify(`rank ${rank}'s log record`, () => this.events.onLog(rank, header.record));
        return;
      case 'done':
        seat.done = true;
        this.notify(`rank ${rank}'s done`, () => this.events.onDone(rank, header.summary));
        return;
      case 'error':
        this.notify(`rank ${rank}'s error report`, () => this.events.onWorkerError(rank, header.message));
        return;
      default:
        return;
    }
  }

  // ---- collectives ----

  private complete(c: OpenCollective): void {
    const members = this.liveRanks.map((rank) => this.seats[rank]!);
    const deliveredAt = members.map((s) => c.deliveredAt[s.rank]!);
    const timing = {
      first: Math.min(...deliveredAt), last: Math.max(...deliveredAt),
      inboundSeconds: Math.max(...members.map((s) => this.inboundMs[s.rank]!)) / 1000,
    };
    // A broadcast's data comes from its source, the lowest member (rank 0 until it is dropped).
    const source = c.kind === 'broadcast' ? members.find((s) => (c.payloads[s.rank]?.length ?? 0) > 0)?.rank : undefined;
    // Members only, in rank order: a dropped rank's payload was already removed by the tracker.
    const inputs = c.payloads.filter((p): p is Float32Array => p !== undefined);
    const upstream = this.options.upstream;
    if (upstream && c.scope === 'global') {
      // Across machines: the master completes it; this machine's workers wait for what comes back.
      const t = performance.now();
      const reply = c.kind === 'broadcast'
        ? upstream.broadcast(c.round, source === undefined ? undefined : c.payloads[source], this.liveRanks)
        : upstream.allreduce({ tag: c.kind, round: c.round, step: c.step, inputs, ranks: this.liveRanks });
      reply.then(
        (r) => this.halted || this.finishUpstream(c, r, members, source, timing, performance.now() - t),
        (error: Error) => this.halted || this.events.onFatal(error),
      );
      return;
    }
    let result: Float32Array;
    let encoded: Uint8Array | undefined;
    let reduceMs = 0;
    if (c.kind === 'broadcast') {
      if (source === undefined) {
        // The source was lost after sending, or before the others learned it was gone; they sent nothing.
        this.events.onFatal(new WorkerFailedError(
          `${describeCollective(c.kind, c.round)} lost its source: the rank that was to send the weights was lost at that moment, ` +
            'and no survivor knew it was to take over; the run stops', this.tracker.source, null, null, ''));
        return;
      }
      result = c.payloads[source]!;
      this.reduction.broadcast(result);
    } else {
      ({ result, encoded, reduceMs } = this.reduction.reduce(c.kind, c.dtype, inputs));
      // A round within this machine only is not the run's average: nobody saves or counts it.
      if (c.scope === 'global') {
        if (c.kind === 'params') this.parameterStep = c.step;
        const round = { tag: c.kind, round: c.round, step: c.step, averaged: result };
        if (!this.notify(`the result of ${describeCollective(c.kind, c.round)}`, () => this.events.onRoundComplete(round))) return;
      }
    }
    // Once a rank has been dropped, every result names the survivors, so the lowest takes over rank 0's jobs.
    const dropped = this.tracker.members.size < this.ranks.length ? members.map((s) => s.rank) : undefined;
    this.sendResults(c, { result, encoded, reduceMs, members: dropped }, members, source, timing);
  }

  /** What the master sent back for a collective of this machine's workers: the run's result, recorded as a local one would be. */
  private finishUpstream(
    c: OpenCollective, reply: UpstreamResult, members: Seat[], source: number | undefined, timing: RoundTiming, waitedMs: number,
  ): void {
    if (c.kind !== 'broadcast') {
      const result = this.reduction.record(c.kind, reply.result);
      if (c.kind === 'params') this.parameterStep = c.step;
      const round = { tag: c.kind, round: c.round, step: c.step, averaged: result };
      if (!this.notify(`the result of ${describeCollective(c.kind, c.round)}`, () => this.events.onRoundComplete(round))) return;
    }
    // Waiting for the master is this machine's reduction time, as its workers see it.
    this.sendResults(c, { result: reply.result, encoded: undefined, reduceMs: waitedMs, members: reply.members }, members, source, timing);
  }

  private sendResults(
    c: OpenCollective, out: { result: Float32Array; encoded: Uint8Array | undefined; reduceMs: number; members: number[] | undefined },
    members: Seat[], source: number | undefined, timing: RoundTiming,
  ): void {
    const { result, encoded, reduceMs } = out;
    const reducedAt = performance.now();
    const bytes = encoded ?? bytesOf(result);
    const dtype = c.dtype !== 'f32' ? { dtype: c.dtype } : {};
    const memberList = out.members ? { members: out.members } : {};
    const sends = members.map((s) => {
      const payload = c.kind === 'broadcast' && s.rank === source ? new Uint8Array(0) : bytes;
      const header: Header = {
        type: 'result', collective: c.kind, round: c.round, count: payload.byteLength / bytesPerElement(c.dtype), ...dtype,
        reduceMs, waitMs: Math.max(0, timing.last - c.deliveredAt[s.rank]!), ...memberList,
      };
      return s.connection!.send(header, payload);
    });
    if (c.kind === 'broadcast') return;
    this.totals.rounds++;
    this.totals.reduceSeconds += reduceMs / 1000;
    const tag = c.kind;
    void Promise.all(sends).then((sentAt) => {
      const transferSeconds = timing.inboundSeconds + (Math.max(...sentAt) - reducedAt) / 1000;
      this.totals.transferSeconds += transferSeconds;
      this.lastRound = {
        tag, round: c.round, bytesPerRank: c.count * bytesPerElement(c.dtype), reduceSeconds: reduceMs / 1000, transferSeconds,
        skewSeconds: (timing.last - timing.first) / 1000,
      };
    });
  }

  /** Whoever runs the server reacts to what a rank sent; its failure is the coordinator's, not that rank's. */
  private notify(what: string, handler: () => void): boolean {
    try {
      handler();
      return true;
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      const failure = new CoordinatorError(`the coordinator failed while handling ${what}: ${cause.message}`);
      if (cause.stack) failure.stack = `${failure.name}: ${failure.message}\n${cause.stack.split('\n').slice(1).join('\n')}`;
      this.events.onFatal(failure);
      return false;
    }
  }

  /**
   * Every proven worker hears from the server at least every heartbeatMs, so one whose coordinator
   * died or whose link was cut notices (init.silenceLimitMs). Past any simulated link delay, like
   * stop: a beat must neither wait behind a slow result nor delay one, and it counts no bytes.
   */
  private beat(): void {
    for (const seat of this.seatList) {
      if (!seat.lost && seat.connection?.open) void seat.connection.send({ type: 'server-heartbeat' }, undefined, { bypassLink: true });
    }
  }

  private get heartbeatMs(): number {
    return this.options.heartbeatMs ?? heartbeatIntervalMs(this.options.timeoutMs);
  }

  /**
   * The hang watchdog's eyes. Wherever a member is in the run, nothing at all from it for over
   * timeoutMs (heartbeats come from a timer, so GPU work does not silence them) means it is stopped
   * or blocked; while a collective is open, a member that sent only heartbeats that long without
   * entering it is stalled. A rank still streaming a (slow-link) frame is neither.
   */
  private checkForSilence(): void {
    if (this.halted) return;
    const now = performance.now();
    const { timeoutMs } = this.options;
    const members = this.liveRanks.map((rank) => this.seats[rank]!).filter((s) => !s.done && !s.connection?.receiving);
    const heard = (s: Seat) => s.connection?.lastReceivedAt ?? s.expectedSince;
    const open = this.tracker.open;
    // A process still starting (loading Node and Dawn, on a loaded machine) is not yet expected to
    // beat; it is late only once the others wait for it.
    const silent = members.filter((s) => now - heard(s) > timeoutMs && (s.connection || open));
    if (silent.length > 0) this.events.onSilent(this.silenceReport('silent', silent, heard, now));
    if (!open) return;
    const stalled = members.filter((s) => !silent.includes(s) && !open.entered.has(s.rank) && now - s.lastProgressAt > timeoutMs);
    if (stalled.length > 0) this.events.onSilent(this.silenceReport('stalled', stalled, (s) => s.lastProgressAt, now));
  }

  private silenceReport(kind: SilenceReport['kind'], seats: Seat[], since: (s: Seat) => number, now: number): SilenceReport {
    const open = this.tracker.open;
    return {
      kind,
      ranks: seats.map((s) => ({
        rank: s.rank, pid: s.pid, doing: s.doing, tab: s.tab && describeTab(s.tab),
        lastHeard: `rank ${s.rank}: ${((now - since(s)) / 1000).toFixed(1)} s ago${s.connection ? '' : ', never connected'}`,
      })),
      waiting: open ? this.tracker.waiting() : [],
      collective: open ? describeCollective(open.kind, open.round) : undefined,
      timeoutMs: this.options.timeoutMs,
    };
  }
}

interface RoundTiming {
  /** When the first and the last member's payload arrived. */
  first: number;
  last: number;
  /** The slowest member's frame, first byte to delivered. */
  inboundSeconds: number;
}

/** A failure of the coordinator's own work (saving, reporting), not of any worker. */
export class CoordinatorError extends Error {
  override name = 'CoordinatorError';
}

function newSeat(rank: number, expectedSince: number, priorBytes: Seat['priorBytes']): Seat {
  return {
    rank, connection: undefined, done: false, lost: false, expectedSince, lastProgressAt: expectedSince, pid: undefined, tab: undefined, doing: undefined,
    inputs: {}, packed: new Uint8Array(0), priorBytes, rejoin: undefined,
  };
}
