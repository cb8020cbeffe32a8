import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asFloat32, WORKER_SENDS, type Header } from '../../src/comm/protocol.js';
import { FrameConnection } from '../../src/comm/transport.js';
import { ENV, WorkerChannel } from '../../src/comm/worker-channel.js';
import { within } from './fixtures/procs.js';

const test = suite('worker-channel');

/** An in-process stand-in for the coordinator: records frames, answers with `reply`. */
async function fakeCoordinator(reply: (header: Header, payload: Uint8Array, connection: FrameConnection) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'channel-test-'));
  const path = join(dir, 's');
  const seen: Header[] = [];
  const server: Server = createServer((socket) => {
    const connection: FrameConnection = new FrameConnection(socket, WORKER_SENDS, {
      onHeader: () => undefined,
      onFrame: (header, payload) => {
        seen.push(header);
        reply(header, payload, connection);
      },
      onError: (e) => { throw e; },
      onClose: () => {},
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const env = { [ENV.socket]: path, [ENV.rank]: '0', [ENV.worldSize]: '1' };
  const close = () => new Promise<void>((resolve) => server.close(() => (rmSync(dir, { recursive: true, force: true }), resolve())));
  return { env, seen, close };
}

test('fromEnvironment is undefined outside a launch and names bad rank variables', async () => {
  assert.is(await WorkerChannel.fromEnvironment({}), undefined);
  try {
    await WorkerChannel.fromEnvironment({ [ENV.socket]: '/nonexistent', [ENV.rank]: '3', [ENV.worldSize]: '2' });
    assert.unreachable('rank 3 of 2 should be rejected');
  } catch (e) {
    assert.match((e as Error).message, `${ENV.rank}=3 ${ENV.worldSize}=2`);
  }
});

test('a malformed rejoin environment is a protocol error naming the variable and the field', async () => {
  try {
    await WorkerChannel.fromEnvironment({
      [ENV.socket]: '/nonexistent', [ENV.rank]: '1', [ENV.worldSize]: '2', [ENV.rejoin]: JSON.stringify({ restarts: 1, rounds: { params: -1, grads: 0, broadcast: 1 } }),
    });
    assert.unreachable('a negative round count should be rejected');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`${ENV.rejoin} is malformed \\(rounds\\.params: `));
  }
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
  assert.equal(fake.seen[0], { type: 'hello', rank: 0, worldSize: 1, pid: process.pid });
  assert.equal(fake.seen[1], { type: 'allreduce', tag: 'grads', round: 0, count: 3 });
  const stats = channel.stats();
  assert.is(stats.rounds, 1);
  assert.is(stats.lastRound!.reduceSeconds, 0.001);
  assert.ok(stats.bytesSent > 12 && stats.bytesReceived > 12, JSON.stringify(stats));
  channel.close();
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

test.run();
