// The link between machines, in clear TCP or, given --tls-cert/--tls-key/--tls-ca, TLS 1.3 (for
// links that must also be private: the join handshake proves who may join, but does not hide the
// weights). The frames on top are the same either way. The master presents its certificate and
// key; every machine checks it against the CA and the master's address, as HTTPS clients do.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { connectTo, KEEPALIVE_IDLE_MS, type TcpEndpoint } from './endpoint.js';

/** Paths of PEM files: this machine's certificate and key (the master presents them) and the CA that signed the master's. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** Reads the three files, naming the one that cannot be read. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return { cert: readPemFile('--tls-cert', files.cert), key: readPemFile('--tls-key', files.key), ca: readPemFile('--tls-ca', files.ca) };
}

/** One PEM file given by `flag`; the error names the flag, the path and why it cannot be read. */
export function readPemFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** A listener handing each connection (after its TLS handshake, with TLS) to `onSocket`. */
export function createLinkServer(onSocket: (socket: Socket) => void, tls: TlsFiles | undefined, onTlsError?: (error: Error) => void): Server {
  if (!tls) return createServer(onSocket);
  const { cert, key } = readTlsFiles(tls);
  const server = createTlsServer({ cert, key, minVersion: 'TLSv1.3' }, onSocket);
  // A stranger that fails the TLS handshake never reaches onSocket; it is refused here.
  server.on('tlsClientError', (error) => onTlsError?.(error));
  return server;
}

/** Connects (with TLS, checking the master's certificate) and resolves once the link can carry frames. */
export function connectSecurely(endpoint: TcpEndpoint, tls: TlsFiles | undefined, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    let socket: Socket;
    const ready = tls ? 'secureConnect' : 'connect';
    if (tls) {
      const { ca } = readTlsFiles(tls);
      socket = tlsConnect({ host: endpoint.host, port: endpoint.port, ca, minVersion: 'TLSv1.3', ...(isIpAddress(endpoint.host) ? {} : { servername: endpoint.host }) });
      socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    } else {
      socket = connectTo(endpoint);
    }
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection to ${endpoint.host}:${endpoint.port} within ${(timeoutMs / 1000).toFixed(1)} s`));
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

const isIpAddress = (host: string) => /^[0-9.]+$/.test(host) || host.includes(':');
