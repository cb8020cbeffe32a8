// Where a collective server listens and its workers connect: a Unix socket path (the workers a
// launcher forks on its own machine) or a TCP address (workers on other machines). Both carry the
// same frames and the same handshake; only how the socket is opened differs, and that is here.
import { connect, isIP, type Socket } from 'node:net';

/** A TCP address; port 0 when listening: any free port (the server reports the one it got). */
export interface TcpEndpoint {
  host: string;
  port: number;
}
export type Endpoint = string | TcpEndpoint;

/**
 * How long a TCP connection may be idle before the OS starts probing the peer. Node then probes
 * every second, 10 times (net.Socket.setKeepAlive), so a peer whose machine or link died is noticed
 * about 15 s later rather than never: an idle worker waiting for a result sends nothing itself.
 */
export const KEEPALIVE_IDLE_MS = 5000;

export const isTcp = (endpoint: Endpoint): endpoint is TcpEndpoint => typeof endpoint !== 'string';

/** "10.0.0.1:29500", "[::1]:29500", or the socket path: for messages. */
export function describeEndpoint(endpoint: Endpoint): string {
  if (!isTcp(endpoint)) return endpoint;
  return isIP(endpoint.host) === 6 ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/** Throws, naming the value, for a TCP endpoint no socket could use. */
export function checkEndpoint(endpoint: Endpoint, what: string): void {
  if (!isTcp(endpoint)) {
    if (endpoint === '') throw new RangeError(`${what}: a socket path or { host, port } is needed (got an empty path)`);
    return;
  }
  if (typeof endpoint.host !== 'string' || endpoint.host === '') throw new RangeError(`${what}: the TCP host is empty (give an address such as 10.0.0.1, or 127.0.0.1 for this machine)`);
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw new RangeError(`${what}: TCP port must be a whole number from 0 to 65535 (got ${endpoint.port})`);
  }
}

/**
 * True only for addresses that stay on this machine: 127.0.0.0/8, ::1 (also IPv4-mapped) and
 * "localhost". Anything else, a host name or 0.0.0.0 (every interface) included, may be reachable
 * from elsewhere, so it counts as not loopback: the safe side of a check that decides whether a
 * listener must demand a join secret.
 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Opens a connection to `endpoint`; TCP gets keepalive (see KEEPALIVE_IDLE_MS). */
export function connectTo(endpoint: Endpoint): Socket {
  if (!isTcp(endpoint)) return connect(endpoint);
  const socket = connect({ host: endpoint.host, port: endpoint.port });
  socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
  return socket;
}
