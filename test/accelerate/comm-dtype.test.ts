import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTrainArgs } from '../../src/cli/config.js';
import { run } from '../../src/cli/run.js';
import { trainConfigSchema } from '../../src/train/config.js';
import { readMetrics, summaryOf } from '../../src/train/metrics.js';
import type { RunSummary } from '../../src/train/summary.js';
import { SAVE_EVERY_RANK_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual, relativeError } from '../helpers/assert.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('--comm-dtype: compressed parameter averaging');
const dir = tempDir();
// 20·64 + 64 + 64·5 + 5 = 1669 parameters in 1728 floats (tensors start at multiples of 64
// floats, and every float of the buffer travels), so a frame's ~100-byte header is small beside
// its payload.
const TASK = [
  '--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
  '--hidden', '64', '--batch-size', '16', '--lr', '0.1', '--seed', '5', '--quiet',
  // Plain SGD: with momentum 0.9 at lr 0.1 this tiny task is chaotic enough that any perturbation
  // grows (measured: bf16's distance from f32 goes 3e-4, 1e-3, 1e-2 after 8, 16, 48 steps), which
  // would measure the task, not the compression. Accuracy under the defaults is measured on MNIST.
  '--momentum', '0',
];
const PROCS = 2;
const STEPS = 48;
const K = 4;
const ROUNDS = STEPS / K;
const FLOATS = 1728;
// Frames also carry JSON (timings in result headers, log records, the done summaries) whose
// numbers' lengths vary from run to run by a few dozen bytes in all.
const JSON_JITTER = 300;

interface Run { summary: RunSummary; weights: Float32Array; ranks: Float32Array[] }

async function train(name: string, args: string[]): Promise<Run> {
  const save = dir.file(`${name}.safetensors`);
  const metrics = dir.file(`${name}.jsonl`);
  const r = await runTrain([...TASK, '--procs', String(PROCS), '--max-steps', String(STEPS), '--local-sgd-steps', String(K), '--save', save, '--metrics', metrics, ...args], { [SAVE_EVERY_RANK_ENV]: '1' });
  assert.is(r.code, 0, `train.js ${args.join(' ')} failed:\n${r.stderr}`);
  const summary = summaryOf(readMetrics(metrics), metrics);
  return { summary, weights: weightsOf(save), ranks: Array.from({ length: PROCS }, (_, rank) => weightsOf(`${save}.rank${rank}`)) };
}

/** A checkpoint's weights (optimizer state left out), flattened in file order. */
function weightsOf(path: string): Float32Array {
  const { byName } = readWeights(path);
  const parts = [...byName].filter(([n]) => !n.startsWith('optimizer.')).map(([, v]) => v);
  return Float32Array.from(parts.flatMap((p) => [...p]));
}

let f32: Run;

test('--comm-dtype f32 gives the weights and bytes of a run without the flag, exactly', async () => {
  const plain = await train('plain', []);
  f32 = await train('f32', ['--comm-dtype', 'f32']);
  assertBitwiseEqual(f32.weights, plain.weights, 'weights with --comm-dtype f32 vs without the flag');
  const diff = f32.summary.bytesCommunicated - plain.summary.bytesCommunicated;
  assert.ok(Math.abs(diff) <= JSON_JITTER, `bytes communicated: ${f32.summary.bytesCommunicated} with the flag, ${plain.summary.bytesCommunicated} without`);
  assert.is(f32.summary.parameterRounds, ROUNDS);
  assert.is(f32.summary.commDtype, 'f32');
});

for (const dtype of ['f16', 'bf16'] as const) {
  test(`--comm-dtype ${dtype}: identical weights on every worker, half the bytes of each round after the first, weights close to f32's`, async () => {
    const half = await train(dtype, ['--comm-dtype', dtype]);
    for (const [rank, w] of half.ranks.entries()) assertBitwiseEqual(w, half.weights, `${dtype}: rank ${rank}'s final weights vs the saved averaged model`);
    assert.is(half.summary.parameterRounds, ROUNDS);
    assert.is(half.summary.commDtype, dtype);

    // Every round but the first sends 2 bytes per float instead of 4, each way, on each link; the
    // headers grow by the dtype field (under 20 bytes per frame).
    const saved = (ROUNDS - 1) * PROCS * 2 * FLOATS * 2;
    const predicted = f32.summary.bytesCommunicated - saved;
    const headerSlack = (ROUNDS - 1) * PROCS * 2 * 20;
    const bytes = half.summary.bytesCommunicated;
    assert.ok(bytes >= predicted - JSON_JITTER && bytes <= predicted + headerSlack + JSON_JITTER, `${dtype}: ${bytes} bytes communicated, predicted ${predicted} (f32: ${f32.summary.bytesCommunicated})`);
    // In all: the first round, the initial broadcast and the JSON stay as they were (measured 0.57).
    assert.ok(bytes / f32.summary.bytesCommunicated < 0.6, `${dtype}: ${bytes} bytes is ${(bytes / f32.summary.bytesCommunicated).toFixed(3)} of f32's`);
    // The bound: 11 rounds of 16-bit rounding of each round's change (relative 2^-11 for f16, 2^-8
    // for bf16, once per worker and once for the update). Measured: f16 6e-5, bf16 2e-4; the
    // bounds leave a factor of 15-20 for other seeds and drivers.
    const bound = dtype === 'f16' ? 1e-3 : 4e-3;
    const err = relativeError(half.weights, f32.weights);
    assert.ok(err < bound, `${dtype}: ‖w − w_f32‖/‖w_f32‖ = ${err.toExponential(2)}, over ${bound}`);
    assert.ok(err > 0, `${dtype}: weights bit-identical to f32's: nothing was compressed`);
    assert.ok(Math.abs(half.summary.testAccuracy - f32.summary.testAccuracy) <= 0.02, `${dtype}: test accuracy ${half.summary.testAccuracy} vs f32 ${f32.summary.testAccuracy}`);
  });
}

test('train.js refuses --comm-dtype with --no-local-sgd: gradient rounds always travel f32, so the flag would do nothing', async () => {
  const r = await runTrain([...TASK, '--procs', String(PROCS), '--no-local-sgd', '--max-steps', '6', '--comm-dtype', 'f16']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--comm-dtype does not apply to this run: .*--no-local-sgd averages gradients every step/);
});

test('a library caller that asks for f16 in synchronous mode still gets f32 gradient rounds: same weights and bytes', async () => {
  // The CLI refuses this combination; run() takes any config the schema accepts, so the worker
  // side must still never compress a gradient round.
  const sync = parseTrainArgs([...TASK, '--procs', String(PROCS), '--no-local-sgd', '--max-steps', '6']);
  const viaLibrary = async (name: string, commDtype: 'f32' | 'f16') => {
    const save = dir.file(`${name}.safetensors`);
    const summary = await run(trainConfigSchema.parse({ ...sync, commDtype, save }));
    return { summary, weights: weightsOf(save) };
  };
  const a = await viaLibrary('sync-f32', 'f32');
  const b = await viaLibrary('sync-f16', 'f16');
  assertBitwiseEqual(b.weights, a.weights, 'synchronous weights, f16 vs f32');
  const diff = b.summary.bytesCommunicated - a.summary.bytesCommunicated;
  assert.ok(Math.abs(diff) <= JSON_JITTER, `synchronous bytes: ${b.summary.bytesCommunicated} with f16, ${a.summary.bytesCommunicated} with f32`);
  assert.is(b.summary.gradientRounds, 6);
});

test.after(() => dir.remove());
test.run();
