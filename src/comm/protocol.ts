// The server ↔ worker wire format. A frame is [u32 header bytes][u32 payload bytes]
// [UTF-8 JSON header][raw payload], little-endian. Headers are one zod union, parsed on receipt;
// tensors travel as raw float32 bytes (or 16-bit ones in compressed 'params' rounds: see delta-codec.ts),
// never as JSON. A session: the server sends a challenge (a fresh nonce), the worker says hello (its
// rank and its proof of the run's secret, handshake.ts), the server answers init (its own proof, the
// run's config, and for a process taking over a lost rank where to start), then collectives until done, with a heartbeat from the worker every
// init.heartbeatMs throughout, and a server-heartbeat from the server as often, so each side notices a
// peer that went silent (a stopped process, a dead machine, a cut link) within its timeout.
// A browser tab (issue 15) opens with tab-hello instead of hello: it claims no rank; the server
// seats it (ServerOptions.tabSeat) and says which rank in init.
//
// Pages bundle this file: typed arrays, DataView and TextEncoder only, no Buffer, no Node imports.
import { z } from 'zod';
import { bytesPerElement, CommDtype } from './delta-codec.js';
import { HEX_CHARS } from './handshake-web.js';

export const HEADER_LIMIT_BYTES = 1 << 20;
/** Float32Array payloads up to 1 GiB; a larger length field is certainly a corrupt frame. */
export const PAYLOAD_LIMIT_BYTES = 1 << 30;
export const PREFIX_BYTES = 8;
/** A heartbeat's `doing` is a short phrase, e.g. "evaluating after step 60". */
export const HEARTBEAT_DOING_LIMIT = 200;
/** A tab's adapter and user agent strings: enough to name it, bounded because a stranger writes them. */
export const TAB_TEXT_LIMIT = 256;

const Index = z.number().int().nonnegative();
const Count = z.number().int().nonnegative().max(PAYLOAD_LIMIT_BYTES / 4);
const Rounds = z.object({ params: Index, grads: Index, broadcast: Index });
/** A nonce or an HMAC-SHA256 proof (handshake.ts). */
const Hex = z.string().regex(new RegExp(`^[0-9a-f]{${HEX_CHARS}}$`), `${HEX_CHARS} lowercase hex digits`);
export const ReduceTag = z.enum(['params', 'grads']);
export type ReduceTag = z.infer<typeof ReduceTag>;
/** Which workers a round averages: all of them, or those of each machine (the others' rounds of --cross-node-every). */
export type AveragingScope = 'global' | 'machine';
/** A collective's name: an all-reduce tag, or 'broadcast'. */
export type CollectiveKind = ReduceTag | 'broadcast';

export const Header = z.discriminatedUnion('type', [
  // worker → server. The rank is the one the worker's launcher gave it; proof answers the server's
  // challenge (HMAC of the run's secret over it and the rank), nonce is the worker's own challenge,
  // which init's proof answers. The server answers with init, or closes the connection.
  z.object({ type: z.literal('hello'), rank: Index, pid: Index, nonce: Hex, proof: Hex }),
  // A browser tab's hello (role 'tab', signed for rank 0: it claims none). adapter and agent
  // (navigator.userAgent) name it in the coordinator's reports, where a worker has its pid.
  z.object({
    type: z.literal('tab-hello'), nonce: Hex, proof: Hex, adapter: z.string().max(TAB_TEXT_LIMIT), agent: z.string().max(TAB_TEXT_LIMIT),
  }),
  // dtype absent means f32; f16/bf16 payloads are 2·count bytes of parameter deltas (delta-codec.ts).
  // step: the optimizer step a 'params' round averages after, so the server knows where a process
  // that takes over a lost rank starts, and the launcher which step a round's checkpoint is at.
  // scope 'machine': a round within each machine only (--cross-node-every); absent: across every worker.
  z.object({
    type: z.literal('allreduce'), tag: ReduceTag, round: Index, count: Count, dtype: CommDtype.optional(), step: Index.optional(),
    scope: z.literal('machine').optional(),
  }),
  // The main rank (rank 0, or the lowest survivor) sends its tensor; the others send count 0 to say they wait for it.
  z.object({ type: z.literal('broadcast'), round: Index, count: Count }),
  z.object({ type: z.literal('log'), record: z.unknown() }),
  z.object({ type: z.literal('done'), summary: z.unknown() }),
  z.object({ type: z.literal('error'), message: z.string(), stack: z.string().optional() }),
  // Sent from a timer every init.heartbeatMs, whatever the worker is doing: silence means the process
  // is stopped or its event loop blocked. `doing` is what it was last doing, for the report if it goes silent.
  z.object({ type: z.literal('heartbeat'), doing: z.string().max(HEARTBEAT_DOING_LIMIT) }),
  // server → worker. The first frame of every connection: the nonce a hello must answer.
  z.object({ type: z.literal('challenge'), nonce: Hex }),
  z.object({
    type: z.literal('init'),
    /** The server's proof of the run's secret over the hello's nonce and the rank: a worker takes config only from its own run. */
    proof: Hex,
    rank: Index,
    worldSize: z.number().int().positive(),
    /** The run's settings, opaque to the server (the training config for dist/worker.js). */
    config: z.unknown(),
    /**
     * Only for a process that takes over a lost rank (--on-worker-failure respawn): how many held it
     * before, the collectives every rank has completed (its first round of each is that number), and
     * the step of the last parameter all-reduce, whose result is the payload (count floats; 0 before the first).
     */
    rejoin: z.object({ restarts: z.number().int().positive(), rounds: Rounds, step: Index.optional() }).optional(),
    count: Count,
    /** How often to send a heartbeat. */
    heartbeatMs: z.number().int().positive(),
    /**
     * How long the worker waits with nothing at all from the server (it beats every heartbeatMs)
     * before it counts the coordinator gone: the server's own timeout for silent workers.
     */
    silenceLimitMs: z.number().int().positive(),
  }),
  z.object({
    type: z.literal('result'),
    collective: z.enum(['params', 'grads', 'broadcast']),
    round: Index,
    count: Count,
    /** As in allreduce: absent means f32; f16/bf16 carry the 16-bit update of a compressed round. */
    dtype: CommDtype.optional(),
    /** Time the coordinator spent averaging, and this rank's frame spent waiting for the others. */
    reduceMs: z.number().nonnegative(),
    waitMs: z.number().nonnegative(),
    /** The ranks still training, sent only once a lost rank has been dropped (--on-worker-failure continue). */
    members: z.array(Index).optional(),
  }),
  z.object({ type: z.literal('stop'), reason: z.string().optional() }),
  // From a timer every heartbeatMs to every proven connection. Its own type rather than 'heartbeat'
  // both ways: it carries nothing (the server is doing nothing a worker reports), the worker's
  // heartbeat keeps its required `doing`, and each direction's set of frames stays disjoint.
  z.object({ type: z.literal('server-heartbeat') }),

  // ---- The machine level (node-link.ts, master-hub.ts): each machine's launcher ↔ the master (node
  // 0's launcher), over TCP. The master opens with the same challenge; node-hello proves the secret
  // for its node rank (role 'node'); node-welcome proves it back (role 'master'). Only then does the
  // node send what may be long: its run settings in node-join, which the master compares with its own.
  z.object({ type: z.literal('node-hello'), node: Index, pid: Index, nonce: Hex, proof: Hex }),
  z.object({ type: z.literal('node-welcome'), proof: Hex, heartbeatMs: z.number().int().positive(), silenceLimitMs: z.number().int().positive() }),
  z.object({
    type: z.literal('node-join'),
    host: z.string().max(256),
    /** The global ranks of this machine's workers. */
    ranks: z.array(Index).min(1),
    /** The settings every machine must share (run-settings.ts), compared key by key with the master's. */
    settings: z.record(z.string(), z.string()),
  }),
  // Every machine has joined: start the workers.
  z.object({ type: z.literal('node-start'), worldSize: z.number().int().positive(), nodes: z.number().int().positive() }),
  // Said once, when the first of its workers describes itself: for the master's one line per machine.
  z.object({ type: z.literal('node-adapter'), adapter: z.string().max(512) }),
  // One machine's part of a cross-machine collective. For an all-reduce: f64, the exact float64 sum of
  // its live workers' tensors (8·count bytes), or f16/bf16, the 16-bit delta of their mean from the
  // last global result (a compressed 'params' round); weight is how many workers it stands for.
  // For a broadcast: the source's tensor in f32 from the machine that holds it, count 0 from the others.
  z.object({
    type: z.literal('partial'), collective: z.enum(['params', 'grads', 'broadcast']), round: Index, count: Count,
    dtype: z.enum(['f64', 'f32', 'f16', 'bf16']), weight: Index, step: Index.optional(),
    /** This machine's live global ranks. */
    ranks: z.array(Index),
  }),
  // The collective's result for every machine: f32 weights (or gradients), or the 16-bit update of a
  // compressed round; members: every live global rank, sent once some rank has left the run.
  z.object({
    type: z.literal('global'), collective: z.enum(['params', 'grads', 'broadcast']), round: Index, count: Count,
    dtype: CommDtype, members: z.array(Index).optional(),
  }),
  z.object({ type: z.literal('node-heartbeat') }),
  // A machine whose workers all finished; a machine whose run failed, and why.
  z.object({ type: z.literal('node-done') }),
  z.object({ type: z.literal('node-failed'), message: z.string() }),
  // The master ends the run for everyone: finished, failed elsewhere (why), or interrupted.
  z.object({ type: z.literal('node-stop'), reason: z.string(), failed: z.boolean() }),
]);
export type Header = z.infer<typeof Header>;
export type HeaderOf<T extends Header['type']> = Extract<Header, { type: T }>;

export const WORKER_SENDS: ReadonlySet<Header['type']> = new Set(['hello', 'allreduce', 'broadcast', 'log', 'done', 'error', 'heartbeat']);
/** A tab sends what a worker sends, but opens with tab-hello. */
export const TAB_SENDS: ReadonlySet<Header['type']> = new Set(['tab-hello', 'allreduce', 'broadcast', 'log', 'done', 'error', 'heartbeat']);
export const COORDINATOR_SENDS: ReadonlySet<Header['type']> = new Set(['challenge', 'init', 'result', 'stop', 'server-heartbeat']);
export const NODE_SENDS: ReadonlySet<Header['type']> = new Set(['node-hello', 'node-join', 'node-adapter', 'partial', 'node-heartbeat', 'node-done', 'node-failed']);
export const MASTER_SENDS: ReadonlySet<Header['type']> = new Set(['challenge', 'node-welcome', 'node-start', 'global', 'server-heartbeat', 'node-stop']);

/**
 * How often a side beats when a peer silent for `timeoutMs` is counted lost: four or more times per
 * timeout, so one late timer never reads as silence; at most once a second.
 */
export function heartbeatIntervalMs(timeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
}

/**
 * Heartbeats of either side are left out of byte counts: their number depends on how long the run
 * takes, and a run's bytes should depend on its settings.
 */
export const isHeartbeat = (header: Header): boolean => header.type === 'heartbeat' || header.type === 'server-heartbeat' || header.type === 'node-heartbeat';

/** The largest header and payload a decoder takes; a connection that has not proved itself gets far less (handshake.ts). */
export interface FrameLimits {
  headerBytes: number;
  payloadBytes: number;
}
export const DEFAULT_FRAME_LIMITS: FrameLimits = { headerBytes: HEADER_LIMIT_BYTES, payloadBytes: PAYLOAD_LIMIT_BYTES };

/** Payload bytes a header implies: count elements of its dtype for collectives, nothing otherwise. */
export function expectedPayloadBytes(header: Header): number {
  switch (header.type) {
    case 'allreduce':
    case 'result':
      return header.count * bytesPerElement(header.dtype ?? 'f32');
    case 'broadcast':
    case 'init':
      return header.count * 4;
    case 'partial':
      return header.count * (header.dtype === 'f64' ? 8 : header.dtype === 'f32' ? 4 : 2);
    case 'global':
      return header.count * bytesPerElement(header.dtype);
    default:
      return 0;
  }
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

const utf8 = new TextEncoder();
/** fatal: a header that is not UTF-8 is a corrupt frame, not text to guess at. */
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The 8-byte prefix and JSON header of a frame; the payload is written separately, uncopied. */
export function encodeHead(header: Header, payloadBytes: number): Uint8Array {
  const json = utf8.encode(JSON.stringify(header));
  if (json.length > HEADER_LIMIT_BYTES) {
    throw new ProtocolError(`frame header of ${json.length} bytes exceeds ${HEADER_LIMIT_BYTES}; log records must be small JSON`);
  }
  const head = new Uint8Array(PREFIX_BYTES + json.length);
  const prefix = new DataView(head.buffer);
  prefix.setUint32(0, json.length, true);
  prefix.setUint32(4, payloadBytes, true);
  head.set(json, PREFIX_BYTES);
  return head;
}

export interface FrameHandlers {
  /**
   * Called once the header is parsed and checked, before the payload arrives. May throw to reject
   * the frame, and may return where the payload should land (so it is copied once, into a buffer
   * the receiver reuses); undefined allocates a fresh one.
   */
  onHeader(header: Header, payloadBytes: number): Uint8Array | undefined;
  /** `frameBytes` counts the prefix and header too. */
  onFrame(header: Header, payload: Uint8Array, frameBytes: number): void;
}

type State = 'prefix' | 'header' | 'payload';

/** Incremental frame parser for a byte stream; throws ProtocolError on anything malformed. */
export class FrameDecoder {
  private state: State = 'prefix';
  private readonly prefix = new Uint8Array(PREFIX_BYTES);
  private readonly prefixView = new DataView(this.prefix.buffer);
  private have = 0;
  private headerBytes = 0;
  private payloadBytes = 0;
  private headerBuf = new Uint8Array(0);
  private header: Header | undefined;
  private payload: Uint8Array = new Uint8Array(0);
  private failed = false;

  constructor(
    private readonly handlers: FrameHandlers,
    private readonly accepts: ReadonlySet<Header['type']>,
    /** Checked on each frame's length prefix, before anything is allocated for it; may be changed between frames. */
    public limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {}

  /** True while part of a frame has arrived but not all of it. */
  get midFrame(): boolean {
    return this.state !== 'prefix' || this.have > 0;
  }

  push(chunk: Uint8Array): void {
    if (this.failed) return;
    try {
      this.consume(chunk);
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }

  private consume(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'prefix') {
        const take = Math.min(PREFIX_BYTES - this.have, chunk.length - at);
        this.prefix.set(chunk.subarray(at, at + take), this.have);
        this.have += take;
        at += take;
        if (this.have < PREFIX_BYTES) return;
        this.startHeader();
      } else if (this.state === 'header') {
        const take = Math.min(this.headerBytes - this.have, chunk.length - at);
        this.headerBuf.set(chunk.subarray(at, at + take), this.have);
        this.have += take;
        at += take;
        if (this.have < this.headerBytes) return;
        this.finishHeader();
      } else {
        const take = Math.min(this.payloadBytes - this.have, chunk.length - at);
        this.payload.set(chunk.subarray(at, at + take), this.have);
        this.have += take;
        at += take;
        if (this.have < this.payloadBytes) return;
        this.finishFrame();
      }
    }
  }

  private startHeader(): void {
    this.headerBytes = this.prefixView.getUint32(0, true);
    this.payloadBytes = this.prefixView.getUint32(4, true);
    const limits = this.limits;
    if (this.headerBytes === 0 || this.headerBytes > limits.headerBytes) {
      throw new ProtocolError(
        `frame header length ${this.headerBytes} is outside 1..${limits.headerBytes}: not a frame of this protocol (corrupt stream?)`,
      );
    }
    if (this.payloadBytes > limits.payloadBytes) {
      throw new ProtocolError(`frame payload length ${this.payloadBytes} exceeds ${limits.payloadBytes}: not a frame of this protocol`);
    }
    this.headerBuf = new Uint8Array(this.headerBytes);
    this.have = 0;
    this.state = 'header';
  }

  private finishHeader(): void {
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8.decode(this.headerBuf));
    } catch (error) {
      const text = new TextDecoder().decode(this.headerBuf.subarray(0, Math.min(this.headerBytes, 80)));
      throw new ProtocolError(`frame header is not JSON (${(error as Error).message}): ${JSON.stringify(text)}`);
    }
    const parsed = Header.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new ProtocolError(`frame header ${JSON.stringify(json).slice(0, 200)} is invalid: ${issues}`);
    }
    const header = parsed.data;
    if (!this.accepts.has(header.type)) {
      throw new ProtocolError(`a '${header.type}' frame cannot be sent in this direction`);
    }
    const expected = expectedPayloadBytes(header);
    if (this.payloadBytes !== expected) {
      const dtype = 'dtype' in header ? header.dtype ?? 'f32' : 'f32';
      const count = 'count' in header ? header.count : 0;
      const why = expected === 0 ? 'carries no payload' : `has count ${count} of ${dtype}, so count*${expected / count} = ${expected} bytes`;
      throw new ProtocolError(`'${header.type}' frame has a ${this.payloadBytes}-byte payload but ${why}`);
    }
    this.header = header;
    const target = this.handlers.onHeader(header, this.payloadBytes);
    if (target && target.byteLength !== this.payloadBytes) {
      throw new Error(`internal: payload target of ${target.byteLength} bytes for a ${this.payloadBytes}-byte payload`);
    }
    this.payload = target ?? new Uint8Array(this.payloadBytes);
    this.have = 0;
    this.state = 'payload';
    if (this.payloadBytes === 0) this.finishFrame();
  }

  private finishFrame(): void {
    const header = this.header!;
    const payload = this.payload;
    this.header = undefined;
    this.payload = new Uint8Array(0);
    this.have = 0;
    this.state = 'prefix';
    this.handlers.onFrame(header, payload, PREFIX_BYTES + this.headerBytes + payload.byteLength);
  }
}

/** A float32 view of payload bytes, copying only if they are not 4-byte aligned. */
export function asFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.slice().buffer);
}

export function bytesOf(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
