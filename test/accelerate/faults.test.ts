import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { childPids, isAlive, startTrain, waitFor, type Finished } from '../helpers/processes.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';
import { isAlive as isRunning } from '../comm/fixtures/procs.js';
import { SAVE_EVERY_RANK_ENV, TEST_SIGKILL_ENV } from '../../src/train/debug-hooks.js';
import { readMetrics, recordsOf, summaryOf } from '../../src/train/metrics.js';

const test = suite('worker faults and interrupts');
const dir = tempDir();
// Long enough to be interrupted mid-run.
const LONG_RUN = [...SMALL_TASK, '--procs', '3', '--max-steps', '100000', '--local-sgd-steps', '4'];

test('a worker killed mid-run stops the run with its rank and signal named, a non-zero exit and no survivors', async () => {
  const { child, done } = startTrain([...LONG_RUN, '--log-every', '5', '--metrics', dir.file('crash.jsonl')]);
  await waitFor(() => existsSync(dir.file('crash.jsonl')) && childPids(child.pid!).length === 3, 60_000, 'three workers');
  await new Promise((r) => setTimeout(r, 1500)); // let them train a little
  const workers = childPids(child.pid!);
  process.kill(workers[1]!, 'SIGKILL');
  const r = await done;
  assert.not.equal(r.code, 0, 'the coordinator exits non-zero');
  assert.match(r.stderr, /rank \d/, `names the rank:\n${r.stderr}`);
  assert.match(r.stderr, /SIGKILL/, 'names the signal');
  await waitFor(() => workers.every((pid) => !isAlive(pid)), 10_000, 'all workers to be gone');
});

test('Ctrl-C stops every worker, saves the last averaged weights first, and exits 130', async () => {
  const save = dir.file('interrupted.safetensors');
  const metrics = dir.file('interrupted.jsonl');
  const { child, done } = startTrain([...LONG_RUN, '--save', save, '--metrics', metrics, '--log-every', '4']);
  await waitFor(() => childPids(child.pid!).length === 3, 60_000, 'three workers');
  const workers = childPids(child.pid!);
  // A worker that logged step 8 has finished the averaging round after step 4 (K = 4). Waiting for
  // that, not for a fixed time, keeps the test true on a machine still compiling its shaders.
  const loggedStep8 = () => existsSync(metrics) && /"step":(8|9|\d{2,})\b/.test(readFileSync(metrics, 'utf8'));
  await waitFor(loggedStep8, 120_000, 'a worker to log step 8');
  child.kill('SIGINT');
  const r = await done;
  assert.is(r.code, 130, `exit code 130 after SIGINT:\n${r.stderr}`);
  assert.ok(existsSync(save), `the last averaged weights are saved:\n${r.stderr}`);
  await waitFor(() => workers.every((pid) => !isAlive(pid)), 10_000, 'all workers to be gone');
});

// ---- --on-worker-failure continue | respawn ----

/** Runs train.js to its end (SIGKILLed after `ms`), noting every worker pid seen along the way; then none may be left. */
async function trainWatched(args: string[], env: Record<string, string> = {}, ms = 240_000): Promise<Finished> {
  const { child, done } = startTrain(args, env);
  const pids = new Set<number>();
  const poll = setInterval(() => childPids(child.pid!).forEach((pid) => pids.add(pid)), 50);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const r = await done;
  clearInterval(poll);
  clearTimeout(timer);
  assert.ok(r.signal !== 'SIGKILL', `train.js ran over ${ms / 1000} s and was killed:\n${r.stderr}`);
  await waitFor(() => [...pids].every((pid) => !isRunning(pid)), 10_000, `workers ${[...pids].filter(isRunning).join(', ')} to be gone`);
  return r;
}

/** Every finishing rank saved the same final weights, byte for byte; a dropped rank saved none. */
function assertSameWeights(save: string, finishing: number[], dropped: number[]): void {
  const reference = readFileSync(`${save}.rank${finishing[0]}`);
  for (const rank of finishing) assert.ok(readFileSync(`${save}.rank${rank}`).equals(reference), `rank ${rank}'s final weights differ from rank ${finishing[0]}'s`);
  for (const rank of dropped) assert.not.ok(existsSync(`${save}.rank${rank}`), `dropped rank ${rank} saved weights`);
}

// MNIST, one epoch (62 steps with the package's 8,000 training images), 4 workers, K = 8; rank 1
// dies after 20 steps, between the averaging rounds at steps 16 and 24.
const MNIST_RUN = ['--procs', '4', '--epochs', '1', '--local-sgd-steps', '8', '--log-every', '5', '--quiet'];
let undisturbed: Promise<number> | undefined;
const undisturbedAccuracy = () => (undisturbed ??= trainWatched([...MNIST_RUN, '--metrics', dir.file('undisturbed.jsonl')]).then((r) => {
  assert.is(r.code, 0, r.stderr);
  return summaryOf(readMetrics(dir.file('undisturbed.jsonl'))).testAccuracy;
}));

for (const mode of ['continue', 'respawn'] as const) {
  const finishing = mode === 'continue' ? [0, 2, 3] : [0, 1, 2, 3];
  test(`${mode}: MNIST with rank 1 SIGKILLed at step 20 exits 0, ${finishing.length} ranks end with identical weights, and test accuracy is within 1 point of an undisturbed run`, async () => {
    const save = dir.file(`mnist-${mode}.safetensors`);
    const metrics = dir.file(`mnist-${mode}.jsonl`);
    const r = await trainWatched([...MNIST_RUN, '--on-worker-failure', mode, '--metrics', metrics, '--save', save], { [TEST_SIGKILL_ENV]: '1:20', [SAVE_EVERY_RANK_ENV]: '1' });
    assert.is(r.code, 0, r.stderr);
    const next = mode === 'continue' ? 'continuing with 3 of 4 workers \\(ranks 0, 2, 3\\)' : 'respawning it from the parameters averaged at step 16';
    assert.match(r.stderr, new RegExp(`worker rank 1 lost after step (16|20) \\(was killed by SIGKILL\\); ${next}`));
    const records = readMetrics(metrics);
    const lost = recordsOf(records, 'worker-lost');
    assert.is(lost.length, 1, `one worker-lost record:\n${JSON.stringify(lost)}`);
    assert.is(lost[0]!.rank, 1);
    assert.is(lost[0]!.action, mode === 'continue' ? 'dropped' : 'respawned');
    assert.is(lost[0]!.averagedStep, 16);
    const last = records.at(-1)!;
    assert.is(last.kind, 'summary');
    const summary = summaryOf(records);
    assert.equal([summary.workersFinished, summary.workersLost, summary.respawns], [finishing.length, 1, mode === 'respawn' ? 1 : 0]);
    assert.is(summary.steps, 62);
    assertSameWeights(save, finishing, mode === 'continue' ? [1] : []);
    const reference = await undisturbedAccuracy();
    const accuracy = summary.testAccuracy;
    assert.ok(Math.abs(accuracy - reference) <= 0.01, `test accuracy ${(accuracy * 100).toFixed(2)}% vs ${(reference * 100).toFixed(2)}% undisturbed`);
  });

  test(`${mode}: a worker SIGKILLed from outside mid-run does not stop the run, and no process is left`, async () => {
    const save = dir.file(`outside-${mode}.safetensors`);
    const metrics = dir.file(`outside-${mode}.jsonl`);
    const args = [...SMALL_TASK, '--procs', '3', '--max-steps', '800', '--local-sgd-steps', '4', '--log-every', '5', '--metrics', metrics, '--save', save, '--on-worker-failure', mode];
    const { child, done } = startTrain(args, { [SAVE_EVERY_RANK_ENV]: '1' });
    const seen = new Set<number>();
    const poll = setInterval(() => childPids(child.pid!).forEach((pid) => seen.add(pid)), 50);
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    const killed = waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 15 && childPids(child.pid!).length === 3, 120_000, 'three workers training')
      .then(() => process.kill(childPids(child.pid!)[1]!, 'SIGKILL'))
      .catch((error: unknown) => {
        child.kill('SIGKILL');
        throw error;
      });
    const r = await done;
    clearInterval(poll);
    clearTimeout(timer);
    await killed;
    assert.is(r.code, 0, r.stderr);
    const lostRank = Number(/worker rank (\d) lost after step \d+ \(was killed by SIGKILL\)/.exec(r.stderr)?.[1]);
    assert.ok(lostRank >= 0, `the loss is logged:\n${r.stderr}`);
    const summary = summaryOf(readMetrics(metrics));
    assert.is(summary.steps, 800);
    const finishing = mode === 'continue' ? [0, 1, 2].filter((rank) => rank !== lostRank) : [0, 1, 2];
    assert.is(summary.workersFinished, finishing.length);
    assertSameWeights(save, finishing, mode === 'continue' ? [lostRank] : []);
    if (mode === 'respawn') assert.ok(seen.size >= 4, `a fourth worker process was started (saw ${seen.size})`);
    await waitFor(() => [...seen].every((pid) => !isRunning(pid)), 10_000, 'all workers to be gone');
  });
}

test('respawn: a worker that dies at the same step in every new process stops the run after --max-respawns, saying so', async () => {
  const r = await trainWatched([...SMALL_TASK, '--procs', '2', '--max-steps', '40', '--local-sgd-steps', '8', '--on-worker-failure', 'respawn', '--max-respawns', '2'], { [TEST_SIGKILL_ENV]: '1:20:always' });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr.match(/worker rank 1 lost after step 16 \(was killed by SIGKILL\); respawning/g)?.length, 2, r.stderr);
  assert.match(r.stderr, /error: worker rank 1 was killed by SIGKILL/);
  assert.match(r.stderr, /rank 1 was already respawned 2 time\(s\), the limit .*fails deterministically/);
});

test('respawn is refused without Local SGD, with exit code 2', async () => {
  const r = await trainWatched([...SMALL_TASK, '--procs', '2', '--no-local-sgd', '--on-worker-failure', 'respawn']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--on-worker-failure respawn needs Local SGD/);
});

test('respawn is refused with a post-local SGD warmup, with exit code 2', async () => {
  const r = await trainWatched([...SMALL_TASK, '--procs', '2', '--local-sgd-warmup-steps', '4', '--on-worker-failure', 'respawn']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--on-worker-failure respawn needs Local SGD from the first step/);
});

test('continue in synchronous mode: the gradient rounds after the loss average the survivors, who end equal', async () => {
  const save = dir.file('sync.safetensors');
  const r = await trainWatched([...SMALL_TASK, '--procs', '3', '--no-local-sgd', '--max-steps', '40', '--log-every', '1', '--on-worker-failure', 'continue', '--save', save],
    { [TEST_SIGKILL_ENV]: '2:13', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /worker rank 2 lost after step 13 \(was killed by SIGKILL\); continuing with 2 of 3 workers/);
  assertSameWeights(save, [0, 1], [2]);
});

test('continue: rank 0 lost after the closing round (before it evaluates) still leaves the final averaged weights, saved by the coordinator', async () => {
  const save = dir.file('lost-main.safetensors');
  const r = await trainWatched([...SMALL_TASK, '--procs', '3', '--max-steps', '12', '--local-sgd-steps', '4', '--on-worker-failure', 'continue', '--save', save],
    { [TEST_SIGKILL_ENV]: '0:12', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /lost after the last averaging round: the final weights were not evaluated; the coordinator saved them to /);
  assert.match(r.stdout, /test accuracy not measured/);
  // What the coordinator saved is what the survivors hold.
  const saved = readWeights(save).byName;
  for (const rank of [1, 2]) {
    const held = readWeights(`${save}.rank${rank}`).byName;
    for (const [name, values] of saved) assertBitwiseEqual(values, held.get(name)!, `rank ${rank}: ${name}`);
  }
});

test('continue: rank 0 lost in the post-local SGD warmup; the lowest survivor announces the weights Local SGD starts from', async () => {
  // At the switch the main process broadcasts its weights to the outer optimizer; with rank 0 gone
  // that is rank 1. (Before, every survivor sent nothing and the coordinator crashed.)
  const save = dir.file('warmup-lost-0.safetensors');
  const r = await trainWatched([...SMALL_TASK, '--procs', '3', '--max-steps', '40', '--local-sgd-steps', '4', '--local-sgd-warmup-steps', '10',
    '--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9', '--on-worker-failure', 'continue', '--save', save],
  { [TEST_SIGKILL_ENV]: '0:5', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /worker rank 0 lost after step 5 .*continuing with 2 of 3 workers/);
  assertSameWeights(save, [1, 2], [0]);
  assert.ok(existsSync(save), 'the lowest survivor saved the final weights');
});

test('respawn after --resume of a whole-run checkpoint that --checkpoint-every has since overwritten starts at the right step', async () => {
  // The new process must not rebuild its step from the --resume file: it holds a later round by then.
  const ck = dir.file('respawn-resume.safetensors');
  const args = [...SMALL_TASK, '--procs', '3', '--max-steps', '40', '--local-sgd-steps', '4', '--checkpoint-every', '2', '--save', ck];
  const first = await trainWatched(args, { [TEST_SIGKILL_ENV]: '1:18' });
  assert.not.ok(first.code === 0, 'the first run is stopped by its lost worker');
  assert.is(readWeights(ck).metadata.step, '16');
  const r = await trainWatched([...args, '--resume', ck, '--on-worker-failure', 'respawn'], { [TEST_SIGKILL_ENV]: '2:30', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /respawning it from the parameters averaged at step 28/);
  assertSameWeights(ck, [0, 1, 2], []);
});

test('continue in synchronous mode: rank 0 lost after the last step leaves no weights to save, and the run says so and exits 1', async () => {
  const save = dir.file('sync-lost-main.safetensors');
  const r = await trainWatched([...SMALL_TASK, '--procs', '3', '--no-local-sgd', '--max-steps', '12', '--on-worker-failure', 'continue', '--save', save],
    { [TEST_SIGKILL_ENV]: '0:12' });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /--save .* was NOT written: in synchronous mode only workers hold the weights/);
  assert.not.ok(existsSync(save));
});

test('respawn with --comm-dtype f16: the new process takes the last average as its anchor and sends 16-bit deltas like the others', async () => {
  // Without the anchor it would send the f32 round that starts a run, and the coordinator would stop
  // the run on the dtype mismatch.
  const save = dir.file('respawn-f16.safetensors');
  const r = await trainWatched([...SMALL_TASK, '--procs', '3', '--max-steps', '40', '--local-sgd-steps', '4', '--comm-dtype', 'f16',
    '--on-worker-failure', 'respawn', '--save', save], { [TEST_SIGKILL_ENV]: '1:10', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /worker rank 1 lost after step 8 \(was killed by SIGKILL\); respawning it from the parameters averaged at step 8/);
  assertSameWeights(save, [0, 1, 2], []);
});

test.after(() => dir.remove());
test.run();
