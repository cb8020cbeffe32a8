import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WorkerFailedError, type LaunchOptions } from '../../src/comm/launch.js';
import { boundedLaunch, type BoundedLaunch } from '../helpers/launch.js';
import { BASE_SEED } from '../helpers/random.js';
import { inputFor } from './fixtures/inputs.js';

const test = suite('supervisor: lost workers (continue, respawn)');
const WORKER = fileURLToPath(new URL('./fixtures/worker.js', import.meta.url));

interface Summary {
  rank: number;
  results: string[];
  firstRound: number;
  liveRanks: number[];
  rejoin?: { restarts: number; rounds: { params: number; broadcast: number }; params?: string; step?: number };
}

const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

/** The float64 mean over `ranks` in rank order, rounded once: what the coordinator promises. */
function meanOver(ranks: number[], seed: number, round: number, count: number): Float32Array {
  const inputs = ranks.map((rank) => inputFor(seed, rank, round, count));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = inputs.reduce((s, x) => s + x[i]!, 0) / inputs.length;
  return out;
}

/** A bounded launch of fake workers; afterwards no process it started (respawned ones included) may be alive. */
function run(procs: number, options: object, extra: Partial<LaunchOptions>): Promise<BoundedLaunch> {
  return boundedLaunch({ procs, workerScript: WORKER, workerArgs: ['average', JSON.stringify(options)], ...extra }, 30_000);
}

const seed = BASE_SEED;
const count = 1001;

test('continue: a rank killed before a round is dropped; that round and the later ones are the mean of the survivors, bit for bit', async () => {
  const { result, error, lost, pids } = await run(4, { seed, count, rounds: 3, badRank: 2, dieAtRound: 1 }, { onWorkerFailure: 'continue' });
  if (error) throw error;
  assert.is(pids.length, 4, 'no process is started for the lost rank');
  assert.is(lost.length, 1);
  assert.is(lost[0]!.rank, 2);
  assert.is(lost[0]!.action, 'dropped');
  assert.equal(lost[0]!.liveRanks, [0, 1, 3]);
  assert.is(lost[0]!.completed.params, 1, 'lost after round 0');
  assert.match(lost[0]!.reason, /rank 2 was killed by SIGKILL/);
  assert.equal(result!.lost, lost);
  const summaries = result!.summaries as Array<Summary | undefined>;
  assert.is(summaries[2], undefined, 'the dropped rank has no summary');
  for (const rank of [0, 1, 3]) {
    const s = summaries[rank]!;
    assert.is(s.results[0], digest(meanOver([0, 1, 2, 3], seed, 0, count)), `rank ${rank}, round 0: all four (TEST_SEED=${BASE_SEED})`);
    for (const round of [1, 2]) {
      assert.is(s.results[round], digest(meanOver([0, 1, 3], seed, round, count)), `rank ${rank}, round ${round}: survivors only (TEST_SEED=${BASE_SEED})`);
    }
    assert.equal(s.liveRanks, [0, 1, 3], 'results name the survivors');
  }
  assert.is(result!.stats.rounds, 3);
});

test('continue: a hung rank is killed after the worker timeout and dropped, and the run finishes', async () => {
  const started = Date.now();
  const { result, error, lost } = await run(3, { seed, count, rounds: 2, badRank: 0, hangAtRound: 1 }, { onWorkerFailure: 'continue', timeoutMs: 1000 });
  if (error) throw error;
  assert.is(lost.length, 1);
  assert.is(lost[0]!.rank, 0);
  assert.match(lost[0]!.reason, /hung \(pid \d+\): sent nothing but heartbeats for over 1\.0 s while rank 1, 2 waited in .* so it was killed/);
  const summaries = result!.summaries as Array<Summary | undefined>;
  assert.is(summaries[0], undefined);
  for (const rank of [1, 2]) assert.is(summaries[rank]!.results[1], digest(meanOver([1, 2], seed, 1, count)));
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
});

test('continue: when the last worker is lost the run fails as with abort', async () => {
  const { error, lost } = await run(1, { seed, count, rounds: 2, badRank: 0, dieAtRound: 1 }, { onWorkerFailure: 'continue' });
  assert.instance(error, WorkerFailedError);
  assert.is((error as WorkerFailedError).signal, 'SIGKILL');
  assert.is(lost.length, 0, 'nothing to continue with');
});

test('respawn: a new process takes the rank with the last round\'s mean, its step and its round numbers, and every round averages all ranks', async () => {
  const { result, error, lost, pids } = await run(3, { seed, count, rounds: 4, badRank: 1, dieAtRound: 2, stepsPerRound: 8 }, { onWorkerFailure: 'respawn' });
  if (error) throw error;
  assert.is(pids.length, 4, 'one process started for the lost rank');
  assert.is(lost.length, 1);
  assert.equal({ rank: lost[0]!.rank, action: lost[0]!.action, restarts: lost[0]!.restarts, liveRanks: lost[0]!.liveRanks }, { rank: 1, action: 'respawned', restarts: 1, liveRanks: [0, 1, 2] });
  const summaries = result!.summaries as Summary[];
  const respawned = summaries[1]!;
  assert.ok(respawned.rejoin, 'rank 1 summary comes from the new process');
  assert.is(respawned.rejoin!.restarts, 1);
  assert.is(respawned.rejoin!.rounds.params, 2);
  assert.is(respawned.rejoin!.rounds.broadcast, 1);
  assert.is(respawned.rejoin!.params, digest(meanOver([0, 1, 2], seed, 1, count)), 'it starts from the mean of round 1, the last completed');
  assert.is(respawned.rejoin!.step, 16, 'at the step round 1 averaged after, as its headers said');
  assert.is(respawned.firstRound, 2);
  for (const s of summaries) {
    for (let round = s.firstRound; round < 4; round++) {
      assert.is(s.results[round - s.firstRound], digest(meanOver([0, 1, 2], seed, round, count)), `rank ${s.rank}, round ${round} (TEST_SEED=${BASE_SEED})`);
    }
  }
  assert.is(result!.stats.rounds, 4);
});

test('respawn: the worker timeout counts from the new process, so a slow start-up while the others wait is not a hang', async () => {
  // The others wait 2 s for the silent rank, then ~2 s more for its replacement: over the 3 s
  // timeout in all, but neither process was silent that long.
  const started = Date.now();
  const { result, error, lost } = await run(2, { seed, count, rounds: 3, badRank: 1, dieAtRound: 1, silentBeforeDieMs: 2000, rejoinDelayMs: 2000 }, { onWorkerFailure: 'respawn', timeoutMs: 3000 });
  if (error) throw error;
  assert.ok(Date.now() - started > 4000, `the round waited through both silences (took ${Date.now() - started} ms)`);
  assert.is(lost.length, 1, 'lost once, by its SIGKILL, not again by a timeout');
  assert.match(lost[0]!.reason, /SIGKILL/);
  for (const s of result!.summaries as Summary[]) assert.is(s.results.at(-1), digest(meanOver([0, 1], seed, 2, count)));
});

test('respawn: a rank that fails in every new process stops the run once its respawns are spent, saying so', async () => {
  const { error, lost, pids } = await run(2, { seed, count, rounds: 3, badRank: 1, dieAtRound: 1, always: true }, { onWorkerFailure: 'respawn', maxRespawns: 2 });
  assert.instance(error, WorkerFailedError);
  assert.is((error as WorkerFailedError).rank, 1);
  assert.match(error!.message, /was already respawned 2 time\(s\), the limit/);
  assert.is(lost.length, 2);
  assert.is(pids.length, 4, 'two processes at launch, two respawns');
});


test('continue: a worker stopped (SIGSTOP) outside any collective is killed after the worker timeout and dropped, and the others finish', async () => {
  const started = Date.now();
  const { result, error, lost } = await boundedLaunch({
    procs: 3, workerScript: WORKER, workerArgs: ['stopped', JSON.stringify({ badRank: 2 })], onWorkerFailure: 'continue', timeoutMs: 1500,
  }, 30_000);
  if (error) throw error;
  assert.is(lost.length, 1);
  assert.is(lost[0]!.rank, 2);
  assert.match(lost[0]!.reason, /hung \(pid \d+\): sent nothing, not even a heartbeat, for over 1\.5 s \(last doing: evaluating after step 60; .*\); it is stopped .* so it was killed/);
  assert.equal(result!.summaries.map((s) => s !== undefined), [true, true, false]);
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
});

test.run();
