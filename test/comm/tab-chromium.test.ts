// A real browser as a member: headless Chromium loads a page holding the bundled tab code
// (member-channel, protocol, Web Crypto handshake and join token), which joins a run over the
// browser's own WebSocket and averages with a Node worker. Nothing stands in for the browser: its
// WebSocket (no send callbacks, ArrayBuffer messages, its own masking), its Web Crypto and its
// Origin header are the ones a person's page would have. Needs Debian's chromium
// (`apt-get install -y chromium`); fails, never skips, without it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CollectiveServer, type ServerEvents, type TabInfo } from '../../src/comm/collective-server.js';
import { secretFromJoinToken } from '../../src/comm/join-token.js';
import type { Refusal } from '../../src/comm/refusals.js';
import { attachTabEndpoint } from '../../src/comm/tab-endpoint.js';
import { WorkerChannel } from '../../src/comm/worker-channel.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { meanRef } from '../helpers/reference.js';
import { waitUntil, within } from './fixtures/procs.js';

const test = suite('a browser tab in headless Chromium');
const CHROMIUM = '/usr/bin/chromium';
const COMM = fileURLToPath(new URL('../../../src/comm/', import.meta.url));
/** Over the 256 KiB pieces a page sends and the 1 MiB message limit, and not a multiple of either. */
const COUNT = 300_001;

/** Rank r's input, the same in the page and here: whole numbers over 997, exact in float64, rounded once to float32. */
const INPUT_SOURCE = `(rank, count) => { const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = ((i * 2654435761 + rank * 40503) % 1000003) / 997 - 500; return out; }`;
const inputFor = new Function(`return ${INPUT_SOURCE}`)() as (rank: number, count: number) => Float32Array;

/** The page: joins with the token from its URL's fragment (never sent to the server), averages once, reports what it got. */
const PAGE_SCRIPT = `
(async () => {
  const inputFor = ${INPUT_SOURCE};
  try {
    const secret = await tabComm.secretFromJoinTokenAsync(location.hash.slice(1), 'the page token');
    const tab = await tabComm.MemberChannel.connectTab(new WebSocket('ws://' + location.host + '/collective'), secret,
      { adapter: 'none (no WebGPU needed)', agent: navigator.userAgent }, { timeoutMs: 20000 });
    const mean = await tab.allReduceMean('params', inputFor(tab.rank, ${COUNT}));
    let sum = 0;
    for (const x of mean) sum += x;
    tab.log({ rank: tab.rank, sum, first: Array.from(mean.subarray(0, 4)), secure: isSecureContext });
    await tab.done({ ok: true });
    tab.close();
  } catch (error) {
    await fetch('/failed', { method: 'POST', body: String(error && error.stack || error) });
  }
})();
`;

test('Chromium loads the page, its tab joins with the join token and averages with a Node worker to the exact float64 mean both ways', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: this test needs a real browser; install it with: apt-get install -y chromium`);
  const bundle = (await build({
    stdin: { contents: ['member-channel.ts', 'join-token-web.ts'].map((m) => `export * from './${m}';`).join('\n'), resolveDir: COMM, loader: 'ts' },
    bundle: true, platform: 'browser', format: 'iife', globalName: 'tabComm', write: false, logLevel: 'silent',
  })).outputFiles[0]!.text;
  const dir = mkdtempSync(join(tmpdir(), 'tab-chromium-test-'));
  const token = randomBytes(32).toString('hex');
  const secret = secretFromJoinToken(token, 'the test token');
  const fatal: Error[] = [];
  const refused: Refusal[] = [];
  const logs: unknown[] = [];
  const joined: TabInfo[] = [];
  const left: string[] = [];
  const pageFailures: string[] = [];
  /** Rejects as soon as the page says it failed, so a broken page fails the test at once, with its error. */
  let pageFailed: (why: string) => void = () => {};
  const failedInPage = new Promise<never>((_, reject) => (pageFailed = (why) => reject(new Error(`the page failed: ${why}`))));
  failedInPage.catch(() => {}); // raced below
  const events: ServerEvents = {
    onLog: (_, record) => void logs.push(record), onDone() {}, onWorkerError() {}, onRoundComplete() {}, onSilent() {},
    onFatal: (e) => void fatal.push(e), onRefused: (r) => void refused.push(r),
    onTabJoined: (_, tab) => void joined.push(tab), onTabLeft: (_, __, why) => void left.push(why),
  };
  const server = new CollectiveServer({ worldSize: 2, timeoutMs: 30_000, secret, tabSeat: () => 1 }, events);
  await server.listen(join(dir, 'server.sock'));
  const http = createServer((request, response) => {
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>tab</title><script>${bundle}</script><script>${PAGE_SCRIPT}</script>`);
    } else if (request.url === '/failed' && request.method === 'POST') {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        pageFailures.push(body);
        pageFailed(body);
        response.writeHead(204).end();
      });
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const endpoint = attachTabEndpoint(http, { path: '/collective', server, allowedOrigins: [origin] });
  const browser = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
    `--user-data-dir=${join(dir, 'profile')}`, `${origin}/#${token}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let browserErr = '';
  browser.stderr!.on('data', (chunk: Buffer) => (browserErr = (browserErr + chunk.toString()).slice(-4000)));
  let worker: WorkerChannel | undefined;
  try {
    worker = await within(10_000, WorkerChannel.connect(join(dir, 'server.sock'), 0, secret), 'the worker connecting');
    const inputs = [inputFor(0, COUNT), inputFor(1, COUNT)];
    const expected = meanRef(inputs);
    const round = Promise.race([failedInPage, worker.allReduceMean('params', inputs[0]!.slice())]);
    const mean = await within(60_000, round, 'the round with the browser\'s tab').catch((error: Error) => {
      throw new Error(`${error.message}\nchromium's stderr, last lines:\n${browserErr}`);
    });
    assertBitwiseEqual(mean, expected, 'the worker\'s mean');
    assert.ok(await waitUntil(() => logs.length > 0 || pageFailures.length > 0, 20_000), 'the page reports what it got');
    assert.equal(pageFailures, [], 'the page failed');
    let sum = 0;
    for (const x of expected) sum += x;
    assert.equal(logs[0], { rank: 1, sum, first: Array.from(expected.subarray(0, 4)), secure: true }, 'what the tab got is the exact mean too');
    assert.is(joined.length, 1);
    assert.match(joined[0]!.agent, /Chrome\/\d+/);
    assert.match(joined[0]!.address, /^127\.0\.0\.1 port \d+$/);
    await worker.done({});
    assert.ok(await waitUntil(() => left.length === 1, 10_000), 'the tab\'s leaving is reported');
    assert.equal(left, ['done']);
    assert.equal(fatal, []);
    assert.equal(refused, []);
  } finally {
    worker?.close();
    // Chromium starts helpers in its process group; it was started detached, so the group is its own.
    try {
      process.kill(-browser.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    endpoint.close();
    await server.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
