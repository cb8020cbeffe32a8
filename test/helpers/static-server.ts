// Serves a folder (dist/browser/) to a test's Chromium over loopback HTTP: WebGPU needs a secure
// context, which http://127.0.0.1 is and file:// is not. Like everything here that listens, it
// admits only who knows its secret: every path starts with a random token, and anything else is a
// 404. GET and HEAD only, no path may leave the folder, and a slow client is cut off.
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};

export interface StaticServer {
  /** The folder's URL, ending in '/', token included. */
  url: string;
  close(): Promise<void>;
}

export async function serveStatic(root: string): Promise<StaticServer> {
  const token = randomBytes(16).toString('hex');
  const base = normalize(root + sep);
  const server: Server = createServer(async (request, response) => {
    const refuse = (status: number) => response.writeHead(status, { 'content-type': 'text/plain' }).end(`${status}\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(405);
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    } catch {
      return refuse(400);
    }
    const prefix = `/${token}/`;
    if (!path.startsWith(prefix)) return refuse(404);
    const file = normalize(join(base, path.slice(prefix.length)));
    if (!file.startsWith(base) || !TYPES[extname(file)]) return refuse(404);
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return refuse(404);
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)]!, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
