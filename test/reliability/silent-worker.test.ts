// Nothing waits forever: a worker stopped with SIGSTOP (it sends nothing, heartbeats included) in any
// phase of a real dist/train.js run is noticed within --worker-timeout plus a few seconds, named
// with its rank, pid and what it was doing, and handled as --on-worker-failure promises. Before
// heartbeats, one stopped outside a round (evaluating, saving) hung the run for ever.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import { TEST_SIGSTOP_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { isAlive, runTrain, type Finished } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('a silent worker is noticed wherever it is');
const dir = tempDir();
const TIMEOUT_S = 5;
const ARGS = [
  '--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5', '--hidden', '16',
  '--batch-size', '16', '--seed', '6', '--procs', '2', '--max-steps', '12', '--local-sgd-steps', '4', '--worker-timeout', String(TIMEOUT_S), '--quiet',
];

/** The undisturbed run: its weights by name (and the main rank's optimizer state), and how long it took. */
let undisturbed: { weights: Map<string, Float32Array>; seconds: number } | undefined;
async function baseline(): Promise<{ weights: Map<string, Float32Array>; seconds: number }> {
  if (!undisturbed) {
    const save = dir.file('undisturbed.safetensors');
    const started = Date.now();
    const r = await runTrain([...ARGS, '--save', save]);
    assert.is(r.code, 0, r.stderr);
    undisturbed = { weights: readWeights(save).byName, seconds: (Date.now() - started) / 1000 };
  }
  return undisturbed;
}

/** Runs with `rank` stopping itself once it says it is doing `activity`; checks the time bound and that the stopped process is gone. */
async function stopped(name: string, rank: number, activity: string, policy: string): Promise<Finished & { save: string; pid: number | undefined }> {
  const { seconds } = await baseline();
  const save = dir.file(`${name}.safetensors`);
  const started = Date.now();
  const r = await runTrain([...ARGS, '--save', save, '--on-worker-failure', policy], { [TEST_SIGSTOP_ENV]: `${rank}:${activity}` });
  const took = (Date.now() - started) / 1000;
  // The bound: the run's own time, the timeout, and a few seconds to notice, stop and clean up.
  assert.ok(took < seconds + TIMEOUT_S + 15, `took ${took.toFixed(1)} s (undisturbed ${seconds.toFixed(1)} s, --worker-timeout ${TIMEOUT_S})\n${r.stderr}`);
  const named = new RegExp(`rank ${rank}\\b.*\\(?pid (\\d+)\\)`).exec(r.stderr)?.[1];
  const pid = named === undefined ? undefined : Number(named);
  if (pid !== undefined) assert.not.ok(isAlive(pid), `the stopped worker ${pid} is still alive`);
  assert.equal(readdirSync(dir.path).filter((f) => f.startsWith(`${name}.safetensors`) && f !== `${name}.safetensors`), [], 'no temporary file left');
  return { ...r, save, pid };
}

/** The coordinator's copy (weights only) holds exactly the undisturbed run's final weights. */
async function assertFinalWeights(path: string): Promise<void> {
  const { weights } = await baseline();
  const saved = readWeights(path).byName;
  assert.ok(saved.size > 0);
  for (const [name, values] of saved) assertBitwiseEqual(values, weights.get(name)!, `${name}: the undisturbed run's final value`);
}

const silence = (rank: number, doing: string) =>
  new RegExp(`rank ${rank} \\(pid \\d+\\) sent nothing, not even a heartbeat, for over ${TIMEOUT_S}\\.0 s.*\\(last doing: ${doing}; last heard `);

test('abort, stopped during training: the run fails naming the rank, its pid and its step, and saves nothing', async () => {
  const r = await stopped('training', 1, 'training step 6', 'abort');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, silence(1, 'training step 6 of 12'));
  assert.match(r.stderr, /it is stopped \(SIGSTOP, a debugger\) or its event loop is blocked/);
  assert.ok(r.pid !== undefined, 'the message names the pid');
  assert.not.ok(existsSync(r.save), 'no averaged final weights existed, so nothing was saved');
});

test('abort, stopped inside an averaging round: the message says which round', async () => {
  const r = await stopped('round', 1, "in allreduce 'params' round 1", 'abort');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, silence(1, "in allreduce 'params' round 1, training step 8 of 12"));
});

test('abort, the main rank stopped during the final evaluation: the run fails, and the coordinator saves the final average', async () => {
  const r = await stopped('final-eval', 0, 'evaluating the final weights', 'abort');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, silence(0, 'evaluating the final weights \\(step 12\\)'));
  assert.match(r.stderr, /worker rank 0 was lost after the closing average of step 12, so every weight of the final model was known; the coordinator saved it to /);
  await assertFinalWeights(r.save);
});

test('abort, the main rank stopped during --save: the coordinator saves the final average, and no half-written file is left', async () => {
  const r = await stopped('saving', 0, 'saving', 'abort');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, silence(0, 'saving to .*saving\\.safetensors \\(step 12\\)'));
  await assertFinalWeights(r.save);
});

test('continue, stopped during training: the rank is killed and dropped, and the survivor finishes and saves', async () => {
  const r = await stopped('continue', 1, 'training step 6', 'continue');
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.pid !== undefined, 'the message names the pid');
  assert.match(r.stderr, /rank 1 .*hung \(pid \d+\): sent nothing, not even a heartbeat, for over 5\.0 s .*so it was killed/);
  assert.match(r.stderr, /continuing with 1 of 2 workers \(ranks 0\)/);
  assert.ok(existsSync(r.save), 'the survivor saved');
});

test('continue, the main rank stopped during the final evaluation: the survivor has finished; the coordinator saves the final average', async () => {
  const r = await stopped('continue-eval', 0, 'evaluating the final weights', 'continue');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /the worker that evaluates and saves was lost after the last averaging round: the final weights were not evaluated; the coordinator saved them to /);
  await assertFinalWeights(r.save);
});

test('respawn, stopped during training: a new process takes the rank over and the run finishes', async () => {
  const r = await stopped('respawn', 1, 'training step 6', 'respawn');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /respawning it from the parameters averaged at step 4/);
  assert.ok(existsSync(r.save));
});

test.after(() => dir.remove());
test.run();
