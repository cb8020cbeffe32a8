import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareVocabCrossEntropy } from '../../src/kernels/vocab-cross-entropy.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { finiteDifferences } from '../helpers/lm-reference.js';
import { randomArray, randomLabels, rng } from '../helpers/random.js';
import { softmaxCrossEntropyRef } from '../helpers/reference.js';

const test = suite('vocab cross-entropy');

// [rows, vocab]: one of each; a vocabulary of 3 (fewer columns than invocations); 65 and 1000 (not
// multiples of the 64-wide workgroup); bytes (256) at the baby GPT's 12·64 positions.
const SHAPES: [number, number][] = [[1, 1], [1, 3], [7, 3], [5, 65], [64, 64], [33, 256], [12 * 64, 256], [3, 1000]];

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0);

async function runLoss(
  logits: Float32Array, targets: Uint32Array, rows: number, vocab: number, gradScale: number,
): Promise<{ dlogits: Float32Array; losses: Float32Array }> {
  const ctx = await testGpu();
  const dlogits = poisoned(ctx, 'dlogits', rows * vocab);
  const losses = poisoned(ctx, 'losses', rows);
  await run(ctx, await prepareVocabCrossEntropy(ctx, {
    logits: upload(ctx, 'logits', logits), targets: upload(ctx, 'targets', targets), dlogits, losses,
    rows, vocab, gradScale, accumulateLoss: false,
  }));
  return { dlogits: await download(ctx, dlogits, rows * vocab), losses: await download(ctx, losses, rows) };
}

test('per-row loss and dlogits match the float64 reference on awkward shapes', async () => {
  let seed = 0;
  for (const [rows, vocab] of SHAPES) {
    const random = rng(++seed * 613);
    const logits = randomArray(rows * vocab, random, 4);
    const targets = randomLabels(rows, vocab, random);
    const gradScale = 1 / (rows * 3);
    const out = await runLoss(logits, targets, rows, vocab, gradScale);
    const ref = softmaxCrossEntropyRef(logits, targets, rows, vocab, gradScale);
    const what = `rows=${rows} vocab=${vocab}`;
    assertClose(out.dlogits, ref.dlogits, `dlogits ${what}`);
    // Vocabulary of 1: the loss is exactly 0, compared absolutely.
    assertClose(out.losses, ref.loss, `loss ${what}`);
  }
});

test('the reference dlogits are the gradient of gradScale·Σ loss: finite differences, vocabularies 3 and 256', () => {
  for (const [rows, vocab] of [[4, 3], [2, 256]] as const) {
    const random = rng(vocab * 7 + 1);
    const logits = Float64Array.from(randomArray(rows * vocab, random, 3));
    const targets = randomLabels(rows, vocab, random);
    const gradScale = 1 / rows;
    const f = (x: Float64Array) => gradScale * sum(softmaxCrossEntropyRef(x, targets, rows, vocab, 1).loss);
    const ref = softmaxCrossEntropyRef(logits, targets, rows, vocab, gradScale).dlogits;
    assertClose(finiteDifferences(logits, f, 1e-5), ref, `dlogits by finite differences rows=${rows} vocab=${vocab}`, 1e-7);
  }
});

test('huge logits (±1e4) give finite, exact results: the row maximum is subtracted before exp', async () => {
  const [rows, vocab] = [9, 256];
  const random = rng(9002);
  const logits = randomArray(rows * vocab, random, 1e4);
  const targets = randomLabels(rows, vocab, random);
  for (let i = 0; i < rows; i += 3) logits[i * vocab + targets[i]!] = 2e4;
  const out = await runLoss(logits, targets, rows, vocab, 1 / rows);
  const ref = softmaxCrossEntropyRef(logits, targets, rows, vocab, 1 / rows);
  assertClose(out.dlogits, ref.dlogits, 'dlogits of huge logits');
  assertClose(out.losses, ref.loss, 'loss of huge logits');
});

test('equal logits: loss log(V) and each row\'s gradient sums to zero', async () => {
  const [rows, vocab] = [5, 256];
  const out = await runLoss(new Float32Array(rows * vocab).fill(-2), randomLabels(rows, vocab, rng(3)), rows, vocab, 1);
  for (let i = 0; i < rows; i++) {
    assert.ok(Math.abs(out.losses[i]! - Math.log(vocab)) < 1e-5, `row ${i} loss ${out.losses[i]}, expected log 256`);
    const rowSum = sum(out.dlogits.subarray(i * vocab, (i + 1) * vocab));
    assert.ok(Math.abs(rowSum) < 1e-6, `row ${i} gradient sums to ${rowSum}`);
  }
});

test('4 micro-batches with accumulated losses equal one batch 4× larger', async () => {
  const ctx = await testGpu();
  const [micro, vocab] = [24, 256];
  const rows = 4 * micro;
  const random = rng(31338);
  const logits = randomArray(rows * vocab, random, 3);
  const targets = randomLabels(rows, vocab, random);
  const whole = await runLoss(logits, targets, rows, vocab, 1 / rows);
  const losses = poisoned(ctx, 'losses', micro);
  const dlogits = poisoned(ctx, 'dlogits', micro * vocab);
  const stitched = new Float32Array(rows * vocab);
  for (let m = 0; m < 4; m++) {
    await run(ctx, await prepareVocabCrossEntropy(ctx, {
      logits: upload(ctx, 'logits part', logits.subarray(m * micro * vocab, (m + 1) * micro * vocab)),
      targets: upload(ctx, 'targets part', targets.subarray(m * micro, (m + 1) * micro)),
      dlogits, losses, rows: micro, vocab, gradScale: 1 / rows, accumulateLoss: m > 0,
    }));
    stitched.set(await download(ctx, dlogits, micro * vocab), m * micro * vocab);
  }
  const ref = softmaxCrossEntropyRef(logits, targets, rows, vocab, 1 / rows);
  const perSlot = new Float64Array(micro).map((_, i) => ref.loss[i]! + ref.loss[micro + i]! + ref.loss[2 * micro + i]! + ref.loss[3 * micro + i]!);
  const accumulated = await download(ctx, losses, micro);
  assertClose(accumulated, perSlot, 'accumulated per-row losses');
  assertClose([sum(accumulated)], [sum(whole.losses)], 'total loss, accumulated vs whole batch');
  assertClose(stitched, whole.dlogits, 'micro-batch dlogits vs whole batch');
});

test('deterministic: two runs give identical bits', async () => {
  const [rows, vocab] = [12 * 64, 256];
  const random = rng(17);
  const logits = randomArray(rows * vocab, random, 5);
  const targets = randomLabels(rows, vocab, random);
  const a = await runLoss(logits, targets, rows, vocab, 1 / rows);
  const b = await runLoss(logits, targets, rows, vocab, 1 / rows);
  assertBitwiseEqual(a.losses, b.losses, 'losses of two runs');
  assertBitwiseEqual(a.dlogits, b.dlogits, 'dlogits of two runs');
});

test('a target out of range reads nothing out of bounds and makes that row NaN', async () => {
  const [rows, vocab] = [3, 3];
  const logits = randomArray(rows * vocab, rng(12));
  const targets = new Uint32Array([1, 3, 0xffffffff]);
  const out = await runLoss(logits, targets, rows, vocab, 1);
  const ref = softmaxCrossEntropyRef(logits.subarray(0, vocab), targets.subarray(0, 1), 1, vocab, 1);
  assertClose([out.losses[0]!], ref.loss, 'the good row\'s loss');
  assertClose(out.dlogits.subarray(0, vocab), ref.dlogits, 'the good row\'s gradient');
  for (const i of [1, 2]) {
    assert.ok(Number.isNaN(out.losses[i]), `row ${i} (target ${targets[i]}) loss is ${out.losses[i]}, expected NaN`);
    assert.ok(out.dlogits.subarray(i * vocab, (i + 1) * vocab).every(Number.isNaN), `row ${i} dlogits are NaN`);
  }
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const args = { logits: small, targets: small, dlogits: small, losses: small, rows: 2, vocab: 3, gradScale: 0.5, accumulateLoss: false };
  try {
    await prepareVocabCrossEntropy(ctx, args);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /vocab_cross_entropy: logits .* holds 4 floats, needs 6 for rows=2 vocab=3/);
  }
  try {
    await prepareVocabCrossEntropy(ctx, { ...args, vocab: 2, gradScale: Infinity });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /vocab_cross_entropy: gradScale must be a finite number.*\(got Infinity\)/);
  }
});

test.after(() => closeTestGpu());
test.run();
