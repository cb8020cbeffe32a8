import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handshakeProof, newNonce, newSecret, proofMatches, secretToText } from '../../src/comm/handshake.js';
import { asFloat32, ProtocolError, WORKER_SENDS, type Header } from '../../src/comm/protocol.js';
import { socketStream } from '../../src/comm/byte-stream.js';
import { FrameConnection } from '../../src/comm/transport.js';
import { CoordinatorSilentError, ENV, WorkerChannel } from '../../src/comm/worker-channel.js';
import type { Endpoint } from '../../src/comm/endpoint.js';
import { waitUntil, within } from './fixtures/procs.js';

const test = suite('worker-channel');

type Init = Extract<Header, { type: 'init' }>;
/**
 * The proof is filled in by the fake coordinator (unless `proofSecret` says whose secret to prove).
 * Heartbeats every minute: none arrive during a test unless it asks for them. The fake never beats,
 * so the worker tolerates its silence for ten minutes unless a test asks for less.
 */
const INIT: Omit<Init, 'proof'> = { type: 'init', rank: 0, worldSize: 1, config: { lr: 0.5 }, count: 0, heartbeatMs: 60_000, silenceLimitMs: 600_000 };

/**
 * An in-process stand-in for the server: sends a challenge, answers hello with `init` (and its
 * payload) proved with `proofSecret` (the run's secret by default), records frames, answers with `reply`.
 */
async function fakeCoordinator(
  reply: (header: Header, payload: Uint8Array, connection: FrameConnection) => void,
  init: unknown = INIT, initPayload?: Uint8Array, options: { proofSecret?: Uint8Array; tcp?: boolean } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'channel-test-'));
  const path = join(dir, 's');
  const secret = newSecret();
  const seen: Header[] = [];
  const challenges: string[] = [];
  const server: Server = createServer((socket) => {
    const challenge = newNonce();
    challenges.push(challenge);
    const connection: FrameConnection = new FrameConnection(socketStream(socket), WORKER_SENDS, {
      onHeader: () => undefined,
      onFrame: (header, payload) => {
        seen.push(header);
        if (header.type === 'hello') {
          const proof = handshakeProof(options.proofSecret ?? secret, 'server', header.nonce, header.rank);
          void connection.send({ proof, ...(init as object) } as Header, initPayload);
        } else {
          reply(header, payload, connection);
        }
      },
      onError: (e) => { throw e; },
      onClose: () => {},
    });
    void connection.send({ type: 'challenge', nonce: challenge });
  });
  if (options.tcp) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  else await new Promise<void>((resolve) => server.listen(path, resolve));
  /** Where a WorkerChannel connects: the socket path, or with `tcp` 127.0.0.1 and the port it got. */
  const endpoint: Endpoint = options.tcp ? { host: '127.0.0.1', port: (server.address() as AddressInfo).port } : path;
  const env = { [ENV.socket]: path, [ENV.rank]: '0', [ENV.secret]: secretToText(secret) };
  const close = () => new Promise<void>((resolve) => server.close(() => (rmSync(dir, { recursive: true, force: true }), resolve())));
  return { env, path, endpoint, secret, seen, challenges, close };
}

/** A hello as the worker sends it: its rank and pid, its own nonce, and a proof over the server's challenge. */
function assertHello(fake: { secret: Uint8Array; challenges: string[] }, header: Header | undefined, rank: number): void {
  assert.ok(header?.type === 'hello', `a hello, got ${JSON.stringify(header)}`);
  assert.equal({ rank: header.rank, pid: header.pid }, { rank, pid: process.pid });
  assert.ok(proofMatches(fake.secret, 'worker', fake.challenges.at(-1)!, rank, header.proof), 'the hello proves the secret over the server\'s challenge');
  assert.not.ok(JSON.stringify(header).includes(secretToText(fake.secret)), 'the secret itself never crosses the wire');
}

test('fromEnvironment is undefined outside a launch and names a bad rank variable, or a missing or malformed secret without printing it', async () => {
  assert.is(await WorkerChannel.fromEnvironment({}), undefined);
  const secret = secretToText(newSecret());
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ [ENV.rank]: 'three', [ENV.secret]: secret }, new RegExp(`${ENV.rank}=three`)],
    [{ [ENV.rank]: '0' }, new RegExp(`${ENV.secret} is not set: it is the per-run secret \\(64 hex digits\\) that launch\\(\\) gives every worker`)],
    [{ [ENV.rank]: '0', [ENV.secret]: 'abc123' }, new RegExp(`${ENV.secret} is not a per-run secret: 64 lowercase hex digits expected, got 6 characters;`)],
    [{ [ENV.rank]: '0', [ENV.secret]: `${secret.slice(0, 63)}g` }, /got 64 characters with non-hex ones/],
  ];
  for (const [env, message] of cases) {
    try {
      await WorkerChannel.fromEnvironment({ [ENV.socket]: '/nonexistent', ...env });
      assert.unreachable(`${JSON.stringify(env)} should be rejected`);
    } catch (e) {
      assert.match((e as Error).message, message);
      if (env[ENV.secret]) assert.not.ok((e as Error).message.includes(env[ENV.secret]!), 'the error does not print the secret');
    }
  }
});

test('a coordinator that cannot prove the run\'s secret in init is refused before its config is taken', async () => {
  const fake = await fakeCoordinator(() => {}, INIT, undefined, { proofSecret: newSecret() });
  try {
    await within(3000, WorkerChannel.connect(fake.path, 0, fake.secret), 'connect');
    assert.unreachable('an init proved with another secret should be refused');
  } catch (e) {
    assert.instance(e, ProtocolError);
    assert.match((e as Error).message, /the coordinator's init carried a wrong proof: it does not hold this run's secret .* so its config is refused/);
  }
  await fake.close();
});

test('the init message gives the world size, the config, and a rejoining process its weights, step and rounds', async () => {
  const params = new Float32Array([1.5, -2, 3]);
  const init: Omit<Init, 'proof'> = { ...INIT, rank: 1, worldSize: 3, rejoin: { restarts: 2, rounds: { params: 4, grads: 0, broadcast: 1 }, step: 32 }, count: 3 };
  const fake = await fakeCoordinator(() => {}, init, new Uint8Array(params.buffer));
  const channel = await within(3000, WorkerChannel.connect(fake.path, 1, fake.secret), 'connect');
  assert.is(channel.rank, 1);
  assert.is(channel.worldSize, 3);
  assert.equal(channel.liveRanks, [0, 1, 2]);
  assert.equal(channel.config, { lr: 0.5 });
  assert.equal({ ...channel.rejoin!, params: [...channel.rejoin!.params!] }, { restarts: 2, rounds: { params: 4, grads: 0, broadcast: 1 }, step: 32, params: [1.5, -2, 3] });
  assertHello(fake, fake.seen[0], 1); // the hello names the rank; the world size comes from init
  // Its first parameter round is the first not yet completed.
  const first = channel.allReduceMean('params', new Float32Array(3), 40);
  first.catch(() => {});
  await waitUntil(() => fake.seen.length === 2, 3000);
  assert.equal(fake.seen[1], { type: 'allreduce', tag: 'params', round: 4, count: 3, step: 40 }, 'the round carries its step');
  channel.close();
  await fake.close();
});

test('a malformed init is a protocol error naming the field, and connect rejects with it', async () => {
  const fake = await fakeCoordinator(() => {}, { ...INIT, rejoin: { restarts: 1, rounds: { params: -1, grads: 0, broadcast: 1 } } });
  try {
    await within(3000, WorkerChannel.connect(fake.path, 0, fake.secret), 'connect');
    assert.unreachable('a negative round count should be rejected');
  } catch (e) {
    assert.instance(e, ProtocolError);
    assert.match((e as Error).message, /bad frame from the coordinator: .*rejoin\.rounds\.params: /);
  }
  await fake.close();
});

test('an init for another rank is refused', async () => {
  const fake = await fakeCoordinator(() => {}, { ...INIT, rank: 2, worldSize: 3 });
  try {
    await within(3000, WorkerChannel.connect(fake.path, 0, fake.secret), 'connect');
    assert.unreachable('init for rank 2 should be refused by rank 0');
  } catch (e) {
    assert.match((e as Error).message, /init is for rank 2/);
  }
  await fake.close();
});

test('allReduceMean sends hello then the tensor, and writes the mean into the given array', async () => {
  const fake = await fakeCoordinator((header, payload, connection) => {
    if (header.type !== 'allreduce') return;
    const mean = asFloat32(payload).map((x) => x / 2);
    void connection.send({ type: 'result', collective: header.tag, round: header.round, count: header.count, reduceMs: 1, waitMs: 2 }, new Uint8Array(mean.buffer));
  });
  const channel = (await WorkerChannel.fromEnvironment(fake.env))!;
  const data = new Float32Array([2, 4, 6]);
  const result = await within(3000, channel.allReduceMean('grads', data), 'allReduceMean');
  assert.ok(result === data, 'resolves with the array it was given');
  assert.equal([...data], [1, 2, 3]);
  assertHello(fake, fake.seen[0], 0);
  assert.equal(fake.seen[1], { type: 'allreduce', tag: 'grads', round: 0, count: 3 });
  const stats = channel.stats();
  assert.is(stats.rounds, 1);
  assert.is(stats.lastRound!.reduceSeconds, 0.001);
  assert.ok(stats.bytesSent > 12 && stats.bytesReceived > 12, JSON.stringify(stats));
  channel.close();
  await fake.close();
});

test('heartbeats arrive every init.heartbeatMs saying what the worker does and the collective it waits in, stop at close, and count no bytes', async () => {
  const fake = await fakeCoordinator(() => {}, { ...INIT, heartbeatMs: 20 }); // never answers a collective
  const channel = (await WorkerChannel.fromEnvironment(fake.env))!;
  const beats = () => fake.seen.filter((h): h is Extract<Header, { type: 'heartbeat' }> => h.type === 'heartbeat');
  const announced: string[] = [];
  channel.onActivity((doing) => announced.push(doing));
  channel.setActivity('training step 3');
  assert.ok(await waitUntil(() => beats().some((h) => h.doing === 'training step 3'), 3000), `heartbeats: ${JSON.stringify(beats())}`);
  channel.allReduceMean('params', new Float32Array(2)).catch(() => {});
  assert.ok(await waitUntil(() => beats().some((h) => h.doing === "in allreduce 'params' round 0, training step 3"), 3000), `heartbeats: ${JSON.stringify(beats())}`);
  assert.equal(announced, ['training step 3', "in allreduce 'params' round 0, training step 3"]);
  const bytes = channel.stats().bytesSent;
  assert.ok(beats().length >= 2);
  channel.close();
  const afterClose = beats().length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(beats().length <= afterClose + 1, `${beats().length - afterClose} heartbeats after close`);
  assert.is(bytes, channel.stats().bytesSent);
  const hello = fake.seen.find((h) => h.type === 'hello')!;
  const allreduce = fake.seen.find((h) => h.type === 'allreduce')!;
  const frameBytes = (h: Header, payload: number) => 8 + Buffer.byteLength(JSON.stringify(h)) + payload;
  assert.is(bytes, frameBytes(hello, 0) + frameBytes(allreduce, 8), 'bytes sent count hello and the tensor frame, not the heartbeats');
  await fake.close();
});

test('a second collective before the first resolves is rejected, naming both', async () => {
  const fake = await fakeCoordinator(() => {}); // never answers
  const channel = (await WorkerChannel.fromEnvironment(fake.env))!;
  const first = channel.allReduceMean('params', new Float32Array(2));
  first.catch(() => {});
  try {
    await channel.allReduceMean('params', new Float32Array(2));
    assert.unreachable('second collective should be rejected');
  } catch (e) {
    assert.match((e as Error).message, /allreduce 'params' round 1 started while allreduce 'params' round 0 is in flight/);
  }
  channel.close();
  await fake.close();
});

test('stop from the coordinator fails the waiting collective and calls onStop', async () => {
  const fake = await fakeCoordinator((header, _payload, connection) => {
    if (header.type === 'allreduce') void connection.send({ type: 'stop', reason: 'test' });
  });
  const channel = (await WorkerChannel.fromEnvironment(fake.env))!;
  let stopped = 0;
  channel.onStop(() => stopped++);
  try {
    await within(3000, channel.allReduceMean('params', new Float32Array(2)), 'allReduceMean');
    assert.unreachable('the collective should fail on stop');
  } catch (e) {
    assert.match((e as Error).message, /coordinator stopped the run \(test\)/);
  }
  assert.is(stopped, 1);
  channel.close();
  await fake.close();
});

test('a coordinator that completes the handshake, then sends nothing past init.silenceLimitMs fails the waiting collective and calls onStop, naming its address and the silence', async () => {
  // The fake never beats: once init is out it is a coordinator whose machine died or whose link was cut.
  const limitMs = 600;
  const fake = await fakeCoordinator(() => {}, { ...INIT, silenceLimitMs: limitMs }, undefined, { tcp: true });
  const { host, port } = fake.endpoint as { host: string; port: number };
  let channel: WorkerChannel | undefined;
  try {
    channel = await within(3000, WorkerChannel.connect(fake.endpoint, 0, fake.secret), 'connect');
    const stops: Error[] = [];
    channel.onStop((why) => stops.push(why));
    const started = performance.now();
    const failed = await within(limitMs + 5000, channel.allReduceMean('params', new Float32Array(2)).then(() => undefined, (e: Error) => e), 'the collective to fail');
    const waited = performance.now() - started;
    assert.ok(failed, 'the collective fails');
    assert.match(failed.message, new RegExp(
      `^rank 0: the coordinator at ${host.replaceAll('.', '\\.')}:${port} sent nothing for \\d+\\.\\d s \\(heartbeats included; the limit is 0\\.6 s\\): it is gone or the link is cut$`,
    ));
    // Not before the limit (the last frame, init, came before the collective started); soon after it.
    assert.ok(waited >= limitMs - 50 && waited < limitMs + 3000, `failed after ${waited.toFixed(0)} ms (limit ${limitMs} ms)`);
    assert.equal(stops.map((e) => [e instanceof CoordinatorSilentError, e.message]), [[true, failed.message]], 'onStop is called once, with the same error');
    await within(1000, channel.allReduceMean('params', new Float32Array(2)).then(() => assert.unreachable('a broken channel'), (e: Error) => assert.is(e, failed)), 'a later collective');
  } finally {
    channel?.close(); // also when the check failed to break it: the fake's close waits for its connection
    await fake.close();
  }
});

test('broadcast takes data from rank 0 only', async () => {
  const fake = await fakeCoordinator(() => {});
  const channel = (await WorkerChannel.fromEnvironment(fake.env))!;
  try {
    await channel.broadcast(undefined);
    assert.unreachable('rank 0 must pass data');
  } catch (e) {
    assert.match((e as Error).message, /the main rank \(0, the lowest live rank\), and only it, passes data \(this is rank 0, data undefined\)/);
  }
  channel.close();
  await fake.close();
});

test('with timeoutMs, a TCP listener that accepts but never challenges is given up on after it, naming the address, and the connection is closed', async () => {
  let closedAt = 0;
  const silent = createServer((socket) => socket.on('close', () => (closedAt = performance.now())));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  try {
    const started = performance.now();
    try {
      await within(5000, WorkerChannel.connect({ host: '127.0.0.1', port }, 2, newSecret(), { timeoutMs: 400 }), 'connect');
      assert.unreachable('nothing answered');
    } catch (e) {
      assert.is((e as Error).message, `rank 2: connected to 127.0.0.1:${port}, but no init came from it within 0.4 s: is this run's collective server listening there (and not busy with another run)?`);
    }
    const waited = performance.now() - started;
    assert.ok(waited >= 390 && waited < 3000, `gave up after ${waited.toFixed(0)} ms`);
    assert.ok(await waitUntil(() => closedAt > 0, 3000), 'the listener saw the connection closed');
  } finally {
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test.run();
