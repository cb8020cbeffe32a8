import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  CollectiveMismatchError, CoordinatorError, ProtocolError, WorkerFailedError, WorkerTimeoutError, type LaunchOptions,
} from '../../src/comm/launch.js';
import { OuterOptimizer } from '../../src/comm/outer-optimizer.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { boundedLaunch, type BoundedLaunch } from '../helpers/launch.js';
import { BASE_SEED } from '../helpers/random.js';
import { BF16, F16, halfBitsRef, halfValueRef, meanRef } from '../helpers/reference.js';
import { inputFor } from './fixtures/inputs.js';

const test = suite('launch');
const WORKER = fileURLToPath(new URL('./fixtures/worker.js', import.meta.url));

interface AverageSummary { rank: number; broadcast: string; results: string[] }

const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');


/** Runs a launch with fake workers, bounded in time; afterwards no worker may be alive. */
async function run(scenario: string, procs: number, options: object, extra: Partial<LaunchOptions> = {}): Promise<BoundedLaunch> {
  const launched = await boundedLaunch({ procs, workerScript: WORKER, workerArgs: [scenario, JSON.stringify(options)], ...extra }, 20_000, `launch ${scenario}`);
  assert.is(launched.pids.length, procs, 'every worker should have been started');
  return launched;
}

for (const procs of [1, 2, 4]) {
  test(`with ${procs} worker(s) every rank holds the float64 mean of all inputs, bit for bit, after each round`, async () => {
    for (const count of [1, 7, 100003]) {
      const seed = BASE_SEED + count;
      const rounds = 2;
      const seen: Float32Array[] = [];
      const { result, error } = await run('average', procs, { seed, count, rounds }, {
        onRoundComplete: ({ averaged }) => seen.push(averaged.slice()),
      });
      if (error) throw error;
      const summaries = result!.summaries as AverageSummary[];
      assert.is(summaries.length, procs);
      for (let round = 0; round < rounds; round++) {
        const inputs = Array.from({ length: procs }, (_, rank) => inputFor(seed, rank, round, count));
        const ref = meanRef(inputs);
        assertBitwiseEqual(seen[round]!, ref, `coordinator's mean, ${procs} ranks, ${count} floats, round ${round} (TEST_SEED=${BASE_SEED})`);
        // Each rank reports a digest of the exact bytes it holds after the round.
        for (const s of summaries) assert.is(s.results[round], digest(ref), `rank ${s.rank}'s mean, ${count} floats, round ${round} (TEST_SEED=${BASE_SEED})`);
      }
      assert.is(result!.stats.rounds, rounds);
    }
  });
}

test('an outer optimizer of sgd, lr 1, momentum 0 gives every rank the plain mean, bit for bit', async () => {
  const seed = BASE_SEED + 5;
  const count = 100003;
  const rounds = 3;
  const { result, error } = await run('average', 3, { seed, count, rounds }, { outerOptimizer: new OuterOptimizer({ kind: 'sgd', lr: 1, momentum: 0 }) });
  if (error) throw error;
  for (let round = 0; round < rounds; round++) {
    const ref = meanRef(Array.from({ length: 3 }, (_, rank) => inputFor(seed, rank, round, count)));
    for (const s of result!.summaries as AverageSummary[]) assert.is(s.results[round], digest(ref), `rank ${s.rank}, round ${round} (TEST_SEED=${BASE_SEED})`);
  }
});

test('with a Nesterov outer optimizer every rank gets θ stepped from the broadcast weights by each round\'s pseudo-gradient', async () => {
  const seed = BASE_SEED + 6;
  const count = 1001;
  const rounds = 3;
  const options = { kind: 'nesterov', lr: 0.7, momentum: 0.9 } as const;
  const outerOptimizer = new OuterOptimizer(options);
  const { result, error } = await run('average', 2, { seed, count, rounds }, { outerOptimizer });
  if (error) throw error;
  const expected = new OuterOptimizer(options);
  expected.setGlobal(inputFor(seed, 0, -1, count)); // rank 0's broadcast
  for (let round = 0; round < rounds; round++) {
    const theta = expected.step(meanRef(Array.from({ length: 2 }, (_, rank) => inputFor(seed, rank, round, count))));
    assert.not.equal(digest(theta), digest(meanRef(Array.from({ length: 2 }, (_, rank) => inputFor(seed, rank, round, count)))), 'not plain averaging');
    for (const s of result!.summaries as AverageSummary[]) assert.is(s.results[round], digest(theta), `rank ${s.rank}, round ${round} (TEST_SEED=${BASE_SEED})`);
  }
  assert.is(outerOptimizer.rounds, rounds);
  assertBitwiseEqual(outerOptimizer.momentumBuffer!, expected.momentumBuffer!, 'the coordinator\'s momentum buffer');
});

test('broadcast gives every rank exactly rank 0 bytes', async () => {
  const seed = BASE_SEED;
  const { result, error } = await run('average', 3, { seed, count: 1001, rounds: 0 });
  if (error) throw error;
  const expected = inputFor(seed, 0, -1, 1001);
  for (const s of result!.summaries as AverageSummary[]) assert.is(s.broadcast, digest(expected), `rank ${s.rank}'s broadcast bytes`);
  assert.is(result!.stats.broadcasts, 1);
});

test('byte accounting counts every frame on both sides of each link', async () => {
  const count = 1000;
  const { result, error } = await run('average', 2, { seed: 1, count, rounds: 3 });
  if (error) throw error;
  const stats = result!.stats;
  assert.is(stats.perRank.length, 2);
  for (const r of stats.perRank) {
    // 3 rounds of 4000-byte tensors each way, and one 4000-byte broadcast (rank 0 sends it, rank 1
    // receives it), plus headers and the done summary: under 4 kB in all.
    const tensors = { sent: 3 * count * 4 + (r.rank === 1 ? count * 4 : 0), received: 3 * count * 4 + (r.rank === 0 ? count * 4 : 0) };
    assert.ok(r.bytesReceived >= tensors.received && r.bytesReceived < tensors.received + 4096, `rank ${r.rank}: coordinator received ${r.bytesReceived}, tensors ${tensors.received}`);
    assert.ok(r.bytesSent >= tensors.sent && r.bytesSent < tensors.sent + 4096, `rank ${r.rank}: coordinator sent ${r.bytesSent}, tensors ${tensors.sent}`);
  }
  assert.is(stats.bytesSent, stats.perRank[0]!.bytesSent + stats.perRank[1]!.bytesSent);
  const worker = (result!.summaries[1] as { stats: { bytesSent: number; bytesReceived: number; rounds: number } }).stats;
  assert.is(worker.bytesReceived, stats.perRank[1]!.bytesSent, 'what the coordinator sent rank 1 is what rank 1 received');
  assert.is(worker.rounds, 3);
  assert.ok(stats.lastRound && stats.lastRound.bytesPerRank === count * 4, `lastRound ${JSON.stringify(stats.lastRound)}`);
});

for (const dtype of ['f16', 'bf16'] as const) {
  test(`compressed ${dtype} rounds: the coordinator decodes anchor + d_i, averages, sends the 16-bit update, and every rank ends on its anchor bit for bit`, async () => {
    const f = dtype === 'f16' ? F16 : BF16;
    const procs = 3;
    const count = 1001;
    const rounds = 3;
    const seed = BASE_SEED + 17;
    const seen: Float32Array[] = [];
    const { result, error } = await run('delta', procs, { seed, count, rounds, dtype }, {
      commDtype: dtype, onRoundComplete: ({ averaged }) => seen.push(averaged.slice()),
    });
    if (error) throw error;
    // The float64 reference: round 0 in f32 sets the anchor; then each rank's delta is rounded
    // to 16 bits, decoded onto the anchor in f32, averaged in float64, and the update rounded again.
    const anchor = meanRef(Array.from({ length: procs }, (_, rank) => inputFor(seed, rank, -1, count)));
    const expected = [anchor.slice()];
    for (let round = 0; round < rounds; round++) {
      const decoded = Array.from({ length: procs }, (_, rank) => {
        const input = inputFor(seed, rank, round, count);
        return anchor.map((a, j) => a + halfValueRef(halfBitsRef(Math.fround(Math.fround(a + 0.01 * input[j]!) - a), f)!, f));
      });
      const mean = meanRef(decoded);
      for (let j = 0; j < count; j++) anchor[j] = anchor[j]! + halfValueRef(halfBitsRef(Math.fround(mean[j]! - anchor[j]!), f)!, f);
      expected.push(anchor.slice());
    }
    assert.is(seen.length, rounds + 1);
    for (let round = 0; round <= rounds; round++) {
      assertBitwiseEqual(seen[round]!, expected[round]!, `coordinator's weights after round ${round} (TEST_SEED=${BASE_SEED})`);
      for (const s of result!.summaries as AverageSummary[]) assert.is(s.results[round], digest(expected[round]!), `rank ${s.rank}'s anchor after round ${round}`);
    }
    // Frames: one f32 round, then 2 bytes per element each way.
    const stats = result!.stats;
    assert.is(stats.lastRound!.bytesPerRank, count * 2);
    for (const r of stats.perRank) {
      const tensors = count * 4 + rounds * count * 2;
      assert.ok(r.bytesReceived >= tensors && r.bytesReceived < tensors + 4096, `rank ${r.rank}: coordinator received ${r.bytesReceived}, tensors ${tensors}`);
      assert.ok(r.bytesSent >= tensors && r.bytesSent < tensors + 4096, `rank ${r.rank}: coordinator sent ${r.bytesSent}, tensors ${tensors}`);
    }
  });
}

test('compressed f16 rounds with a Nesterov outer optimizer: θ is the 16-bit-rounded weights the ranks hold, not the unrounded step', async () => {
  // Otherwise every later pseudo-gradient would carry the previous round's rounding error.
  const count = 1001;
  const rounds = 3;
  const seed = BASE_SEED + 23;
  const outerOptimizer = new OuterOptimizer({ kind: 'nesterov', lr: 0.7, momentum: 0.9 });
  // The fake workers send no broadcast; θ starts at the first (f32) round's mean, so that round's Δ is 0.
  outerOptimizer.setGlobal(meanRef(Array.from({ length: 2 }, (_, rank) => inputFor(seed, rank, -1, count))));
  const { result, error } = await run('delta', 2, { seed, count, rounds, dtype: 'f16' }, { commDtype: 'f16', outerOptimizer });
  if (error) throw error;
  assert.is(outerOptimizer.rounds, rounds + 1);
  for (const s of result!.summaries as AverageSummary[]) {
    assert.is(s.results[rounds], digest(outerOptimizer.theta!), `rank ${s.rank}'s weights after the last round are the outer optimizer's θ`);
  }
});

test('a compressed frame of the wrong size, in the wrong dtype, or before the anchor is a protocol error naming the rank', async () => {
  const wrongSize = { type: 'allreduce', tag: 'params', round: 0, count: 4, dtype: 'f16' };
  let { error } = await run('raw', 2, { badRank: 1, count: 4, header: wrongSize, payloadBytes: 16 }, { commDtype: 'f16' });
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /^rank 1: .*16-byte payload but has count 4 of f16, so count\*2 = 8 bytes/);

  ({ error } = await run('raw', 2, { badRank: 1, count: 4, header: wrongSize, payloadBytes: 8 }, { commDtype: 'f16' }));
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /^rank 1: rank 1 sent allreduce 'params' round 0 in f16, but no f32 'params' round has set the anchor yet/);

  ({ error } = await run('raw', 2, { badRank: 1, count: 4, header: wrongSize, payloadBytes: 8 }));
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /in f16, but this run's --comm-dtype is f32/);

  ({ error } = await run('delta', 2, { badRank: 1, count: 4, dtype: 'f16' }, { commDtype: 'f16' }));
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /rank 1 sent allreduce 'params' round 1 in bf16, but this run's --comm-dtype is f16/);
});

test('a worker that throws stops the run with its rank, exit code and the last lines of its stderr', async () => {
  const { error } = await run('throw', 3, { badRank: 1 });
  assert.instance(error, WorkerFailedError);
  const e = error as WorkerFailedError;
  assert.is(e.rank, 1);
  assert.is(e.exitCode, 3);
  assert.is(e.signal, null);
  assert.match(e.message, 'boom from rank 1');
  assert.match(e.stderrTail, 'stderr line 30');
  assert.not.match(e.stderrTail, 'stderr line 5\n', 'the tail keeps only the last ~20 lines');
});

test('a worker killed with SIGKILL mid-run stops the run with an error naming the signal', async () => {
  const { error } = await run('sigkill', 2, { badRank: 0 });
  assert.instance(error, WorkerFailedError);
  const e = error as WorkerFailedError;
  assert.is(e.rank, 0);
  assert.is(e.signal, 'SIGKILL');
  assert.match(e.message, 'SIGKILL');
});

test('a hung worker is named in a timeout error while the others wait', async () => {
  const started = Date.now();
  const { error } = await run('hang', 3, { badRank: 2 }, { timeoutMs: 800 });
  assert.instance(error, WorkerTimeoutError);
  assert.equal((error as WorkerTimeoutError).ranks, [2]);
  assert.match(error!.message, /rank 2 \(pid \d+\) sent nothing but heartbeats for over 0\.8 s while rank 0, 1 waited in /);
  assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
});

test('a worker stopped (SIGSTOP) while no collective is open is named with its pid and what it was doing, within the timeout', async () => {
  const started = Date.now();
  const { error, pids } = await run('stopped', 2, { badRank: 1 }, { timeoutMs: 1500 });
  assert.instance(error, WorkerTimeoutError);
  assert.equal((error as WorkerTimeoutError).ranks, [1]);
  assert.match(error!.message, `rank 1 (pid ${pids[1]}) sent nothing, not even a heartbeat, for over 1.5 s (last doing: evaluating after step 60; last heard rank 1: `);
  assert.match(error!.message, /it is stopped \(SIGSTOP, a debugger\) or its event loop is blocked/);
  assert.ok(Date.now() - started < 12_000, `took ${Date.now() - started} ms`);
});

test('heartbeats keep a worker that is busy outside any collective for several timeouts alive', async () => {
  const { result, error } = await run('idle', 2, { idleMs: 5000 }, { timeoutMs: 1500 });
  if (error) throw error;
  assert.is(result!.summaries.length, 2);
});

test("a worker's done is not lost when the coordinator is held up as the worker finishes", async () => {
  // A loaded machine, made on purpose: the coordinator's event loop is blocked (here in its own
  // log handler) while the workers send done and leave. Once free, its heartbeat timer runs before
  // it reads their sockets; a worker that had already exited made that write fail, which closed
  // the socket with done unread, and a finished run was reported as a lost worker.
  let blocked = false;
  const { result, error } = await run('average', 3, { rounds: 2, pauseBeforeDoneMs: 100 }, {
    timeoutMs: 1000, // heartbeats every 250 ms: one falls due while the loop is blocked
    onLog: (_rank, record) => {
      if (blocked || (record as { finishing?: boolean }).finishing !== true) return;
      blocked = true;
      const until = performance.now() + 800;
      while (performance.now() < until); // hold the event loop, as a busy machine does
    },
  });
  assert.ok(blocked, 'the coordinator was held up');
  if (error) throw error;
  assert.equal((result!.summaries as AverageSummary[]).map((s) => s.rank), [0, 1, 2], 'every rank finished with its summary');
});

for (const where of ['onLog', 'onRoundComplete'] as const) {
  test(`a failure in the coordinator's own ${where} handler is the coordinator's error, not blamed on the rank whose frame it handled`, async () => {
    const fail = () => {
      throw new Error('disk full while writing the checkpoint');
    };
    const { error } = await run('average', 2, { rounds: 2 }, where === 'onLog' ? { onLog: fail } : { onRoundComplete: fail });
    assert.instance(error, CoordinatorError);
    const handled = where === 'onLog' ? /rank \d's log record/ : /the result of allreduce 'params' round 0/;
    assert.match(error!.message, /^the coordinator failed while handling /);
    assert.match(error!.message, handled);
    assert.match(error!.message, /: disk full while writing the checkpoint$/);
  });
}

test('ranks in different collectives (tag mismatch) are an error naming both', async () => {
  const { error } = await run('tag', 2, { badRank: 1 });
  assert.instance(error, CollectiveMismatchError);
  assert.match(error!.message, /'grads'/);
  assert.match(error!.message, /'params'/);
  assert.equal([...(error as CollectiveMismatchError).ranks].sort(), [0, 1]);
});

test('ranks sending different counts are an error naming both ranks and counts', async () => {
  const { error } = await run('count', 2, { badRank: 1, count: 16 });
  assert.instance(error, CollectiveMismatchError);
  assert.match(error!.message, /rank 1 sent 17 floats but rank 0 sent 16|rank 0 sent 16 floats but rank 1 sent 17/);
});

test('a round sent out of order is an error naming the rank and both rounds', async () => {
  const header = { type: 'allreduce', tag: 'params', round: 5, count: 4 };
  const { error } = await run('raw', 2, { badRank: 1, count: 4, header, payloadBytes: 16 });
  assert.instance(error, CollectiveMismatchError);
  assert.match(error!.message, /rank 1 sent allreduce 'params' round 5, but its next 'params' round is 0/);
});

test('a payload that disagrees with its count is a protocol error naming the rank', async () => {
  const header = { type: 'allreduce', tag: 'params', round: 0, count: 4 };
  const { error } = await run('raw', 2, { badRank: 1, count: 4, header, payloadBytes: 12 });
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /^rank 1: .*12-byte payload.*count\*4 = 16/);
});

test('a malformed frame is a protocol error naming the rank, not silent corruption', async () => {
  const { error } = await run('raw', 2, { badRank: 1, garbage: true });
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /^rank 1: frame header length \d+ is outside/);
});

test('a header that fails the schema is a protocol error naming the rank and the field', async () => {
  const header = { type: 'allreduce', tag: 'weights', round: 0, count: 4 };
  const { error } = await run('raw', 2, { badRank: 1, header, payloadBytes: 16 });
  assert.instance(error, ProtocolError);
  assert.match(error!.message, /^rank 1: .*tag/);
});

test('every worker learns where it sits, as torchrun says it: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK', async () => {
  for (const [procs, ranks] of [[2, undefined], [4, [2, 3]]] as const) {
    const seen = new Map<number, Record<string, string>>();
    const { error } = await run('env', ranks?.length ?? procs, {}, {
      procs, ...(ranks ? { ranks } : {}),
      onLog: (rank, record) => {
        const env = (record as { env?: Record<string, string> }).env;
        if (env) seen.set(rank, env);
      },
    });
    if (error) throw error;
    const expected = ranks ?? [0, 1];
    assert.equal([...seen.keys()].sort(), [...expected]);
    for (const [i, rank] of expected.entries()) {
      assert.equal(seen.get(rank), {
        RANK: String(rank), LOCAL_RANK: String(i), WORLD_SIZE: String(procs), LOCAL_WORLD_SIZE: String(expected.length),
        GROUP_RANK: ranks ? '1' : '0',
      }, `rank ${rank} of ${procs}${ranks ? ', the second machine\'s' : ''}`);
    }
  }
});

test.run();
