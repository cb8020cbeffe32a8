// What frames travel over: an ordered, reliable stream of bytes, whatever carries it. A Node
// net.Socket (a Unix socket, TCP between machines) and a WebSocket (a browser tab, issue 15) both
// fit, so transport.ts's frames, the handshake and the collectives are the same code on both. A
// WebSocket is message-oriented; here its messages are just pieces of one stream (FrameDecoder
// takes bytes in any split), so a frame larger than the peer's message limit is sent in chunks.
//
// Nothing here may import Node at run time: a page bundles this file (test/comm/browser-bundle.test.ts).
import type { Socket } from 'node:net';

export interface ByteStream {
  /**
   * Sends `parts` in order, as one write where the carrier allows (a header and its payload leave
   * together); `sent` runs once they have been handed to the carrier (the OS for a socket; the
   * WebSocket's send queue for a WebSocket, which says no more).
   */
  write(parts: readonly Uint8Array[], sent?: () => void): void;
  /** Every piece of received bytes, in order; set once, before any can arrive. */
  onData(handler: (chunk: Uint8Array) => void): void;
  /**
   * Called once, when the stream has closed for any reason (peer hung up, reset, close()); `why` says
   * what broke it when the carrier knows (a WebSocket's error or abnormal close code), for reports.
   */
  onClose(handler: (why: string | undefined) => void): void;
  /** True once the stream can carry nothing more. */
  readonly closed: boolean;
  /** Closes after what was written has been sent (a FIN; a WebSocket close frame). */
  end(): void;
  /** Closes at once, dropping anything unsent. */
  destroy(): void;
  /** Where the peer is, for messages: "127.0.0.1 port 5000", or undefined for a local socket. */
  readonly remote: string | undefined;
}

/** A Node socket as a ByteStream; Nagle is off, so a small frame (a heartbeat, a hello) is not held back. */
export function socketStream(socket: Socket): ByteStream {
  socket.setNoDelay?.(true);
  // A reset socket means the peer died; whoever owns the stream learns it through onClose.
  socket.on('error', () => socket.destroy());
  return {
    write(parts, sent) {
      if (parts.length === 0) return sent?.();
      socket.cork();
      for (let i = 0; i < parts.length - 1; i++) socket.write(parts[i]!);
      socket.write(parts[parts.length - 1]!, sent && (() => sent()));
      socket.uncork();
    },
    onData: (handler) => void socket.on('data', handler),
    onClose: (handler) => void socket.once('close', () => handler(undefined)),
    // Once ended (by this side, or by Node in answer to the peer's end) nothing more can be written.
    get closed() {
      return socket.destroyed || socket.writableEnded;
    },
    end: () => void socket.end(),
    destroy: () => void socket.destroy(),
    get remote() {
      return socket.remoteAddress ? `${socket.remoteAddress} port ${socket.remotePort}` : undefined;
    },
  };
}

/**
 * The part of a WebSocket this file uses: a browser's WebSocket and the `ws` package's both have it
 * (ws with binaryType 'arraybuffer' delivers ArrayBuffer, as a browser does).
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  /** Where it connects, for messages. */
  readonly url?: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?(): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'close', listener: (event: { code: number }) => void): void;
  /** ws's error events carry a message (e.g. "Max payload size exceeded"); a browser's carry none. */
  addEventListener(type: 'error', listener: (event: { message?: string }) => void): void;
}

/** WebSocket.OPEN and CLOSED (the constants are not on the interface: `ws` and browsers put them on the class). */
const OPEN = 1;
const CLOSED = 3;

/**
 * Below tab-endpoint.ts's default message limit (1 MiB) with room to spare, and large enough that
 * per-message costs (a header, a mask, an event) stay small beside the bytes: a 16 MiB parameter
 * payload is 64 messages.
 */
export const WEBSOCKET_CHUNK_BYTES = 256 * 1024;

/** The WebSocket close code for a message of the wrong kind (RFC 6455 §7.4.1: 1003, unsupported data). */
export const CLOSE_UNSUPPORTED_DATA = 1003;

/**
 * An open WebSocket as a ByteStream. Every message must be binary: a text message is not this
 * protocol, and closes the stream (code 1003). Writes are cut into messages of at most `chunkBytes`,
 * so the peer's message limit bounds memory, not the size of what may be sent.
 */
export function webSocketStream(
  socket: WebSocketLike, options: { remote?: string; chunkBytes?: number; binaryType?: 'arraybuffer' | 'nodebuffer' } = {},
): ByteStream {
  const chunkBytes = options.chunkBytes ?? WEBSOCKET_CHUNK_BYTES;
  if (!(Number.isInteger(chunkBytes) && chunkBytes > 0)) throw new RangeError(`webSocketStream: chunkBytes must be a whole number > 0 (got ${chunkBytes})`);
  // 'nodebuffer' is ws's own (a Buffer is a Uint8Array), which spares it a copy into a fresh ArrayBuffer per message; pages have 'arraybuffer'.
  socket.binaryType = options.binaryType ?? 'arraybuffer';
  let destroyed = false;
  let why: string | undefined;
  const destroy = () => {
    // ws can drop the connection at once; a page can only ask for a close, and takes nothing more meanwhile.
    destroyed = true;
    if (socket.readyState === CLOSED) return;
    if (socket.terminate) socket.terminate();
    else socket.close(1000);
  };
  // An error is followed by a close, which is what the owner hears, with the error's words; ws
  // throws an error nobody listens for. Whatever failed, nothing more is taken from this peer.
  socket.addEventListener('error', (event) => {
    why ??= event.message ? `WebSocket error: ${event.message}` : 'WebSocket error';
    destroy();
  });
  return {
    write(parts, sent) {
      if (destroyed || socket.readyState !== OPEN) return sent?.();
      for (const part of parts) {
        for (let at = 0; at < part.byteLength; at += chunkBytes) socket.send(part.subarray(at, Math.min(part.byteLength, at + chunkBytes)));
      }
      sent?.();
    },
    onData(handler) {
      socket.addEventListener('message', ({ data }) => {
        if (destroyed) return;
        // The tag, not instanceof: an ArrayBuffer made in another realm (a worker, a vm context) is one too.
        if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') handler(new Uint8Array(data as ArrayBuffer));
        else if (ArrayBuffer.isView(data)) handler(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        else {
          why ??= 'sent a text WebSocket message (this protocol is binary)';
          destroyed = true;
          socket.close(CLOSE_UNSUPPORTED_DATA, 'binary frames only');
        }
      });
    },
    onClose: (handler) => socket.addEventListener('close', ({ code }) => {
      // 1000 normal, 1001 going away (a page closed), 1005 no code given: nothing broke.
      handler(why ?? (code === 1000 || code === 1001 || code === 1005 ? undefined : `WebSocket closed with code ${code}`));
    }),
    get closed() {
      return destroyed || socket.readyState !== OPEN;
    },
    end: () => socket.close(1000),
    destroy,
    remote: options.remote,
  };
}
