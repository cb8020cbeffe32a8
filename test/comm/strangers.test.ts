// Strangers against a real collective server in this process: connections that do not complete the
// handshake are closed and reported, and change nothing (no failure, no rank claimed); a hello
// recorded from a real worker cannot be replayed; close() waits for no one.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollectiveServer, type ServerEvents } from '../../src/comm/collective-server.js';
import { connectTo, type Endpoint } from '../../src/comm/endpoint.js';
import { newSecret, proofMatches } from '../../src/comm/handshake.js';
import { FrameDecoder, WORKER_SENDS, type Header } from '../../src/comm/protocol.js';
import type { Refusal } from '../../src/comm/refusals.js';
import { WorkerChannel } from '../../src/comm/worker-channel.js';
import { waitUntil, within } from './fixtures/procs.js';
import { stranger, STRANGERS } from './fixtures/strangers.js';

const test = suite('strangers on the coordinator\'s socket');
const STRANGERS_SERVER = fileURLToPath(new URL('./fixtures/strangers-server.js', import.meta.url));

class Events implements ServerEvents {
  fatal: Error[] = [];
  refused: Refusal[] = [];
  onLog(): void {}
  onDone(): void {}
  onWorkerError(): void {}
  onRoundComplete(): void {}
  onSilent(): void {}
  onFatal(error: Error): void { this.fatal.push(error); }
  onRefused(refusal: Refusal): void { this.refused.push(refusal); }
}

/** The two carriers a server listens on: what strangers can do must not depend on which. */
const CARRIERS = { 'Unix socket': 'unix', 'TCP on 127.0.0.1': 'tcp' } as const;
type Carrier = (typeof CARRIERS)[keyof typeof CARRIERS];
/** Where a helper server of the same carrier as the one under test listens. */
const beside = (carrier: Carrier, path: string): Endpoint => (carrier === 'tcp' ? { host: '127.0.0.1', port: 0 } : path);

async function serve(worldSize: number, helloTimeoutMs?: number, carrier: Carrier = 'unix') {
  const dir = mkdtempSync(join(tmpdir(), 'strangers-test-'));
  const secret = newSecret();
  const events = new Events();
  const server = new CollectiveServer({ worldSize, timeoutMs: 60_000, secret, ...(helloTimeoutMs ? { helloTimeoutMs } : {}) }, events);
  await server.listen(beside(carrier, join(dir, 's.sock')));
  const path = server.address;
  const channels: WorkerChannel[] = [];
  const join_ = async (rank: number) => {
    const channel = await within(5000, WorkerChannel.connect(path, rank, secret), `rank ${rank} connecting`);
    channels.push(channel);
    return channel;
  };
  /** Every rank joins and one round completes with the right mean: the run is as if no stranger had come. */
  const roundWithEveryRank = async () => {
    const workers = await Promise.all(Array.from({ length: worldSize }, (_, rank) => join_(rank)));
    const means = await within(5000, Promise.all(workers.map((w) => w.allReduceMean('params', new Float32Array([w.rank, 2 * w.rank])))), 'a round');
    const expected = (worldSize - 1) / 2;
    for (const mean of means) assert.equal([...mean], [expected, 2 * expected]);
  };
  const close = async () => {
    for (const c of channels) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { server, events, path, dir, secret, join: join_, roundWithEveryRank, close };
}

for (const [over, carrier] of Object.entries(CARRIERS)) {
  test(`over a ${over}, each kind of stranger is closed and reported for what it did, and the run is untouched: no failure, every rank still free`, async () => {
    const timeoutMs = 600;
    const s = await serve(2, timeoutMs, carrier);
    try {
      const attached = STRANGERS.map((kind) => ({ ...kind, connection: stranger(s.path) }));
      const started = performance.now();
      await Promise.all(attached.map(({ connection, act }) => act(connection)));
      const closedAt = await within(5000, Promise.all(attached.map((a) => a.connection.closed)), 'the coordinator closing every stranger');
      assert.equal(s.events.fatal, [], 'no stranger is the run\'s failure');
      assert.is(s.events.refused.length, attached.length, 'each reported once');
      for (const [i, a] of attached.entries()) {
        const report = s.events.refused.find((r) => r.message.startsWith(`connection #${i + 1} `));
        assert.ok(report, `a report for the stranger that ${a.name}`);
        assert.is(report.kind, a.kind, `the stranger that ${a.name}: ${report.message}`);
        assert.match(report.message, a.message, `the stranger that ${a.name}: ${report.message}`);
      }
      // The silent ones were given their time, and not much more.
      for (const i of [0, 1]) {
        const waited = closedAt[i]! - started;
        assert.ok(waited > timeoutMs - 50 && waited < timeoutMs + 2000, `${attached[i]!.name}: closed after ${waited.toFixed(0)} ms`);
      }
      await s.roundWithEveryRank();
    } finally {
      await s.close(); // a failed assertion must not leave the server, and this test process, running
    }
  });

  test(`over a ${over}, a hello recorded from a real worker cannot be replayed: it answers only the challenge of the connection it was made for`, async () => {
    const s = await serve(2, undefined, carrier);
    try {
      // A recorder between the worker and the server: passes the server's bytes on, keeps the worker's, and never forwards them.
      let recorded = Buffer.alloc(0);
      let challenged = '';
      const sockets: Socket[] = [];
      const recorder = createServer((worker) => {
        const upstream = connectTo(s.path);
        sockets.push(upstream, worker);
        upstream.on('data', (chunk: Buffer) => worker.write(chunk));
        const challenge = new FrameDecoder({ onHeader: () => undefined, onFrame: (h) => h.type === 'challenge' && (challenged = h.nonce) }, new Set(['challenge']));
        upstream.on('data', (chunk: Buffer) => challenge.push(chunk));
        worker.on('data', (chunk: Buffer) => (recorded = Buffer.concat([recorded, chunk])));
        worker.on('error', () => {});
      });
      await new Promise<void>((resolve) => recorder.listen(beside(carrier, join(s.dir, 'recorder.sock')), resolve));
      const recorderAddress = recorder.address()!;
      const victim = WorkerChannel.connect(typeof recorderAddress === 'string' ? recorderAddress : { host: '127.0.0.1', port: recorderAddress.port }, 1, s.secret);
      victim.catch(() => {});
      await waitUntil(() => recorded.length > 0, 5000);
      let hello: Header | undefined;
      new FrameDecoder({ onHeader: () => undefined, onFrame: (h) => (hello = h) }, WORKER_SENDS).push(recorded);
      assert.ok(hello?.type === 'hello' && hello.rank === 1, `recorded a hello: ${JSON.stringify(hello)}`);
      assert.ok(proofMatches(s.secret, 'worker', challenged, 1, hello.proof), 'the recorded hello is genuine for the challenge it answered');
      // Replayed on a connection of its own, to a rank nobody holds: the server's new challenge refuses it.
      const replay = stranger(s.path);
      await within(5000, replay.challenge, 'the replay\'s own challenge');
      replay.socket.write(recorded);
      await within(5000, replay.closed, 'the replay to be closed');
      assert.is(s.events.refused.length, 1);
      assert.is(s.events.refused[0]!.kind, 'proof');
      assert.match(s.events.refused[0]!.message, /hello for rank 1 \(pid \d+\) carried a wrong proof: .*or it replayed a hello made for another connection/);
      assert.equal(s.events.fatal, []);
      for (const socket of sockets) socket.destroy();
      await within(5000, new Promise<void>((resolve) => recorder.close(() => resolve())), 'closing the recorder');
      await s.roundWithEveryRank(); // rank 1 is still free for its real worker
    } finally {
      await s.close(); // a failed assertion must not leave the server, and this test process, running
    }
  });
}

test('a second hello for a held rank, with a valid proof, is refused and its holder carries on', async () => {
  const s = await serve(1);
  try {
    const holder = await s.join(0);
    try {
      await within(5000, WorkerChannel.connect(s.path, 0, s.secret), 'the second connection');
      assert.unreachable('rank 0 is held');
    } catch (e) {
      assert.match((e as Error).message, /the coordinator closed the connection before init: it refused this worker's hello/);
    }
    assert.is(s.events.refused[0]?.kind, 'rank');
    assert.match(s.events.refused[0]!.message, /claims rank 0, but another connection holds that rank/);
    assert.equal(s.events.fatal, []);
    assert.equal([...await within(5000, holder.allReduceMean('params', new Float32Array([3])), 'the holder\'s round')], [3]);
  } finally {
    await s.close(); // a failed assertion must not leave the server, and this test process, running
  }
});

test('300 idle strangers: close() destroys them at once, those still in their handshake included, and reports them', async () => {
  const s = await serve(2, 60_000); // a hello timeout far off: close() comes first
  try {
    const [a, b] = [await s.join(0), await s.join(1)];
    const strangers = Array.from({ length: 300 }, () => stranger(s.path));
    await within(20_000, Promise.all(strangers.map((x) => x.challenge)), 'every stranger to be accepted');
    const means = await within(5000, Promise.all([a.allReduceMean('grads', new Float32Array([1])), b.allReduceMean('grads', new Float32Array([3]))]), 'a round beside 300 strangers');
    assert.equal(means.map((m) => m[0]), [2, 2]);
    const started = performance.now();
    await within(2000, s.server.close(), 'close() with 300 strangers attached');
    await within(2000, Promise.all(strangers.map((x) => x.closed)), 'every stranger closed by the server');
    assert.ok(performance.now() - started < 2000, `close() took ${(performance.now() - started).toFixed(0)} ms`);
    assert.is(s.events.refused.filter((r) => r.kind === 'ended').length, 300);
    assert.equal(s.events.fatal, []);
  } finally {
    await s.close(); // a failed assertion must not leave the server, and this test process, running
  }
});

test('after close(), a process that served a worker and 50 strangers exits by itself: nothing keeps its event loop alive', async () => {
  const child = spawn(process.execPath, [STRANGERS_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  assert.is(code, 0, `the fixture did not exit by itself within 15 s (killed):\n${out}`);
  const lines = JSON.parse(/^closed 0 (.*)$/m.exec(out)?.[1] ?? 'null') as string[] | null;
  assert.ok(lines, `output:\n${out}`);
  assert.is(lines.length, 2, `the first refusal in full, then one count:\n${lines.join('')}`);
  assert.match(lines[0]!, /^coordinator: refused a connection before its handshake: connection #\d+ on the local socket: it had not completed its hello when the run ended; closed it/);
  assert.match(lines[1]!, /^coordinator: refused 49 more connections before their handshake: 49 were still without a hello when the run ended\n$/);
});

test.run();
