// The master's web server for browser workers: the page a volunteer opens (tab.html and its bundle,
// built by build.mjs from the same src/ and shaders/ as the Node workers), the run's data for the
// tabs, and the WebSocket endpoint their channels speak over (attached by the caller). Over https
// when given a certificate: browsers expose WebGPU and Web Crypto only to secure pages (https, or
// http://localhost), so a join link off loopback must be https.
//
// A stranger can reach this server, so everything it answers is bounded: GET and HEAD of four
// fixed paths, short header and request timeouts, a cap on connections, and the data only for a
// request that shows the run's data ticket (data-ticket.ts).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DATA_TICKET_HEADER, ticketMatches } from '../comm/data-ticket.js';
import { describeEndpoint, type TcpEndpoint } from '../comm/endpoint.js';
import { DATA_SPLIT_PATH, PAGE_FILES } from '../browser/site-paths.js';

const MAX_CONNECTIONS = 256;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

export interface TabSiteOptions {
  listen: TcpEndpoint;
  /** The directory holding PAGE_FILES (dist/browser/tab). */
  pageDir: string;
  /** The run's data split (split-codec.ts), made once on first request. */
  data: () => Promise<Uint8Array>;
  /** What a tab must present in DATA_TICKET_HEADER to get the data. */
  dataTicket: string;
  /** PEM certificate and key: serve https. */
  tls?: { cert: Uint8Array; key: Uint8Array } | undefined;
}

export class TabSite {
  readonly http: Server;
  private readonly page: { html: Uint8Array; script: Uint8Array };
  private data: Promise<Uint8Array> | undefined;

  constructor(private readonly options: TabSiteOptions) {
    this.page = {
      html: readPageFile(options.pageDir, PAGE_FILES.html),
      script: readPageFile(options.pageDir, PAGE_FILES.script),
    };
    const handler = (request: IncomingMessage, response: ServerResponse) => void this.answer(request, response);
    this.http = options.tls ? createHttpsServer({ cert: Buffer.from(options.tls.cert), key: Buffer.from(options.tls.key) }, handler) : createHttpServer(handler);
    this.http.headersTimeout = HEADERS_TIMEOUT_MS;
    this.http.requestTimeout = REQUEST_TIMEOUT_MS;
    this.http.maxConnections = MAX_CONNECTIONS;
  }

  get scheme(): 'http' | 'https' {
    return this.options.tls ? 'https' : 'http';
  }

  /** Listens; resolves with the port it got (the one asked for, or a free one for port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => {
        reject(new Error(`cannot serve the browser workers' page on ${describeEndpoint(this.options.listen)}: ${error.code === 'EADDRINUSE' ? 'the port is in use; choose another with --browser-port' : error.message}`));
      };
      this.http.once('error', failed);
      this.http.listen(this.options.listen.port, this.options.listen.host, () => {
        this.http.off('error', failed);
        resolve((this.http.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return this.send(response, 405, 'only GET is served here\n', 'text/plain', { allow: 'GET, HEAD' });
    if (path === '/' || path === `/${PAGE_FILES.html}`) return this.send(response, 200, this.page.html, 'text/html; charset=utf-8');
    if (path === `/${PAGE_FILES.script}`) return this.send(response, 200, this.page.script, 'text/javascript; charset=utf-8');
    if (path === DATA_SPLIT_PATH) {
      if (!ticketMatches(this.options.dataTicket, request.headers[DATA_TICKET_HEADER])) {
        return this.send(response, 403, 'the run\'s data goes only to tabs that hold its join token\n', 'text/plain');
      }
      try {
        this.data ??= this.options.data();
        return this.send(response, 200, await this.data, 'application/octet-stream');
      } catch (error) {
        return this.send(response, 500, `the master could not prepare the data: ${(error as Error).message}\n`, 'text/plain');
      }
    }
    return this.send(response, 404, 'not found\n', 'text/plain');
  }

  private send(response: ServerResponse, status: number, body: Uint8Array | string, type: string, extra: Record<string, string> = {}): void {
    response.writeHead(status, {
      'content-type': type,
      'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // The page runs only its own script and talks only to this server.
      'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
      ...extra,
    });
    response.end(response.req.method === 'HEAD' ? undefined : body);
  }
}

function readPageFile(dir: string, name: string): Uint8Array {
  try {
    return readFileSync(join(dir, name));
  } catch (error) {
    throw new Error(`the browser workers' page ${join(dir, name)} is missing (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); build it with: node build.mjs`);
  }
}
