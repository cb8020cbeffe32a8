// A framed connection over a byte stream (byte-stream.ts): a Unix domain socket, TCP between machines
// (endpoint.ts opens either), or a browser tab's WebSocket (tab-endpoint.ts). bench/transport.ts (2 loaded
// cores) measured round trips even with fork()'s 'advanced' IPC up to 16 MiB (1 MiB 3.9 vs 3.8 ms)
// and 2.2× faster at 64 MiB (168 vs 365 ms), and the socket lets a payload land in a reused buffer;
// so tensors go over the socket and the IPC channel from fork() is only a lifeline.
import type { ByteStream } from './byte-stream.js';
import { encodeHead, FrameDecoder, isHeartbeat, type FrameLimits, type Header } from './protocol.js';
import type { SimulatedLink } from './link.js';

export interface ReceivedTiming {
  /** performance.now() when the frame's first bytes arrived, and when it was handed on. */
  startedAt: number;
  deliveredAt: number;
}

export interface ConnectionHandlers {
  /** See FrameHandlers.onHeader: validate (throw to reject) and choose where the payload lands. */
  onHeader(header: Header, payloadBytes: number): Uint8Array | undefined;
  onFrame(header: Header, payload: Uint8Array, timing: ReceivedTiming): void;
  /** Malformed input, or a handler threw; the socket has been destroyed. */
  onError(error: Error): void;
  /** `why`: what broke the stream, when its carrier says (byte-stream.ts). */
  onClose(why: string | undefined): void;
}

export interface ConnectionLinks {
  inbound?: SimulatedLink;
  outbound?: SimulatedLink;
}

export class FrameConnection {
  /**
   * Whole frames (prefix, header and payload), as a NIC would count them; heartbeats (either
   * side's) excepted: see isHeartbeat.
   */
  bytesSent = 0;
  bytesReceived = 0;
  lastReceivedAt = performance.now();
  private frameStartedAt = 0;
  private readonly decoder: FrameDecoder;
  private failed = false;
  private readonly closed: Promise<unknown>;

  constructor(
    readonly stream: ByteStream,
    accepts: ReadonlySet<Header['type']>,
    private readonly handlers: ConnectionHandlers,
    private readonly links: ConnectionLinks = {},
    limits?: FrameLimits,
  ) {
    this.decoder = new FrameDecoder(
      {
        onHeader: (header, bytes) => handlers.onHeader(header, bytes),
        onFrame: (header, payload, frameBytes) => this.received(header, payload, frameBytes),
      },
      accepts,
      limits,
    );
    stream.onData((chunk) => {
      const now = performance.now();
      this.lastReceivedAt = now;
      if (!this.decoder.midFrame) this.frameStartedAt = now;
      try {
        this.decoder.push(chunk);
      } catch (error) {
        this.fail(error as Error);
      }
    });
    // The inbound link keeps delivering after close: a worker's last frames (done) may still be
    // crossing the simulated link when its socket closes.
    this.closed = new Promise((resolve) => stream.onClose((why) => {
      this.links.outbound?.close();
      handlers.onClose(why);
      resolve(undefined);
    }));
  }

  /** True while a frame is part-received or held by the simulated inbound link. */
  get receiving(): boolean {
    return this.decoder.midFrame || (this.links.inbound?.inFlight ?? 0) > 0;
  }

  /** The largest frame this side takes from now on (a peer that has proved itself gets the protocol's full limits). */
  set limits(limits: FrameLimits) {
    this.decoder.limits = limits;
  }

  get open(): boolean {
    return !this.stream.closed && !this.failed;
  }

  /**
   * Sends a frame without copying the payload: the caller keeps it unchanged until the peer has
   * answered (every collective here is request/reply, so that holds). Resolves with the time it
   * was handed to the operating system; never rejects (a dead peer is reported by its exit).
   */
  send(header: Header, payload?: Uint8Array, options: { bypassLink?: boolean } = {}): Promise<number> {
    const head = encodeHead(header, payload?.byteLength ?? 0);
    const bytes = head.length + (payload?.byteLength ?? 0);
    if (!isHeartbeat(header)) this.bytesSent += bytes;
    return new Promise((resolve) => {
      const write = () => {
        if (!this.open) return resolve(performance.now());
        this.stream.write(payload && payload.byteLength > 0 ? [head, payload] : [head], () => resolve(performance.now()));
      };
      if (this.links.outbound && !options.bypassLink) this.links.outbound.send(bytes, write);
      else write();
    });
  }

  /** Resolves once the peer has closed and every frame it sent has been delivered. */
  async drained(): Promise<void> {
    await this.closed;
    await this.links.inbound?.idle();
  }

  end(): void {
    this.stream.end();
  }

  destroy(): void {
    this.links.inbound?.close();
    this.links.outbound?.close();
    this.stream.destroy();
  }

  private received(header: Header, payload: Uint8Array, frameBytes: number): void {
    const startedAt = this.frameStartedAt;
    if (!isHeartbeat(header)) this.bytesReceived += frameBytes;
    this.frameStartedAt = performance.now(); // a following frame may start in the same chunk
    const deliver = () => {
      if (this.failed) return;
      try {
        this.handlers.onFrame(header, payload, { startedAt, deliveredAt: performance.now() });
      } catch (error) {
        this.fail(error as Error);
      }
    };
    if (this.links.inbound) this.links.inbound.send(frameBytes, deliver);
    else deliver();
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.destroy();
    this.handlers.onError(error);
  }
}
