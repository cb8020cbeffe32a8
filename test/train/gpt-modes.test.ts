// `--model gpt` in the modes built on the MLP: 16-bit parameter exchange (--comm-dtype f16|bf16)
// and a worker lost mid-run (--on-worker-failure continue | respawn). The averaging rule itself, on
// both models, is test/accelerate/averaging-rule.test.ts; resume is gpt-resume.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { buildLayout, type TensorSpec } from '../../src/nn/layout.js';
import { SAVE_EVERY_RANK_ENV, TEST_SIGKILL_ENV, TRACE_WEIGHTS_ENV } from '../../src/train/debug-hooks.js';
import { readMetrics, recordsOf, summaryOf } from '../../src/train/metrics.js';
import type { RunSummary } from '../../src/train/summary.js';
import { isAlive } from '../comm/fixtures/procs.js';
import { withFlags } from '../helpers/args.js';
import { assertBitwiseEqual, relativeError } from '../helpers/assert.js';
import { childPids, runTrain, startTrain, waitFor, type Finished } from '../helpers/processes.js';
import { readWeights, tempDir, TINY_GPT, writeWordSalad } from '../helpers/train-run.js';

const test = suite('--model gpt: 16-bit exchange and lost workers');
const dir = tempDir();
const GPT = [...TINY_GPT, '--text', writeWordSalad(dir.file('words.txt')), '--seed', '3'];

/** Runs train.js to its end (SIGKILLed after `ms`), noting every worker pid seen; none may be left after. */
async function trainWatched(args: string[], env: Record<string, string> = {}, ms = 120_000): Promise<Finished & { pids: Set<number> }> {
  const { child, done } = startTrain(args, env);
  const pids = new Set<number>();
  // Every 200 ms: each poll starts a ps, and a worker lives for seconds.
  const poll = setInterval(() => childPids(child.pid!).forEach((pid) => pids.add(pid)), 200);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const r = await done;
  clearInterval(poll);
  clearTimeout(timer);
  assert.ok(r.signal !== 'SIGKILL', `train.js ran over ${ms / 1000} s and was killed:\n${r.stderr}`);
  await waitFor(() => [...pids].every((pid) => !isAlive(pid)), 10_000, `workers ${[...pids].filter(isAlive).join(', ')} to be gone`);
  return { ...r, pids };
}

/** A checkpoint's weights in file order, optimizer state left out. */
function weightsOf(path: string): Float32Array {
  const parts = [...readWeights(path).byName].filter(([n]) => !n.startsWith('optimizer.')).map(([, v]) => v);
  return Float32Array.from(parts.flatMap((p) => [...p]));
}

/** Every finishing rank saved the same final weights as the run's model, byte for byte; a dropped rank saved none. */
function assertSameWeights(save: string, finishing: number[], dropped: number[]): void {
  const model = weightsOf(save);
  for (const rank of finishing) assertBitwiseEqual(weightsOf(`${save}.rank${rank}`), model, `rank ${rank}'s final weights vs the saved model`);
  for (const rank of dropped) assert.not.ok(existsSync(`${save}.rank${rank}`), `dropped rank ${rank} saved weights`);
}

// ---- --comm-dtype, and respawn ----

const PROCS = 2;
const STEPS = 16;
const K = 4;
const ROUNDS = STEPS / K;
// Plain SGD inside: a respawned worker restarts its optimizer state, so only a stateless optimizer
// lets a respawned run end bit-identical to an undisturbed one (the f32 run below). And with AdamW
// at this lr the tiny task would amplify any perturbation, measuring the task, not the compression.
const TWO_WORKERS = withFlags([...GPT, '--procs', String(PROCS), '--max-steps', String(STEPS), '--local-sgd-steps', String(K)],
  ['--optimizer', 'sgd', '--momentum', '0', '--lr', '0.1', '--weight-decay', '0']);
// Frames also carry JSON whose numbers' lengths vary from run to run by a few dozen bytes in all.
const JSON_JITTER = 300;

interface Run { summary: RunSummary; weights: Float32Array; save: string }

async function exchange(name: string, args: string[]): Promise<Run> {
  const save = dir.file(`${name}.safetensors`);
  const metrics = dir.file(`${name}.jsonl`);
  const trace = dir.file(`${name}-weights`);
  const r = await runTrain([...TWO_WORKERS, '--save', save, '--metrics', metrics, ...args], { [SAVE_EVERY_RANK_ENV]: '1', [TRACE_WEIGHTS_ENV]: trace });
  assert.is(r.code, 0, `train.js ${args.join(' ')} failed:\n${r.stderr}`);
  // After every round (steps K, 2K, ...) every replica holds the same bytes; between rounds they differ.
  const held = Array.from({ length: PROCS }, (_, rank) => new Map(readFileSync(`${trace}.rank${rank}.jsonl`, 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { step: number; digest: string }).map((x) => [x.step, x.digest])));
  for (let step = 1; step <= STEPS; step++) {
    const agree = held[1]!.get(step) === held[0]!.get(step);
    assert.is(agree, step % K === 0, `${name}: after step ${step} the replicas ${step % K === 0 ? 'are bit-identical (a round)' : 'differ (a local step)'}`);
  }
  assertSameWeights(save, [0, 1], []);
  return { summary: summaryOf(readMetrics(metrics), metrics), weights: weightsOf(save), save };
}

let f32: Run | undefined;
const f32Run = async () => (f32 ??= await exchange('f32', []));

for (const dtype of ['f16', 'bf16'] as const) {
  test(`--comm-dtype ${dtype}: every replica bit-identical after each round, half the bytes of each round after the first, weights and validation loss close to f32's`, async () => {
    const full = await f32Run();
    const half = await exchange(dtype, ['--comm-dtype', dtype]);
    assert.is(half.summary.commDtype, dtype);
    assert.is(half.summary.parameterRounds, ROUNDS);
    // The rounds carry the whole flat buffer (tensors start at multiples of 64 floats).
    const floats = buildLayout(JSON.parse(readWeights(half.save).metadata.layers!) as TensorSpec[]).totalFloats;
    const saved = (ROUNDS - 1) * PROCS * 2 * floats * 2;
    const predicted = full.summary.bytesCommunicated - saved;
    const headerSlack = (ROUNDS - 1) * PROCS * 2 * 20;
    const bytes = half.summary.bytesCommunicated;
    assert.ok(bytes >= predicted - JSON_JITTER && bytes <= predicted + headerSlack + JSON_JITTER, `${dtype}: ${bytes} bytes communicated, predicted ${predicted} (f32: ${full.summary.bytesCommunicated})`);
    // 3 rounds of 16-bit rounding of each round's change (relative 2^-11 for f16, 2^-8 for bf16).
    // Measured: f16 2.3e-5, bf16 2.1e-4; the bounds leave a factor of about 20 for other seeds and drivers.
    const bound = dtype === 'f16' ? 5e-4 : 4e-3;
    const err = relativeError(half.weights, full.weights);
    assert.ok(err < bound, `${dtype}: ‖w − w_f32‖/‖w_f32‖ = ${err.toExponential(2)}, over ${bound}`);
    assert.ok(err > 0, `${dtype}: weights bit-identical to f32's: nothing was compressed`);
    const loss = [half.summary.testLoss, full.summary.testLoss];
    assert.ok(Math.abs(loss[0]! - loss[1]!) <= 0.01 * loss[1]!, `${dtype}: validation loss ${loss[0]} vs f32 ${loss[1]}`);
  });
}

// ---- --on-worker-failure ----


test('continue: a GPT worker SIGKILLed mid-run is dropped; the run finishes with the two survivors identical, and the validation loss falls', async () => {
  const save = dir.file('continue.safetensors');
  const metrics = dir.file('continue.jsonl');
  // 3 workers, K = 4; rank 1 kills itself before step 11 (after 10 steps), between the rounds at steps 8 and 12.
  const r = await trainWatched([...GPT, '--procs', '3', '--max-steps', '20', '--local-sgd-steps', '4', '--on-worker-failure', 'continue', '--save', save, '--metrics', metrics, '--eval-every', '4'],
    { [TEST_SIGKILL_ENV]: '1:10', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /worker rank 1 lost after step (8|10) \(was killed by SIGKILL\); continuing with 2 of 3 workers \(ranks 0, 2\)/);
  const records = readMetrics(metrics);
  const lost = recordsOf(records, 'worker-lost');
  assert.equal(lost.map((x) => [x.rank, x.action, x.averagedStep]), [[1, 'dropped', 8]]);
  const summary = summaryOf(records);
  assert.equal([summary.steps, summary.workersFinished, summary.workersLost], [20, 2, 1]);
  assertSameWeights(save, [0, 2], [1]);
  const evals = recordsOf(records, 'eval').map((x) => x.loss);
  assert.is(evals.length, 5, 'evaluated after every round (steps 4, 8, 12, 16, 20)');
  assert.ok(evals.at(-1)! < evals[0]! * 0.9, `the validation loss falls after the loss too: ${evals.map((l) => l.toFixed(3)).join(' → ')}`);
});

test('respawn: a GPT run whose worker is SIGKILLed mid-run and respawned ends bit-identical to an undisturbed run, so the new process read the lost rank\'s text windows from the right step', async () => {
  // The new process starts from the average at step 8 with fresh optimizer state; plain SGD has
  // none, so only its weights and its data position decide what it computes from there.
  const undisturbed = await f32Run();
  const save = dir.file('respawn.safetensors');
  const metrics = dir.file('respawn.jsonl');
  const r = await trainWatched([...TWO_WORKERS, '--on-worker-failure', 'respawn', '--save', save, '--metrics', metrics], { [TEST_SIGKILL_ENV]: '1:10', [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /worker rank 1 lost after step (8|10) \(was killed by SIGKILL\); respawning it from the parameters averaged at step 8/);
  assert.ok(r.pids.size >= 3, `a third worker process was started (saw ${r.pids.size})`);
  const summary = summaryOf(readMetrics(metrics));
  assert.equal([summary.steps, summary.workersFinished, summary.workersLost, summary.respawns], [STEPS, 2, 1, 1]);
  assertSameWeights(save, [0, 1], []);
  assertBitwiseEqual(weightsOf(save), undisturbed.weights, 'respawned run vs undisturbed run');
});

test.after(() => dir.remove());
test.run();
