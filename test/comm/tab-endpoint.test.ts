// Browser tabs as members, over real WebSockets (`ws`, client and server) on real TCP on loopback,
// beside Node workers on a Unix socket: a tab holding the join token averages with them exactly;
// strangers (a wrong token, another origin, a wrong path, an oversized message, silence) are turned
// away and change nothing; a tab that goes away mid-round is reported as lost.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { WebSocketLike } from '../../src/comm/byte-stream.js';
import { CollectiveServer, type ServerEvents, type SilenceReport, type TabInfo } from '../../src/comm/collective-server.js';
import { handshakeProof, newNonce, TAB_PROOF_RANK } from '../../src/comm/handshake.js';
import { secretFromJoinToken } from '../../src/comm/join-token.js';
import { secretFromJoinTokenAsync } from '../../src/comm/join-token-web.js';
import { MemberChannel } from '../../src/comm/member-channel.js';
import { COORDINATOR_SENDS, encodeHead, FrameDecoder } from '../../src/comm/protocol.js';
import type { Refusal } from '../../src/comm/refusals.js';
import { attachTabEndpoint, type TabEndpointOptions } from '../../src/comm/tab-endpoint.js';
import { WorkerChannel } from '../../src/comm/worker-channel.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { BASE_SEED } from '../helpers/random.js';
import { meanRef } from '../helpers/reference.js';
import { inputFor } from './fixtures/inputs.js';
import { waitUntil, within } from './fixtures/procs.js';

const test = suite('browser tabs over WebSocket');
const ORIGIN = 'http://127.0.0.1:8080';
const PATH = '/collective';
/** The tab's pieces are 256 KiB; with this limit a tab's parameters only fit because they are cut up. */
const MAX_MESSAGE_BYTES = 1 << 20;

class Recorder implements ServerEvents {
  fatal: Error[] = [];
  refused: Refusal[] = [];
  silences: SilenceReport[] = [];
  joined: Array<[number, TabInfo]> = [];
  left: Array<[number, TabInfo, string]> = [];
  done: number[] = [];
  onLog(): void {}
  onDone(rank: number): void { this.done.push(rank); }
  onWorkerError(): void {}
  onRoundComplete(): void {}
  onSilent(report: SilenceReport): void { this.silences.push(report); }
  onFatal(error: Error): void { this.fatal.push(error); }
  onRefused(refusal: Refusal): void { this.refused.push(refusal); }
  onTabJoined(rank: number, tab: TabInfo): void { this.joined.push([rank, tab]); }
  onTabLeft(rank: number, tab: TabInfo, why: string): void { this.left.push([rank, tab, why]); }
}

/**
 * A run of `worldSize` whose ranks `tabRanks` are for tabs (given out in that order) and the rest
 * for Node workers on a Unix socket; tabs come through an HTTP server on 127.0.0.1.
 */
async function serve(worldSize: number, tabRanks: number[], options: { helloTimeoutMs?: number; timeoutMs?: number; allowedOrigins?: TabEndpointOptions['allowedOrigins'] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tab-endpoint-test-'));
  const token = randomBytes(32).toString('hex');
  const secret = secretFromJoinToken(token, 'the test token');
  const events = new Recorder();
  const free = [...tabRanks];
  const server = new CollectiveServer({
    worldSize, timeoutMs: options.timeoutMs ?? 10_000, secret, workerConfig: { model: 'test' },
    ...(options.helloTimeoutMs ? { helloTimeoutMs: options.helloTimeoutMs } : {}),
    tabSeat: () => free.shift(),
  }, events);
  await server.listen(join(dir, 'server.sock'));
  const http: HttpServer = createServer((_, response) => response.writeHead(404).end());
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const endpoint = attachTabEndpoint(http, {
    path: PATH, server, allowedOrigins: options.allowedOrigins ?? [ORIGIN], maxMessageBytes: MAX_MESSAGE_BYTES, onRefused: (r) => events.refused.push(r),
  });
  const port = (http.address() as AddressInfo).port;
  const url = (path = PATH) => `ws://127.0.0.1:${port}${path}`;
  const members: MemberChannel[] = [];
  const sockets: WebSocket[] = [];
  /** A raw WebSocket from a page of `origin` (null: no Origin header, as a non-browser client may do). */
  const open = (origin: string | null = ORIGIN, path = PATH) => {
    const ws = new WebSocket(url(path), origin === null ? {} : { origin });
    ws.on('error', () => {}); // what happens to it is asserted through its close or the server's reports
    sockets.push(ws);
    return ws;
  };
  const worker = async (rank: number) => {
    const channel = await within(5000, WorkerChannel.connect(join(dir, 'server.sock'), rank, secret), `rank ${rank} connecting`);
    members.push(channel);
    return channel;
  };
  /** A tab as a page would connect: the token it was given, its adapter and user agent. */
  const tab = async (pageToken = token, origin = ORIGIN) => {
    const pageSecret = await secretFromJoinTokenAsync(pageToken, 'the page\'s token');
    // The socket is made in the same turn as connectTab is called, as connectTab asks.
    const channel = await within(5000, MemberChannel.connectTab(
      open(origin) as unknown as WebSocketLike, pageSecret,
      { adapter: 'SwiftShader (test)', agent: 'uvu' }, { timeoutMs: 4000 },
    ), 'a tab connecting');
    members.push(channel);
    return channel;
  };
  const close = async () => {
    for (const m of members) m.close();
    for (const ws of sockets) ws.terminate();
    endpoint.close();
    await server.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  return { server, events, token, secret, free, url, port, open, worker, tab, close };
}

/** Every member's round-0 input, averaged: each gets the float64 mean in rank order, rounded once. */
async function roundIsExact(members: MemberChannel[], count: number, round = 0): Promise<void> {
  const inputs = members.map((m) => inputFor(BASE_SEED, m.rank, round, count));
  const expected = meanRef([...members].sort((a, b) => a.rank - b.rank).map((m) => inputFor(BASE_SEED, m.rank, round, count)));
  const means = await within(10_000, Promise.all(members.map((m, i) => m.allReduceMean('params', inputs[i]!))), 'an averaging round');
  for (const [i, mean] of means.entries()) assertBitwiseEqual(mean, expected, `rank ${members[i]!.rank}'s mean`);
}

/** How the server answered a WebSocket upgrade that it did not take: the HTTP status and body. */
function refusedUpgrade(ws: WebSocket): Promise<{ status: number; body: string }> {
  return within(5000, new Promise((resolve, reject) => {
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('unexpected-response', (_, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
  }), 'the upgrade\'s answer');
}

const closed = (ws: WebSocket) => within(5000, new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))), 'the server closing the stranger');

test('a tab holding the join token takes the rank tabSeat gives it and averages with Node workers to the exact float64 mean, its parameters larger than one message', async () => {
  const s = await serve(3, [2]);
  try {
    const [w0, w1, t] = await Promise.all([s.worker(0), s.worker(1), s.tab()]);
    assert.is(t.rank, 2);
    assert.is(t.worldSize, 3);
    assert.equal(t.config, { model: 'test' }, 'the tab got the run\'s config in init');
    assert.is(s.events.joined.length, 1);
    const [rank, info] = s.events.joined[0]!;
    assert.is(rank, 2);
    assert.match(info.address, /^127\.0\.0\.1 port \d+$/);
    assert.equal([info.adapter, info.agent], ['SwiftShader (test)', 'uvu']);
    // 300,001 floats: 1.2 MB each way, over the 1 MiB message limit, and not a multiple of the 256 KiB pieces.
    await roundIsExact([w0, w1, t], 300_001);
    await roundIsExact([w0, w1, t], 7, 1);
    await Promise.all([w0, w1, t].map((m) => m.done({})));
    await waitUntil(() => s.events.done.length === 3, 5000);
    t.close();
    assert.ok(await waitUntil(() => s.events.left.length === 1, 5000), 'the tab\'s leaving is reported');
    assert.equal(s.events.left.map(([r, , why]) => [r, why]), [[2, 'done']]);
    assert.equal(s.events.fatal, []);
    assert.equal(s.events.refused, []);
  } finally {
    await s.close();
  }
});

test('a tab with another run\'s token is refused for its proof, is not seated, and the run goes on as if it had not come', async () => {
  const s = await serve(2, [1]);
  try {
    const wrong = randomBytes(32).toString('hex');
    let error: Error | undefined;
    try {
      await s.tab(wrong);
    } catch (e) {
      error = e as Error;
    }
    assert.ok(error, 'connecting with a wrong token fails');
    assert.match(error.message, /tab: the coordinator closed the connection before init: it refused this tab's hello \(a token of another run/);
    assert.is(s.events.refused.length, 1);
    assert.is(s.events.refused[0]!.kind, 'proof');
    assert.match(s.events.refused[0]!.message, /^tab connection #1 from 127\.0\.0\.1 port \d+: its tab-hello \(tab at 127\.0\.0\.1 port \d+ \(SwiftShader \(test\)\)\) carried a wrong proof/);
    assert.equal(s.free, [1], 'the tab seat was not given away');
    assert.equal(s.events.joined, []);
    const [w0, t] = await Promise.all([s.worker(0), s.tab()]);
    await roundIsExact([w0, t], 1000);
    assert.equal(s.events.fatal, []);
  } finally {
    await s.close();
  }
});

test('a tab that proves the token but finds no rank free is refused as such', async () => {
  const s = await serve(2, [1]);
  try {
    await s.tab();
    let error: Error | undefined;
    try {
      await s.tab();
    } catch (e) {
      error = e as Error;
    }
    assert.ok(error, 'the second tab is refused');
    assert.ok(await waitUntil(() => s.events.refused.length === 1, 5000));
    assert.is(s.events.refused[0]!.kind, 'seat');
    assert.match(s.events.refused[0]!.message, /tab at 127\.0\.0\.1 port \d+ \(SwiftShader \(test\)\) proved the secret, but no rank is free for a tab/);
  } finally {
    await s.close();
  }
});

test('an upgrade from a page of another origin, or with no Origin, is answered 403 and reported; the run is untouched', async () => {
  const s = await serve(2, [1]);
  try {
    const other = await refusedUpgrade(s.open('http://evil.example'));
    assert.is(other.status, 403);
    assert.match(other.body, /pages of Origin "http:\/\/evil\.example" may not join this run; allowed: http:\/\/127\.0\.0\.1:8080/);
    const none = await refusedUpgrade(s.open(null));
    assert.is(none.status, 403);
    assert.equal(s.events.refused.map((r) => r.kind), ['origin', 'origin']);
    assert.match(s.events.refused[0]!.message, /WebSocket upgrade #1 from 127\.0\.0\.1 port \d+: Origin "http:\/\/evil\.example", which is not one of the allowed origins/);
    assert.match(s.events.refused[1]!.message, /no Origin/);
    const [w0, t] = await Promise.all([s.worker(0), s.tab()]);
    await roundIsExact([w0, t], 100);
  } finally {
    await s.close();
  }
});

test('same-origin: a page of this server, by the name its browser used, may join; a page of any other origin may not', async () => {
  const s = await serve(2, [1], { allowedOrigins: { sameOrigin: 'http' } });
  try {
    // ws sends Host 127.0.0.1:PORT, as a browser at http://127.0.0.1:PORT/ would.
    const elsewhere = await refusedUpgrade(s.open(`http://localhost:${s.port}`));
    assert.is(elsewhere.status, 403);
    assert.match(elsewhere.body, /allowed: this server's own pages/);
    assert.is((await refusedUpgrade(s.open('https://127.0.0.1:' + s.port))).status, 403, 'another scheme is another origin');
    assert.is((await refusedUpgrade(s.open(null))).status, 403);
    const [w0, t] = await Promise.all([s.worker(0), s.tab(s.token, `http://127.0.0.1:${s.port}`)]);
    await roundIsExact([w0, t], 100);
  } finally {
    await s.close();
  }
});

test('an upgrade at another path is answered 404, and nothing is reported', async () => {
  const s = await serve(1, [0]);
  try {
    const answer = await refusedUpgrade(s.open(ORIGIN, '/other'));
    assert.is(answer.status, 404);
    assert.match(answer.body, /no WebSocket endpoint at \/other; tabs connect to \/collective/);
    assert.equal(s.events.refused, []);
  } finally {
    await s.close();
  }
});

test('a message over the size limit closes the stranger that sent it, is reported, and the run goes on', async () => {
  const s = await serve(2, [1]);
  try {
    const ws = s.open();
    await within(5000, new Promise((resolve) => ws.once('message', resolve)), 'the challenge');
    const closing = closed(ws);
    ws.send(new Uint8Array(MAX_MESSAGE_BYTES + 1));
    await closing;
    assert.ok(await waitUntil(() => s.events.refused.length === 1, 5000), 'the stranger is reported');
    assert.is(s.events.refused[0]!.kind, 'not-hello');
    assert.match(s.events.refused[0]!.message, /^tab connection #1 from 127\.0\.0\.1 port \d+: it broke its connection before a hello \(WebSocket error: Max payload size exceeded\)/);
    const [w0, t] = await Promise.all([s.worker(0), s.tab()]);
    await roundIsExact([w0, t], 100);
    assert.equal(s.events.fatal, []);
  } finally {
    await s.close();
  }
});

test('a stranger that sends text, or a tab-hello with an over-long adapter name, is closed and reported for it; the run goes on', async () => {
  const s = await serve(2, [1]);
  try {
    const text = s.open();
    await within(5000, new Promise((resolve) => text.once('message', resolve)), 'the challenge');
    const textClosed = closed(text);
    text.send('{"type":"tab-hello"}');
    assert.is(await textClosed, 1003, 'closed as unsupported data');
    const long = s.open();
    const challenge = await within(5000, new Promise<Buffer>((resolve) => long.once('message', resolve)), 'the challenge');
    const nonce = (JSON.parse(challenge.subarray(8).toString()) as { nonce: string }).nonce;
    const longClosed = closed(long);
    long.send(encodeHead({
      type: 'tab-hello', nonce: newNonce(), proof: handshakeProof(s.secret, 'tab', nonce, TAB_PROOF_RANK), adapter: 'x'.repeat(257), agent: 'uvu',
    } as never, 0));
    await longClosed;
    assert.ok(await waitUntil(() => s.events.refused.length === 2, 5000), 'both reported');
    const [first, second] = [...s.events.refused].sort((a, b) => a.message.localeCompare(b.message));
    assert.is(first!.kind, 'not-hello');
    assert.match(first!.message, /^tab connection #1 from .*: it sent a text WebSocket message \(this protocol is binary\)/);
    assert.is(second!.kind, 'not-hello');
    assert.match(second!.message, /^tab connection #2 from .*: it sent something other than a valid hello: .*adapter: String must contain at most 256 character/);
    assert.equal(s.free, [1], 'neither took the tab seat');
    const [w0, t] = await Promise.all([s.worker(0), s.tab()]);
    await roundIsExact([w0, t], 10);
  } finally {
    await s.close();
  }
});

test('a stranger that opens a WebSocket and says nothing is closed after the hello timeout', async () => {
  const helloTimeoutMs = 500;
  const s = await serve(1, [0], { helloTimeoutMs });
  try {
    const ws = s.open();
    await within(5000, new Promise((resolve) => ws.once('open', resolve)), 'the upgrade');
    const started = performance.now();
    await closed(ws);
    const waited = performance.now() - started;
    assert.ok(waited > helloTimeoutMs - 100 && waited < helloTimeoutMs + 2000, `closed after ${waited.toFixed(0)} ms`);
    assert.is(s.events.refused.length, 1);
    assert.is(s.events.refused[0]!.kind, 'silent');
    assert.match(s.events.refused[0]!.message, /^tab connection #1 from 127\.0\.0\.1 port \d+: it said nothing for 0\.5 s after connecting/);
  } finally {
    await s.close();
  }
});

test('a tab whose page closes while a worker waits in a round is reported lost, and the caller can drop it so the round completes without it', async () => {
  const s = await serve(2, [1]);
  try {
    const [w0, t] = await Promise.all([s.worker(0), s.tab()]);
    const input = inputFor(BASE_SEED, 0, 0, 50);
    const waiting = w0.allReduceMean('params', input.slice());
    t.close();
    assert.ok(await waitUntil(() => s.events.left.length === 1, 5000), 'the tab\'s leaving is reported');
    const [rank, info, why] = s.events.left[0]!;
    assert.equal([rank, why], [1, 'lost']);
    assert.is(info.adapter, 'SwiftShader (test)');
    s.server.drop(1).resume();
    assertBitwiseEqual(await within(5000, waiting, 'the round without the tab'), input, 'the mean of the one rank left');
    assert.equal(s.events.fatal, []);
  } finally {
    await s.close();
  }
});

test('a tab that goes silent is reported by where it is and its adapter, as a worker is by its pid', async () => {
  const s = await serve(2, [1], { timeoutMs: 600 });
  try {
    // A page frozen by its browser: it proved the token and took its rank, then sends nothing more.
    const frozen = s.open();
    const decoder = new FrameDecoder({
      onHeader: () => undefined,
      onFrame: (header) => {
        if (header.type !== 'challenge') return;
        frozen.send(encodeHead({
          type: 'tab-hello', nonce: newNonce(), proof: handshakeProof(s.secret, 'tab', header.nonce, TAB_PROOF_RANK), adapter: 'SwiftShader (test)', agent: 'uvu',
        }, 0));
      },
    }, COORDINATOR_SENDS);
    frozen.on('message', (data: Buffer) => decoder.push(data));
    const w0 = await s.worker(0);
    assert.ok(await waitUntil(() => s.events.joined.length === 1, 5000), 'the frozen page joined');
    void w0.allReduceMean('params', new Float32Array(3)).catch(() => {});
    assert.ok(await waitUntil(() => s.events.silences.some((r) => r.ranks.some((x) => x.rank === 1)), 5000), 'the silence is reported');
    const entry = s.events.silences.flatMap((r) => r.ranks).find((x) => x.rank === 1)!;
    assert.is(entry.pid, undefined);
    assert.match(entry.tab ?? '', /^tab at 127\.0\.0\.1 port \d+ \(SwiftShader \(test\)\)$/);
  } finally {
    await s.close();
  }
});

test.run();
