// Where browser tabs join a run (issue 15): WebSocket upgrades on the launcher's HTTP server, at one
// path, from pages of allowed origins only, each handed to the collective server as one more
// stranger that must prove the run's secret (acceptTab) before it takes a rank. WebSocket framing,
// masking, fragmentation and the close handshake are the `ws` package's (a well-kept library does
// RFC 6455 better than code we would write); what is checked here is what a stranger can do
// before that: which path, which Origin, and how large one message may be.
//
// The Origin check stops other web pages a person has open from joining through their browser
// (cross-site WebSocket hijacking: browsers send cookies and reach loopback for any page); the
// token stops everyone else, browsers or not, since a non-browser client can send any Origin.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WEBSOCKET_CHUNK_BYTES, webSocketStream, type ByteStream, type WebSocketLike } from './byte-stream.js';
import type { Refusal } from './refusals.js';

/** One WebSocket message at most; tabs send frames in WEBSOCKET_CHUNK_BYTES pieces, well below it. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

export interface TabEndpointOptions {
  /** The URL path tabs connect to, e.g. "/collective"; any other path is answered 404. */
  path: string;
  /** Where a tab goes once its WebSocket is open: the collective server (which must be listening). */
  server: { acceptTab(stream: ByteStream): void };
  /**
   * Origins whose pages may connect, exactly as browsers send them ("http://127.0.0.1:8080",
   * "https://trainer.example"), or 'same-origin': the page's own server, by whichever name the
   * browser reached it (the Origin is `scheme://` + the request's Host; for a server on every
   * interface, whose address a volunteer's browser may spell many ways). An upgrade from any other
   * origin, or without one, is answered 403.
   */
  allowedOrigins: readonly string[] | { sameOrigin: 'http' | 'https' };
  /** The largest WebSocket message taken; a larger one closes that connection. Default 1 MiB. */
  maxMessageBytes?: number;
  /** An upgrade refused for its Origin ('origin'); the run is not affected. */
  onRefused?: (refusal: Refusal) => void;
}

export interface TabEndpoint {
  /** Stops taking upgrades and drops every WebSocket it opened (their members are the collective server's to report). */
  close(): void;
}

/** Takes WebSocket upgrades on `http` for the collective server, as `options` say. */
export function attachTabEndpoint(http: HttpServer, options: TabEndpointOptions): TabEndpoint {
  const { path, allowedOrigins, server } = options;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!path.startsWith('/')) throw new RangeError(`attachTabEndpoint: path must start with "/" (got ${JSON.stringify(path)})`);
  if (Array.isArray(allowedOrigins) && allowedOrigins.length === 0) {
    throw new RangeError('attachTabEndpoint: allowedOrigins is empty, so no page could connect; give the origin that serves the tab page, e.g. "http://127.0.0.1:8080"');
  }
  if (!(Number.isInteger(maxMessageBytes) && maxMessageBytes >= WEBSOCKET_CHUNK_BYTES)) {
    throw new RangeError(`attachTabEndpoint: maxMessageBytes must be a whole number ≥ ${WEBSOCKET_CHUNK_BYTES}, the size of the pieces tabs send (got ${maxMessageBytes})`);
  }
  const allowed = (origin: string, host: string | undefined): boolean =>
    Array.isArray(allowedOrigins) ? allowedOrigins.includes(origin) : host !== undefined && origin === `${(allowedOrigins as { sameOrigin: string }).sameOrigin}://${host}`;
  const described = Array.isArray(allowedOrigins) ? allowedOrigins.join(', ') : 'this server\'s own pages';
  // Compression off: parameters do not compress, and inflating a stranger's bytes costs memory
  // and time before anything about it is known.
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes, perMessageDeflate: false, clientTracking: true });
  let accepted = 0;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const remote = `${request.socket.remoteAddress ?? '?'} port ${request.socket.remotePort ?? '?'}`;
    const requested = pathOf(request.url);
    if (requested !== path) {
      answer(socket, 404, 'Not Found', `no WebSocket endpoint at ${requested}; tabs connect to ${path}`);
      return;
    }
    const origin = request.headers.origin;
    if (origin === undefined || !allowed(origin, request.headers.host)) {
      const said = origin === undefined ? 'no Origin' : `Origin ${JSON.stringify(origin.slice(0, 200))}`;
      options.onRefused?.({
        kind: 'origin',
        message: `WebSocket upgrade #${++accepted} from ${remote}: ${said}, which is not one of the allowed origins (${described})`,
      });
      answer(socket, 403, 'Forbidden', `pages of ${said} may not join this run; allowed: ${described}`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      server.acceptTab(webSocketStream(ws as unknown as WebSocketLike, { remote, binaryType: 'nodebuffer' }));
    });
  };
  http.on('upgrade', onUpgrade);
  return {
    close() {
      http.off('upgrade', onUpgrade);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

/** The path of a request's URL, without its query; "(none)" for what no browser would send. */
function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '', 'http://tab-endpoint.invalid').pathname;
  } catch {
    return '(unparseable)';
  }
}

/** A plain HTTP answer to an upgrade that is not taken, then the connection is closed. */
function answer(socket: Duplex, status: number, reason: string, body: string): void {
  const text = `${body}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${new TextEncoder().encode(text).length}\r\n\r\n${text}`,
  );
}
