// The master: node 0's launcher also runs this, the upper level of a run across machines. It
// listens on TCP (TLS with certificates), lets in only machines that prove the join secret
// (handshake.ts, roles 'node' and 'master'; strangers get 4 KiB, no payload and 5 s, as at the
// lower level), holds the rendezvous (every node rank once, with the same settings, within the
// rendezvous timeout), then completes each cross-machine collective from one tensor per machine
// (node-link.ts says what they hold) and sends every machine the same result. It owns the
// run-wide state of averaging: the outer optimizer (DiLoCo) and the 16-bit anchor. A machine that
// fails, hangs up or goes silent stops the run everywhere (or, with 'continue', leaves it).
import type { Server, Socket } from 'node:net';
import { bytesPerElement, type CommDtype } from './delta-codec.js';
import { describeEndpoint, KEEPALIVE_IDLE_MS, type TcpEndpoint } from './endpoint.js';
import { handshakeProof, HELLO_HEADER_LIMIT_BYTES, HELLO_TIMEOUT_MS, newNonce, proofMatches } from './handshake.js';
import { JOIN_TOKEN_ENV, MAKE_TOKEN } from './join-token.js';
import type { OuterOptimizer } from './outer-optimizer.js';
import { asFloat32, DEFAULT_FRAME_LIMITS, heartbeatIntervalMs, NODE_SENDS, ProtocolError, type Header, type HeaderOf } from './protocol.js';
import { Reduction } from './reduction.js';
import { RefusedError, type Refusal, type RefusalKind } from './refusals.js';
import { createLinkServer, type TlsFiles } from './tls.js';
import { socketStream } from './byte-stream.js';
import { FrameConnection } from './transport.js';

export interface HubOptions {
  nodes: number;
  /** Workers per machine: node n's are ranks n·perNode … n·perNode + perNode − 1. */
  perNode: number;
  /** The join secret (join-token.ts), or the public one of --insecure. */
  secret: Uint8Array;
  /** True when `secret` is the public one: allowed on any address, with a warning. */
  insecure?: boolean;
  tls?: TlsFiles | undefined;
  /** A machine silent this long is lost. */
  timeoutMs: number;
  rendezvousTimeoutMs: number;
  /** The master's own settings: a machine must join with the same. Keys are the flags' names. */
  settings: Record<string, string>;
  commDtype: CommDtype;
  outerOptimizer?: OuterOptimizer | undefined;
  /** A lost machine: stop the run ('abort'), or drop its ranks and go on ('continue'). */
  onNodeFailure: 'abort' | 'continue';
  heartbeatMs?: number;
}

export interface HubEvents {
  /** One line for the person running the master: a machine joined, said its adapter, was refused or lost. */
  onLine(line: string): void;
  onRefused(refusal: Refusal): void;
}

interface NodeSeat {
  node: number;
  connection: FrameConnection | undefined;
  address: string;
  host: string;
  pid: number;
  ranks: number[];
  joined: boolean;
  done: boolean;
  lost: boolean;
}

interface OpenRound {
  collective: HeaderOf<'partial'>['collective'];
  round: number;
  count: number;
  step: number | undefined;
  dtype: HeaderOf<'partial'>['dtype'] | undefined;
  firstNode: number;
  parts: Map<number, { header: HeaderOf<'partial'>; payload: Uint8Array }>;
}

export class MasterHub {
  private server: Server | undefined;
  private readonly seats: NodeSeat[];
  private readonly connections = new Set<FrameConnection>();
  private readonly unproven = new Map<FrameConnection, (kind: RefusalKind, why: string) => void>();
  private readonly reduction: Reduction;
  private open: OpenRound | undefined;
  private readonly nextRound = { params: 0, grads: 0, broadcast: 0 };
  private accepted = 0;
  private started = false;
  /** Set once the run is over for the master (ended, failed, or closed): nothing more counts. */
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private rendezvousTimer: NodeJS.Timeout | undefined;
  private allDone!: () => void;
  /** Resolves once every live machine has said done (or the hub stopped). */
  readonly whenAllDone = new Promise<void>((resolve) => (this.allDone = resolve));

  constructor(private readonly options: HubOptions, private readonly events: HubEvents) {
    this.seats = Array.from({ length: options.nodes }, (_, node) => ({
      node, connection: undefined, address: '', host: '', pid: 0, ranks: [], joined: false, done: false, lost: false,
    }));
    this.reduction = new Reduction({ commDtype: options.commDtype, outerOptimizer: options.outerOptimizer });
  }

  get worldSize(): number {
    return this.options.nodes * this.options.perNode;
  }

  /** Listens on `endpoint` (port 0: any free port) and starts the rendezvous clock. */
  async listen(endpoint: TcpEndpoint): Promise<TcpEndpoint> {
    if (this.options.insecure) {
      this.events.onLine(
        `warning: the master listens on ${describeEndpoint(endpoint)} WITHOUT a join secret (--insecure): anyone who can reach it can join this run and change its weights; ` +
          `on any network you do not fully trust, make a token (${MAKE_TOKEN}) and give it to every machine (--join-token-file, or ${JOIN_TOKEN_ENV})`,
      );
    }
    const server = createLinkServer((socket) => this.accept(socket), this.options.tls, (error) => {
      this.events.onRefused({ kind: 'not-hello', message: `a connection failed its TLS handshake (${error.message})` });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`the master cannot listen on ${describeEndpoint(endpoint)}: ${e.message}` +
        ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another run on this port? choose another with --master-port)' : ''))));
      server.listen({ host: endpoint.host, port: endpoint.port }, resolve);
    });
    this.rendezvousTimer = setTimeout(() => this.rendezvousTimedOut(), this.options.rendezvousTimeoutMs);
    const heartbeatMs = this.heartbeatMs;
    this.timers.push(setInterval(() => this.beat(), heartbeatMs), setInterval(() => this.checkForSilence(), Math.min(1000, heartbeatMs)));
    const bound = server.address();
    return typeof bound === 'object' && bound ? { host: endpoint.host, port: bound.port } : endpoint;
  }

  /** Ends the run for every machine still in it, saying why; `failed` makes them exit non-zero. */
  stop(reason: string, failed: boolean): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const seat of this.seats) {
      if (seat.connection?.open && !seat.done) void seat.connection.send({ type: 'node-stop', reason, failed });
    }
    this.allDone();
    this.clearTimers();
  }

  /** Closes every connection and stops listening (after stop(), or once every machine is done). */
  async close(): Promise<void> {
    this.clearTimers();
    this.stopped = true;
    for (const refuse of [...this.unproven.values()]) refuse('ended', 'it had not completed its handshake when the run ended');
    // Give the last frames (node-stop) a moment to leave before the sockets go.
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const connection of this.connections) connection.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.rendezvousTimer) clearTimeout(this.rendezvousTimer);
  }

  private get heartbeatMs(): number {
    return this.options.heartbeatMs ?? heartbeatIntervalMs(this.options.timeoutMs);
  }

  private describe(seat: NodeSeat): string {
    return `node ${seat.node}${seat.address ? ` (${seat.address}${seat.host ? `, host ${seat.host}` : ''})` : ''}`;
  }

  // ---- connections and the handshake ----

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const where = `connection #${++this.accepted} from ${socket.remoteAddress ?? '?'} port ${socket.remotePort ?? '?'}`;
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    const challenge = newNonce();
    let seat: NodeSeat | undefined;
    /** Proved the secret but may not join (a node rank taken, or none such): told why, then closed. */
    let turnedAway = false;
    const refuse = (kind: RefusalKind, why: string) => {
      if (!this.unproven.delete(connection)) return;
      clearTimeout(timer);
      connection.destroy();
      this.events.onRefused({ kind, message: `${where}: ${why}` });
    };
    const connection = new FrameConnection(socketStream(socket), NODE_SENDS, {
      onHeader: (header) => {
        if (seat || turnedAway) return undefined;
        const taken = this.hello(header, challenge, connection, socket.remoteAddress ?? '?'); // throws to refuse a stranger
        this.unproven.delete(connection);
        clearTimeout(timer);
        if (!taken) {
          turnedAway = true;
          return undefined;
        }
        seat = taken;
        connection.limits = DEFAULT_FRAME_LIMITS;
        return undefined;
      },
      onFrame: (header, payload) => {
        if (seat && !turnedAway && header.type !== 'node-hello') this.onFrame(seat, header, payload);
      },
      onError: (error) => {
        if (!seat) {
          refuse(error instanceof RefusedError ? error.kind : 'not-hello', error instanceof RefusedError ? error.message : `it sent something other than a valid hello: ${error.message}`);
          return;
        }
        this.nodeLost(seat, `sent a frame the master cannot accept: ${error.message}`);
      },
      onClose: () => {
        this.connections.delete(connection);
        refuse('left', connection.receiving ? 'it sent part of a frame, then hung up' : 'it hung up without a hello');
        if (seat && seat.connection === connection && !seat.done) this.nodeLost(seat, 'closed its connection before its workers finished (its launcher exited or was killed)');
      },
    }, {}, { headerBytes: HELLO_HEADER_LIMIT_BYTES, payloadBytes: 0 });
    const timer = setTimeout(() => refuse(connection.receiving ? 'partial' : 'silent',
      `it ${connection.receiving ? 'sent part of a frame, then nothing more' : 'said nothing'} for ${(HELLO_TIMEOUT_MS / 1000).toFixed(1)} s after connecting`), HELLO_TIMEOUT_MS).unref();
    this.connections.add(connection);
    this.unproven.set(connection, refuse);
    void connection.send({ type: 'challenge', nonce: challenge });
  }

  /**
   * A node-hello whose proof answers this connection's challenge takes its node rank's seat (not yet
   * joined: node-join follows). A stranger is refused by throwing; a machine that proved the secret
   * but cannot have that seat is told why and closed once the message is out (undefined).
   */
  private hello(header: Header, challenge: string, connection: FrameConnection, address: string): NodeSeat | undefined {
    if (header.type !== 'node-hello') throw new RefusedError('not-hello', `its first frame was '${header.type}', not a node-hello`);
    if (!proofMatches(this.options.secret, 'node', challenge, header.node, header.proof)) {
      throw new RefusedError('proof', `its hello for node ${header.node} (pid ${header.pid}) carried a wrong proof: it does not hold this run's join secret, or it replayed a hello made for another connection`);
    }
    const seat = this.seats[header.node];
    // Closed gracefully, after the reason is written (over a slow link a destroy could drop it); bounded.
    const turnAway = (why: string): undefined => {
      void connection.send({ type: 'node-stop', reason: why, failed: true }).then(() => connection.end());
      setTimeout(() => connection.destroy(), HELLO_TIMEOUT_MS).unref();
      // Reported here, once: the refusal log is for strangers, which this machine is not.
      this.events.onLine(`refused ${why.replace(/^this machine/, `a machine from ${address}`)}`);
      return undefined;
    };
    if (!seat) return turnAway(`this machine says it is node ${header.node}, but the run has ${this.options.nodes} nodes (ranks 0 to ${this.options.nodes - 1}): check --node-rank and --nnodes`);
    if (seat.connection) return turnAway(`this machine says it is node ${header.node}, which already joined from ${seat.address} (pid ${seat.pid}): every machine needs its own --node-rank`);
    if (this.started || this.stopped) return turnAway(`this machine (node ${header.node}) arrived after the run started; start every machine's launcher again`);
    seat.connection = connection;
    seat.address = address;
    seat.pid = header.pid;
    void connection.send({
      type: 'node-welcome', proof: handshakeProof(this.options.secret, 'master', header.nonce, header.node),
      heartbeatMs: this.heartbeatMs, silenceLimitMs: Math.ceil(this.options.timeoutMs),
    });
    return seat;
  }

  private onFrame(seat: NodeSeat, header: Header, payload: Uint8Array): void {
    if (this.stopped || seat.lost) return;
    switch (header.type) {
      case 'node-join':
        this.join(seat, header);
        return;
      case 'node-adapter':
        this.events.onLine(`${this.describe(seat)}: adapter ${header.adapter}`);
        return;
      case 'partial':
        this.partial(seat, header, payload);
        return;
      case 'node-done':
        seat.done = true;
        if (this.seats.every((s) => s.done || s.lost)) this.allDone();
        return;
      case 'node-failed':
        this.nodeLost(seat, `failed: ${header.message}`);
        return;
      default:
        return;
    }
  }

  // ---- the rendezvous ----

  private join(seat: NodeSeat, header: HeaderOf<'node-join'>): void {
    if (seat.joined) throw new ProtocolError(`node ${seat.node} joined twice`);
    const expected = Array.from({ length: this.options.perNode }, (_, i) => seat.node * this.options.perNode + i);
    const mine = this.options.settings;
    const theirs = header.settings;
    const keys = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].sort();
    const differing = keys.find((k) => mine[k] !== theirs[k]);
    const refuse = (why: string) => {
      void seat.connection!.send({ type: 'node-stop', reason: why, failed: true }).then(() => seat.connection?.end());
      this.events.onLine(`refused node ${seat.node} from ${seat.address}: ${why}`);
      seat.connection = undefined; // the seat is free again: the machine may come back with the right settings
    };
    if (differing !== undefined) {
      refuse(`its ${differing} is ${theirs[differing] ?? '(not given)'} but the master's is ${mine[differing] ?? '(not given)'}: every machine must run the same configuration`);
      return;
    }
    if (header.ranks.join() !== expected.join()) {
      refuse(`its workers are ranks ${header.ranks.join(', ')}, but node ${seat.node}'s are ${expected.join(', ')}`);
      return;
    }
    seat.joined = true;
    seat.host = header.host;
    seat.ranks = header.ranks;
    const waiting = this.seats.filter((s) => !s.joined).map((s) => s.node);
    this.events.onLine(
      `${this.describe(seat)} joined: ${seat.ranks.length} workers (ranks ${seat.ranks[0]}-${seat.ranks.at(-1)}), pid ${seat.pid}` +
        (waiting.length ? `; waiting for node ${waiting.join(', ')}` : ''),
    );
    if (waiting.length > 0) return;
    this.started = true;
    clearTimeout(this.rendezvousTimer);
    this.events.onLine(`all ${this.options.nodes} nodes joined: ${this.worldSize} workers`);
    for (const s of this.seats) void s.connection!.send({ type: 'node-start', worldSize: this.worldSize, nodes: this.options.nodes });
  }

  private rendezvousTimedOut(): void {
    if (this.started || this.stopped) return;
    const missing = this.seats.filter((s) => !s.joined).map((s) => s.node);
    this.stop(
      `node ${missing.join(', ')} never arrived within ${(this.options.rendezvousTimeoutMs / 1000).toFixed(0)} s (--rendezvous-timeout): ` +
        'is its launcher started with the same --master-addr, --master-port and join token, and can it reach the master?',
      true,
    );
  }

  // ---- collectives ----

  private partial(seat: NodeSeat, header: HeaderOf<'partial'>, payload: Uint8Array): void {
    if (!this.started) throw new ProtocolError(`node ${seat.node} sent a collective before the run started`);
    const expected = this.nextRound[header.collective];
    if (header.round !== expected) {
      this.fatal(`node ${seat.node} sent ${header.collective} round ${header.round}, but the next is ${expected}: every machine must run the same collectives in the same order`);
      return;
    }
    let open = this.open;
    if (open && (open.collective !== header.collective || open.round !== header.round)) {
      this.fatal(`collective mismatch: node ${seat.node} sent ${header.collective} round ${header.round} while node ${open.firstNode} is in ${open.collective} round ${open.round}`);
      return;
    }
    if (open?.parts.has(seat.node)) {
      this.fatal(`node ${seat.node} sent ${header.collective} round ${header.round} twice`);
      return;
    }
    open ??= this.open = { collective: header.collective, round: header.round, count: -1, step: header.step, dtype: undefined, firstNode: seat.node, parts: new Map() };
    const sized = header.collective !== 'broadcast' || header.count > 0;
    if (sized) {
      if (open.count >= 0 && open.count !== header.count) {
        this.fatal(`count mismatch in ${header.collective} round ${header.round}: node ${seat.node} sent ${header.count} floats, another node ${open.count}: every machine must train the same model`);
        return;
      }
      if (open.dtype !== undefined && open.dtype !== header.dtype) {
        this.fatal(`dtype mismatch in ${header.collective} round ${header.round}: node ${seat.node} sent ${header.dtype}, another node ${open.dtype}`);
        return;
      }
      open.count = header.count;
      open.dtype = header.dtype;
    }
    if (open.step !== header.step) {
      this.fatal(`step mismatch in ${header.collective} round ${header.round}: node ${seat.node} averages after step ${header.step ?? '(none)'}, node ${open.firstNode} after ${open.step ?? '(none)'}`);
      return;
    }
    seat.ranks = header.ranks;
    open.parts.set(seat.node, { header, payload });
    this.completeIfAllIn();
  }

  private completeIfAllIn(): void {
    const open = this.open;
    const live = this.seats.filter((s) => !s.lost);
    if (!open || live.some((s) => !open.parts.has(s.node))) return;
    this.open = undefined;
    this.nextRound[open.collective]++;
    const parts = live.map((s) => open.parts.get(s.node)!);
    const members = live.flatMap((s) => s.ranks);
    const memberList = members.length < this.worldSize ? { members } : {};
    try {
      if (open.collective === 'broadcast') {
        const source = parts.find((p) => p.header.count > 0);
        if (!source) throw new ProtocolError(`broadcast round ${open.round}: no machine sent the source's weights (its source rank was lost at that moment); the run stops`);
        const data = asFloat32(source.payload);
        this.reduction.broadcast(data);
        for (const s of live) {
          // The source's machine holds the data already.
          const payload = open.parts.get(s.node) === source ? new Uint8Array(0) : source.payload;
          void s.connection!.send({ type: 'global', collective: 'broadcast', round: open.round, count: payload.byteLength / 4, dtype: 'f32', ...memberList }, payload);
        }
        return;
      }
      const tag = open.collective;
      const total = parts.reduce((sum, p) => sum + p.header.weight, 0);
      let result: Float32Array;
      let encoded: Uint8Array | undefined;
      if (open.dtype === 'f64') {
        const sums = parts.map((p) => new Float64Array(p.payload.buffer.slice(p.payload.byteOffset, p.payload.byteOffset + p.payload.byteLength)));
        ({ result } = this.reduction.reduceSums(tag, sums, total));
      } else if (open.dtype === 'f16' || open.dtype === 'bf16') {
        const dtype = open.dtype;
        this.reduction.checkDtype(live[0]!.node, `params round ${open.round}`, tag, dtype);
        const means = parts.map((p, i) => this.reduction.decode(live[i]!.node, dtype, p.payload, new Float32Array(open.count)));
        ({ result, encoded } = this.reduction.reduce(tag, dtype, means, parts.map((p) => p.header.weight)));
      } else {
        throw new ProtocolError(`${tag} round ${open.round} arrived in ${open.dtype}; machines send f64 sums or 16-bit deltas`);
      }
      const dtype: CommDtype = encoded ? (open.dtype as CommDtype) : 'f32';
      const bytes = encoded ?? new Uint8Array(result.buffer, result.byteOffset, result.byteLength);
      for (const s of live) {
        void s.connection!.send({ type: 'global', collective: tag, round: open.round, count: bytes.byteLength / bytesPerElement(dtype), dtype, ...memberList }, bytes);
      }
    } catch (error) {
      this.fatal((error as Error).message);
    }
  }

  // ---- losses ----

  private nodeLost(seat: NodeSeat, what: string): void {
    if (this.stopped || seat.lost || seat.done) return;
    if (!seat.joined) {
      // Lost during the rendezvous: its seat is free again (it may restart); the rendezvous clock decides.
      seat.connection = undefined;
      this.events.onLine(`${this.describe(seat)} left before the run started: ${what}`);
      return;
    }
    const who = this.describe(seat);
    if (this.options.onNodeFailure === 'abort' || seat.node === 0) {
      this.stop(`${who} ${what}`, true);
      return;
    }
    seat.lost = true;
    seat.connection?.destroy();
    const live = this.seats.filter((s) => !s.lost);
    this.events.onLine(`${who} ${what}; continuing with nodes ${live.map((s) => s.node).join(', ')} (ranks ${live.flatMap((s) => s.ranks).join(', ')})`);
    this.completeIfAllIn();
    if (this.seats.every((s) => s.done || s.lost)) this.allDone();
  }

  private fatal(message: string): void {
    this.stop(`the master stopped the run: ${message}`, true);
  }

  private beat(): void {
    for (const seat of this.seats) {
      if (seat.connection?.open && !seat.lost) void seat.connection.send({ type: 'server-heartbeat' });
    }
  }

  private checkForSilence(): void {
    if (this.stopped) return;
    const now = performance.now();
    for (const seat of this.seats) {
      const c = seat.connection;
      if (!c || !seat.joined || seat.lost || seat.done || c.receiving) continue;
      const silent = now - c.lastReceivedAt;
      if (silent > this.options.timeoutMs) {
        this.nodeLost(seat, `sent nothing, not even a heartbeat, for ${(silent / 1000).toFixed(1)} s (--worker-timeout ${(this.options.timeoutMs / 1000).toFixed(0)} s): its machine, its launcher or the link to it is down`);
      }
    }
  }
}
