// What a page bundles of src/comm (a tab's member channel, the frames, the Web Crypto handshake and
// join token) must not reach Node: bundled for the browser, it names no Node module or global, and
// run where only a browser's globals exist (a vm context: no Buffer, process or require) it joins a
// real run over a real WebSocket and averages exactly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { WebSocket } from 'ws';
import { CollectiveServer, type ServerEvents } from '../../src/comm/collective-server.js';
import { secretFromJoinToken } from '../../src/comm/join-token.js';
import type { MemberChannel } from '../../src/comm/member-channel.js';
import type { Refusal } from '../../src/comm/refusals.js';
import { attachTabEndpoint } from '../../src/comm/tab-endpoint.js';
import { WorkerChannel } from '../../src/comm/worker-channel.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { BASE_SEED } from '../helpers/random.js';
import { meanRef } from '../helpers/reference.js';
import { inputFor } from './fixtures/inputs.js';
import { within } from './fixtures/procs.js';

const test = suite('src/comm bundled for a page');
/** From dist/test/comm/ back to the sources. */
const COMM = fileURLToPath(new URL('../../../src/comm/', import.meta.url));
const PAGE_MODULES = ['member-channel.ts', 'byte-stream.ts', 'protocol.ts', 'handshake-web.ts', 'join-token-web.ts'];
/** Node's globals that browsers lack; a bundle that names one would fail in a page. */
const NODE_GLOBALS = ['Buffer', 'process', 'require', 'global', 'setImmediate', '__dirname', '__filename'];

/** Marks what free references to Node's globals become in a bundle: esbuild's define renames only those, never a string or a property. */
const MARK = 'NODE_GLOBAL_REACHED_';

/** The page's modules as one browser script that sets `tabComm`. */
async function bundle(): Promise<string> {
  const result = await build({
    stdin: { contents: PAGE_MODULES.map((m) => `export * from './${m}';`).join('\n'), resolveDir: COMM, loader: 'ts' },
    bundle: true, platform: 'browser', format: 'iife', globalName: 'tabComm', write: false, logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

test('bundled for the browser, it imports no Node module and refers to no Node global', async () => {
  // platform 'browser' makes any import of a Node built-in a build error, which rejects here.
  await bundle();
  const marked = await build({
    stdin: { contents: PAGE_MODULES.map((m) => `export * from './${m}';`).join('\n'), resolveDir: COMM, loader: 'ts' },
    bundle: true, platform: 'browser', format: 'iife', write: false, logLevel: 'silent',
    define: Object.fromEntries(NODE_GLOBALS.map((name) => [name, `${MARK}${name}`])),
  });
  const reached = [...new Set(marked.outputFiles[0]!.text.match(new RegExp(`${MARK}\\w+`, 'g')) ?? [])];
  assert.equal(reached.map((m) => m.slice(MARK.length)), [], 'Node globals the page code refers to');
});

test('that check sees a Node global, and a Node import fails the browser bundle', async () => {
  const marked = await build({
    stdin: { contents: 'export const bytes = (text) => Buffer.from(text);', loader: 'js' }, bundle: true, platform: 'browser', write: false, logLevel: 'silent',
    define: { Buffer: `${MARK}Buffer` },
  });
  assert.match(marked.outputFiles[0]!.text, `${MARK}Buffer.from`);
  let error: Error | undefined;
  try {
    await build({ stdin: { contents: "export * from './handshake.ts';", resolveDir: COMM, loader: 'ts' }, bundle: true, platform: 'browser', write: false, logLevel: 'silent' });
  } catch (e) {
    error = e as Error;
  }
  assert.ok(error, 'handshake.ts (node:crypto) does not bundle for a page');
  assert.match(error.message, /node:crypto/);
});

test('run with only a browser\'s globals, the bundle joins a real run as a tab and averages with a worker to the exact float64 mean', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'browser-bundle-test-'));
  const token = randomBytes(32).toString('hex');
  const secret = secretFromJoinToken(token, 'the test token');
  const fatal: Error[] = [];
  const refused: Refusal[] = [];
  const events: ServerEvents = {
    onLog() {}, onDone() {}, onWorkerError() {}, onRoundComplete() {}, onSilent() {},
    onFatal: (e) => void fatal.push(e), onRefused: (r) => void refused.push(r),
  };
  const server = new CollectiveServer({ worldSize: 2, timeoutMs: 10_000, secret, tabSeat: () => 1 }, events);
  await server.listen(join(dir, 'server.sock'));
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const endpoint = attachTabEndpoint(http, { path: '/collective', server, allowedOrigins: ['http://127.0.0.1:8080'] });
  const channels: Array<{ close(): void }> = [];
  try {
    // What a page has; V8's own built-ins (typed arrays, Promise, JSON) come with every context.
    const page = createContext({
      TextEncoder, TextDecoder, URL, crypto: globalThis.crypto, performance, console,
      setTimeout, clearTimeout, setInterval, clearInterval,
    });
    runInContext(await bundle(), page);
    const tabComm = (page as { tabComm: { MemberChannel: typeof MemberChannel; secretFromJoinTokenAsync: (t: string, w: string) => Promise<Uint8Array> } }).tabComm;
    const pageSecret = await tabComm.secretFromJoinTokenAsync(token, 'the page\'s token');
    const socket = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/collective`, { origin: 'http://127.0.0.1:8080' });
    const [worker, tab] = await within(5000, Promise.all([
      WorkerChannel.connect(join(dir, 'server.sock'), 0, secret),
      tabComm.MemberChannel.connectTab(socket as never, pageSecret, { adapter: 'vm', agent: 'no Node globals' }, { timeoutMs: 4000 }),
    ]), 'a worker and the bundled tab connecting');
    channels.push(worker, tab);
    assert.is(tab.rank, 1);
    const inputs = [inputFor(BASE_SEED, 0, 0, 70_001), inputFor(BASE_SEED, 1, 0, 70_001)];
    const expected = meanRef(inputs);
    const means = await within(5000, Promise.all([worker.allReduceMean('params', inputs[0]!.slice()), tab.allReduceMean('params', inputs[1]!.slice())]), 'a round');
    for (const [rank, mean] of means.entries()) assertBitwiseEqual(mean, expected, `rank ${rank}'s mean`);
    assert.equal(fatal, []);
    assert.equal(refused, []);
  } finally {
    for (const c of channels) c.close();
    endpoint.close();
    await server.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
