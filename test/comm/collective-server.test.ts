// The collective server on its own: no process is forked; workers are WorkerChannels in this
// process, connected as any program holding the run's secret could connect.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollectiveServer, type RoundComplete, type ServerEvents, type SilenceReport } from '../../src/comm/collective-server.js';
import { isLoopback, type Endpoint } from '../../src/comm/endpoint.js';
import { newSecret } from '../../src/comm/handshake.js';
import { insecureSecret } from '../../src/comm/join-token.js';
import type { Refusal } from '../../src/comm/refusals.js';
import { WorkerChannel } from '../../src/comm/worker-channel.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { meanRef } from '../helpers/reference.js';
import { BASE_SEED } from '../helpers/random.js';
import { inputFor } from './fixtures/inputs.js';
import { waitUntil, within } from './fixtures/procs.js';

const test = suite('collective server');

/** Everything the server reports, in order. */
class Recorder implements ServerEvents {
  rounds: Array<Omit<RoundComplete, 'averaged'> & { averaged: Float32Array }> = [];
  silences: SilenceReport[] = [];
  fatal: Error[] = [];
  refused: Refusal[] = [];
  done: number[] = [];
  logs: unknown[] = [];
  warnings: string[] = [];
  onWarning(message: string): void { this.warnings.push(message); }
  onLog(_rank: number, record: unknown): void { this.logs.push(record); }
  onDone(rank: number): void { this.done.push(rank); }
  onWorkerError(): void {}
  onRoundComplete(round: RoundComplete): void { this.rounds.push({ ...round, averaged: round.averaged.slice() }); }
  onSilent(report: SilenceReport): void { this.silences.push(report); }
  onFatal(error: Error): void { this.fatal.push(error); }
  onRefused(refusal: Refusal): void { this.refused.push(refusal); }
}

/** tcp: on 127.0.0.1, port 0 (any free one); the workers connect to the port it got. */
async function serve(worldSize: number, options: { timeoutMs?: number; workerConfig?: unknown; carrier?: 'unix' | 'tcp' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'server-test-'));
  const events = new Recorder();
  const secret = newSecret();
  const server = new CollectiveServer({ worldSize, timeoutMs: options.timeoutMs ?? 10_000, workerConfig: options.workerConfig, secret }, events);
  await server.listen(options.carrier === 'tcp' ? { host: '127.0.0.1', port: 0 } : join(dir, 'server.sock'));
  const path: Endpoint = server.address;
  const channels: WorkerChannel[] = [];
  const connect = async (rank: number) => {
    const channel = await within(3000, WorkerChannel.connect(path, rank, secret), `rank ${rank} connecting`);
    channels.push(channel);
    return channel;
  };
  const close = async () => {
    for (const c of channels) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { server, events, path, secret, join: connect, close };
}

const seed = BASE_SEED + 31;
const count = 33;

test('a worker that says hello gets its rank, the world size and the run\'s config in init', async () => {
  const s = await serve(2, { workerConfig: { lr: 0.25, hidden: [8] } });
  const channel = await s.join(1);
  assert.is(channel.rank, 1);
  assert.is(channel.worldSize, 2);
  assert.equal(channel.config, { lr: 0.25, hidden: [8] });
  assert.is(channel.rejoin, undefined);
  await s.close();
});

test('a parameter round reports the step its headers carry, and every rank gets the float64 mean', async () => {
  const s = await serve(2);
  const [a, b] = [await s.join(0), await s.join(1)];
  const inputs = [0, 1].map((rank) => inputFor(seed, rank, 0, count));
  const expected = meanRef(inputs);
  const results = await within(3000, Promise.all([a.allReduceMean('params', inputs[0]!.slice(), 8), b.allReduceMean('params', inputs[1]!.slice(), 8)]), 'round');
  for (const r of results) assertBitwiseEqual(r, expected, `rank's mean (TEST_SEED=${BASE_SEED})`);
  assert.is(s.events.rounds.length, 1);
  assert.equal({ tag: s.events.rounds[0]!.tag, round: s.events.rounds[0]!.round, step: s.events.rounds[0]!.step }, { tag: 'params', round: 0, step: 8 });
  assertBitwiseEqual(s.events.rounds[0]!.averaged, expected, 'the averaged buffer the event carries');
  await s.close();
});

test('ranks that disagree on a parameter round\'s step are a fatal mismatch naming both steps', async () => {
  const s = await serve(2);
  const [a, b] = [await s.join(0), await s.join(1)];
  a.allReduceMean('params', new Float32Array(count), 8).catch(() => {});
  b.allReduceMean('params', new Float32Array(count), 16).catch(() => {});
  assert.ok(await waitUntil(() => s.events.fatal.length > 0, 3000), 'a fatal error');
  assert.match(s.events.fatal[0]!.message, /step mismatch in allreduce 'params' round 0: rank \d averages after step (16|8) but rank \d after step (8|16)/);
  await s.close();
});

test('hello with a rank outside the run, even with a valid proof, is refused naming the run\'s ranks, and the run goes on', async () => {
  const s = await serve(2);
  try {
    await within(3000, WorkerChannel.connect(s.path, 5, s.secret), 'connect');
    assert.unreachable('rank 5 of 2 should be refused');
  } catch (e) {
    assert.match((e as Error).message, /coordinator closed the connection before init: it refused this worker's hello/);
  }
  assert.equal(s.events.fatal, [], 'a refused hello is not the run\'s failure');
  assert.is(s.events.refused.length, 1);
  assert.is(s.events.refused[0]!.kind, 'rank');
  assert.match(s.events.refused[0]!.message, /claims rank 5, but this run has 2 workers \(ranks 0 to 1\)/);
  // Both ranks are still free for their workers.
  const [a, b] = [await s.join(0), await s.join(1)];
  await within(3000, Promise.all([a.allReduceMean('grads', new Float32Array(count)), b.allReduceMean('grads', new Float32Array(count))]), 'a round after the refusal');
  await s.close();
});

test('after replace(), the rank\'s next worker gets the last average, its step and the rounds completed, and rounds go on with it', async () => {
  const s = await serve(2);
  const [a, b] = [await s.join(0), await s.join(1)];
  const round0 = [0, 1].map((rank) => inputFor(seed, rank, 0, count));
  await within(3000, Promise.all([a.allReduceMean('params', round0[0]!.slice(), 8), b.allReduceMean('params', round0[1]!.slice(), 8)]), 'round 0');
  b.close(); // its process is gone, say; a waits in round 1 meanwhile
  const waiting = a.allReduceMean('params', inputFor(seed, 0, 1, count), 16);
  const completed = s.server.replace(1, 1);
  assert.equal(completed, { params: 1, grads: 0, broadcast: 0 });
  const newcomer = await s.join(1);
  assert.equal({ restarts: newcomer.rejoin!.restarts, rounds: newcomer.rejoin!.rounds, step: newcomer.rejoin!.step }, { restarts: 1, rounds: { params: 1, grads: 0, broadcast: 0 }, step: 8 });
  assertBitwiseEqual(newcomer.rejoin!.params!, meanRef(round0), 'the weights it rejoins with: round 0\'s mean');
  const [mean] = await within(3000, Promise.all([waiting, newcomer.allReduceMean('params', inputFor(seed, 1, 1, count), 16)]), 'round 1');
  assertBitwiseEqual(mean, meanRef([0, 1].map((rank) => inputFor(seed, rank, 1, count))), 'round 1 averages the newcomer in');
  assert.equal(s.events.rounds.map((r) => r.step), [8, 16]);
  await s.close();
});

test('drop() leaves the open round waiting until resume(), which completes it with the survivors\' mean', async () => {
  const s = await serve(3);
  const channels = [await s.join(0), await s.join(1), await s.join(2)];
  const inputs = [0, 1].map((rank) => inputFor(seed, rank, 0, count));
  const results = Promise.all([0, 1].map((rank) => channels[rank]!.allReduceMean('params', inputs[rank]!.slice(), 8)));
  await waitUntil(() => s.server.stats().perRank.slice(0, 2).every((r) => r.bytesReceived > count * 4), 3000); // both rounds' frames are in
  const { completed, resume } = s.server.drop(2);
  assert.equal(completed, { params: 0, grads: 0, broadcast: 0 });
  assert.equal(s.server.liveRanks, [0, 1]);
  assert.is(s.events.rounds.length, 0, 'not completed before resume()');
  resume();
  for (const r of await within(3000, results, 'round')) assertBitwiseEqual(r, meanRef(inputs), `survivors' mean (TEST_SEED=${BASE_SEED})`);
  assert.equal(channels[0]!.liveRanks, [0, 1], 'results name the survivors');
  await s.close();
});

test('a rank silent past the timeout while another waits is reported, with when it was last heard', async () => {
  const s = await serve(2, { timeoutMs: 200 });
  const a = await s.join(0);
  a.allReduceMean('grads', new Float32Array(count)).catch(() => {});
  assert.ok(await waitUntil(() => s.events.silences.length > 0, 3000), 'a silence report');
  const report = s.events.silences[0]!;
  assert.equal(report.ranks.map((r) => r.rank), [1]);
  assert.match(report.ranks[0]!.lastHeard, /^rank 1: \d+\.\d s ago, never connected$/);
  assert.equal(report.waiting, [0]);
  assert.is(report.collective, "allreduce 'grads' round 0");
  await s.close();
});

// ---- over TCP ----

test('over TCP on 127.0.0.1 port 0 the server reports the port it got, and rounds of awkward sizes give every rank the float64 mean bit for bit', async () => {
  const s = await serve(3, { carrier: 'tcp' });
  try {
    const address = s.path as { host: string; port: number };
    assert.type(address, 'object', `address ${JSON.stringify(address)}`);
    assert.is(address.host, '127.0.0.1');
    assert.ok(Number.isInteger(address.port) && address.port > 0, `a real port: ${address.port}`);
    const workers = await Promise.all([0, 1, 2].map((rank) => s.join(rank)));
    // Sizes from one element to past a TCP segment and a socket buffer's worth (65537 floats: 256 KiB + 4 bytes).
    for (const [round, n] of [1, 33, 65537].entries()) {
      const inputs = [0, 1, 2].map((rank) => inputFor(seed, rank, round, n));
      const means = await within(10_000, Promise.all(workers.map((w) => w.allReduceMean('params', inputs[w.rank]!.slice(), round))), `round ${round}`);
      for (const [rank, mean] of means.entries()) assertBitwiseEqual(mean, meanRef(inputs), `rank ${rank}'s mean of ${n} over TCP (TEST_SEED=${BASE_SEED})`);
    }
    assert.equal(s.events.rounds.map((r) => r.step), [0, 1, 2]);
    assert.equal(s.events.fatal, []);
    assert.equal(s.events.refused, []);
  } finally {
    await s.close();
  }
});

test('over TCP both ends of a worker\'s connection have keepalive on, so a peer whose machine died is probed, not waited on forever', async () => {
  const s = await serve(1, { carrier: 'tcp' });
  try {
    await s.join(0);
    const { port } = s.server.address as { port: number };
    // ss shows each end of the connection with its timer; without SO_KEEPALIVE an idle socket shows none.
    // (While bytes await their ACK the retransmit timer shows instead: wait until both ends are idle.)
    let ends: string[] = [];
    const idle = await waitUntil(() => {
      ends = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' }).trim().split('\n');
      return ends.length === 2 && ends.every((end) => !/timer:\(on,/.test(end));
    }, 5000);
    assert.ok(idle, `the server's end and the worker's, idle:\n${ends.join('\n')}`);
    for (const end of ends) assert.match(end, /timer:\(keepalive,/, end);
  } finally {
    await s.close();
  }
});

test('a worker idle for several timeouts stays in the run: the server beats to it, and the beats count no bytes either side', async () => {
  const timeoutMs = 400;
  const s = await serve(1, { timeoutMs, carrier: 'tcp' });
  try {
    const channel = await s.join(0);
    const stops: Error[] = [];
    channel.onStop((why) => stops.push(why));
    const before = { worker: channel.stats().bytesReceived, server: s.server.stats().bytesSent };
    // Nothing but heartbeats flows now; without the server's, the worker would count it gone after 0.4 s.
    await new Promise((resolve) => setTimeout(resolve, 4 * timeoutMs));
    assert.equal(stops, [], 'the worker did not count the coordinator gone');
    assert.equal({ worker: channel.stats().bytesReceived, server: s.server.stats().bytesSent }, before, 'heartbeats are not counted');
    const data = inputFor(seed, 0, 0, count);
    const expected = data.slice();
    assertBitwiseEqual(await within(3000, channel.allReduceMean('params', data), 'a round after the idle spell'), expected, 'a one-worker mean is its input');
  } finally {
    await s.close();
  }
});

test('a worker that cannot reach the server is told the address it tried', async () => {
  const s = await serve(1, { carrier: 'tcp' });
  const { port } = s.server.address as { port: number };
  await s.close(); // the port is free again: nobody listens there
  try {
    await within(5000, WorkerChannel.connect({ host: '127.0.0.1', port }, 0, newSecret()), 'connect');
    assert.unreachable('nobody listens there');
  } catch (e) {
    assert.match((e as Error).message, `rank 0 cannot reach the coordinator at 127.0.0.1:${port}: connect ECONNREFUSED`);
  }
});

test('without a secret, a server refuses to listen on a non-loopback address, before binding, saying how to make a join token', async () => {
  for (const host of ['0.0.0.0', '::', '10.1.2.3', 'example.org']) {
    const events = new Recorder();
    const server = new CollectiveServer({ worldSize: 1, timeoutMs: 10_000 }, events);
    try {
      await server.listen({ host, port: 0 });
      assert.unreachable(`listening on ${host} without a secret`);
    } catch (e) {
      const message = (e as Error).message;
      assert.match(message, /^refusing to listen on \S+ without a join secret: anyone who can reach that address could join the run/, message);
      assert.match(message, 'openssl rand -hex 32 > join.token && chmod 600 join.token');
      assert.match(message, 'LOCALSGD_JOIN_TOKEN');
    }
    assert.throws(() => server.address, /not listening/, `${host}: nothing was bound`);
    await server.close();
  }
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost') && isLoopback('::ffff:127.0.0.1'), 'what counts as loopback');
  assert.ok(![ '0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'localhost.example.org', '::ffff:10.0.0.1'].some(isLoopback), 'what does not');
});

test('without a secret, a loopback server makes a fresh one per server, which its workers need', async () => {
  const servers = [0, 1].map(() => new CollectiveServer({ worldSize: 1, timeoutMs: 10_000 }, new Recorder()));
  try {
    for (const server of servers) await server.listen({ host: '127.0.0.1', port: 0 });
    const [a, b] = servers as [CollectiveServer, CollectiveServer];
    assert.is(a.secret.byteLength, 32);
    assert.not.equal([...a.secret], [...b.secret], 'each server its own secret');
    await within(5000, WorkerChannel.connect(b.address, 0, a.secret), 'connect with the other server\'s secret').then(
      () => assert.unreachable('another server\'s secret must not pass'),
      (e: Error) => assert.match(e.message, /refused this worker's hello/),
    );
    const worker = await within(5000, WorkerChannel.connect(b.address, 0, b.secret), 'connect with its own');
    assert.equal([...await within(5000, worker.allReduceMean('params', new Float32Array([7])), 'a round')], [7]);
    worker.close();
  } finally {
    for (const server of servers) await server.close();
  }
});

test('insecure listens on every interface without a secret, warns, and still runs the handshake with the public insecure secret', async () => {
  const events = new Recorder();
  const warnings = events.warnings;
  const server = new CollectiveServer({ worldSize: 1, timeoutMs: 10_000, insecure: true }, events);
  try {
    await server.listen({ host: '0.0.0.0', port: 0 });
    const { port } = server.address as { port: number };
    assert.is(warnings.length, 1);
    assert.match(warnings[0]!, `listening on 0.0.0.0:${port} WITHOUT a join secret (insecure): anyone who can reach it can join this run`);
    // A worker holding some real token is refused (the handshake ran), one that chose insecure too joins.
    await within(5000, WorkerChannel.connect({ host: '127.0.0.1', port }, 0, newSecret()), 'a worker with another secret').then(
      () => assert.unreachable('a secured worker must not join an insecure server'),
      (e: Error) => assert.match(e.message, /refused this worker's hello/),
    );
    assert.is(events.refused[0]?.kind, 'proof');
    const worker = await within(5000, WorkerChannel.connect({ host: '127.0.0.1', port }, 0, insecureSecret()), 'an insecure worker');
    assert.equal([...await within(5000, worker.allReduceMean('params', new Float32Array([5])), 'a round')], [5]);
    worker.close();
  } finally {
    await server.close();
  }
});

test.run();
