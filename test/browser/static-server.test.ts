// The loopback server that hands dist/browser/ to Chromium admits only requests under its token,
// never leaves its folder, and serves only GET and HEAD.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStatic, type StaticServer } from '../helpers/static-server.js';

const test = suite('static server for the browser tests');

let root = '';
let server: StaticServer;

test.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'static-server-'));
  root = join(dir, 'served');
  mkdirSync(join(root, 'kernels'), { recursive: true });
  writeFileSync(join(root, 'harness.html'), '<!doctype html>');
  writeFileSync(join(root, 'kernels', 'a.test.js'), 'export {};');
  writeFileSync(join(dir, 'secret.js'), 'the folder above');
  server = await serveStatic(root);
});

test.after(async () => {
  await server.close();
  rmSync(join(root, '..'), { recursive: true, force: true });
});

/** A raw request, so that paths reach the server exactly as written (fetch would normalise `..`). */
function get(path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const { host, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: host.split(':')[0], port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const tokenPath = () => new URL(server.url).pathname;

test('listens on loopback only and serves files under its token with their types', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/$/);
  const page = await get(`${tokenPath()}harness.html`);
  assert.is(page.status, 200);
  assert.match(page.type, /^text\/html/);
  const script = await get(`${tokenPath()}kernels/a.test.js`);
  assert.is(script.status, 200);
  assert.match(script.type, /^text\/javascript/);
  assert.is(script.body, 'export {};');
});

test('refuses paths without the token, outside the folder, of unknown types, and other methods', async () => {
  assert.is((await get('/harness.html')).status, 404, 'no token');
  assert.is((await get(`/${'0'.repeat(32)}/harness.html`)).status, 404, 'a wrong token');
  assert.is((await get(`${tokenPath()}../secret.js`)).status, 404, 'dot-dot');
  assert.is((await get(`${tokenPath()}%2e%2e/secret.js`)).status, 404, 'encoded dot-dot');
  assert.is((await get(`${tokenPath()}kernels/..%2f..%2fsecret.js`)).status, 404, 'encoded slashes');
  assert.is((await get(`${tokenPath()}missing.js`)).status, 404, 'a missing file');
  assert.is((await get(`${tokenPath()}%E0%A4%A`)).status, 400, 'a malformed escape');
  assert.is((await get(`${tokenPath()}harness.html`, 'POST')).status, 405, 'POST');
});

test.run();
