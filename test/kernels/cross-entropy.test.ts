import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareSoftmaxCrossEntropy } from '../../src/kernels/cross-entropy.js';
import { assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, randomLabels, rng } from '../helpers/random.js';
import { softmaxCrossEntropyRef } from '../helpers/reference.js';

const test = suite('softmax cross-entropy');

// [rows, classes]: one row and one class, not workgroup multiples, MNIST batches, many classes.
const SHAPES: [number, number][] = [[1, 1], [1, 7], [7, 2], [33, 10], [65, 33], [64, 10], [256, 10], [1000, 3], [9, 1000]];

function evens(stats: Float32Array): Float32Array { return stats.filter((_, i) => i % 2 === 0); }
function odds(stats: Float32Array): Float32Array { return stats.filter((_, i) => i % 2 === 1); }
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0);

async function runCrossEntropy(
  logits: Float32Array, labels: Uint32Array, rows: number, classes: number, gradScale: number,
): Promise<{ dlogits: Float32Array; stats: Float32Array }> {
  const ctx = await testGpu();
  const dlogits = poisoned(ctx, 'dlogits', rows * classes);
  const stats = poisoned(ctx, 'stats', 2 * rows);
  await run(ctx, await prepareSoftmaxCrossEntropy(ctx, {
    logits: upload(ctx, 'logits', logits), labels: upload(ctx, 'labels', labels), dlogits, stats,
    rows, classes, gradScale, accumulateStats: false,
  }));
  return { dlogits: await download(ctx, dlogits, rows * classes), stats: await download(ctx, stats, 2 * rows) };
}

test('dlogits, per-row loss and correctness match the float64 reference on awkward shapes', async () => {
  let seed = 0;
  for (const [rows, classes] of SHAPES) {
    const random = rng(++seed * 557);
    const logits = randomArray(rows * classes, random, 4);
    const labels = randomLabels(rows, classes, random);
    const gradScale = 1 / (rows * 3);
    const out = await runCrossEntropy(logits, labels, rows, classes, gradScale);
    const ref = softmaxCrossEntropyRef(logits, labels, rows, classes, gradScale);
    const what = `rows=${rows} classes=${classes}`;
    assertClose(out.dlogits, ref.dlogits, `dlogits ${what}`);
    // One class: the loss is exactly 0, so compare absolutely (relativeError falls back to ‖out‖).
    assertClose(evens(out.stats), ref.loss, `loss ${what}`);
    assert.equal(Array.from(odds(out.stats)), Array.from(ref.correct), `correct ${what}`);
  }
});

test('huge logits (±1e4) give finite, exact results: the maximum is subtracted before exp', async () => {
  const [rows, classes] = [33, 10];
  const random = rng(9001);
  const logits = randomArray(rows * classes, random, 1e4);
  const labels = randomLabels(rows, classes, random);
  // Make some rows confident and right, so the loss spans 0 to ~2e4.
  for (let i = 0; i < rows; i += 3) logits[i * classes + labels[i]!] = 2e4;
  const out = await runCrossEntropy(logits, labels, rows, classes, 1 / rows);
  const ref = softmaxCrossEntropyRef(logits, labels, rows, classes, 1 / rows);
  assertClose(out.dlogits, ref.dlogits, 'dlogits of huge logits');
  assertClose(evens(out.stats), ref.loss, 'loss of huge logits');
  assert.equal(Array.from(odds(out.stats)), Array.from(ref.correct), 'correct of huge logits');
});

test('equal logits: loss log(classes), gradients summing to zero, and argmax ties go to the first class', async () => {
  const [rows, classes] = [7, 10];
  const labels = randomLabels(rows, classes, rng(5));
  labels[0] = 0; // at least one row whose label wins the tie, as torch.argmax breaks it
  const out = await runCrossEntropy(new Float32Array(rows * classes).fill(3), labels, rows, classes, 1);
  for (let i = 0; i < rows; i++) {
    assert.is(out.stats[2 * i + 1], labels[i] === 0 ? 1 : 0, `row ${i} (label ${labels[i]}) correctness`);
    const rowSum = sum(out.dlogits.subarray(i * classes, (i + 1) * classes));
    assert.ok(Math.abs(rowSum) < 1e-6, `row ${i} gradient sums to ${rowSum}`);
    assert.ok(Math.abs(out.stats[2 * i]! - Math.log(classes)) < 1e-6, `row ${i} loss ${out.stats[2 * i]}`);
  }
});

test('4 micro-batches with accumulated stats equal one batch 4× larger', async () => {
  const ctx = await testGpu();
  const [micro, classes] = [16, 10];
  const rows = 4 * micro;
  const random = rng(31337);
  const logits = randomArray(rows * classes, random, 3);
  const labels = randomLabels(rows, classes, random);
  const whole = await runCrossEntropy(logits, labels, rows, classes, 1 / rows);

  const stats = poisoned(ctx, 'stats', 2 * micro);
  const dlogits = poisoned(ctx, 'dlogits', micro * classes);
  const parts: Float32Array[] = [];
  for (let m = 0; m < 4; m++) {
    await run(ctx, await prepareSoftmaxCrossEntropy(ctx, {
      logits: upload(ctx, 'logits part', logits.subarray(m * micro * classes, (m + 1) * micro * classes)),
      labels: upload(ctx, 'labels part', labels.subarray(m * micro, (m + 1) * micro)),
      dlogits, stats, rows: micro, classes, gradScale: 1 / rows, accumulateStats: m > 0,
    }));
    // dlogits is overwritten by each micro-batch: collect it to compare with the whole batch's.
    parts.push(await download(ctx, dlogits, micro * classes));
  }
  const accumulated = await download(ctx, stats, 2 * micro);
  const ref = softmaxCrossEntropyRef(logits, labels, rows, classes, 1 / rows);
  const refPerSlot = new Float64Array(micro).map((_, i) => ref.loss[i]! + ref.loss[micro + i]! + ref.loss[2 * micro + i]! + ref.loss[3 * micro + i]!);
  assertClose(evens(accumulated), refPerSlot, 'accumulated per-row losses');
  assertClose([sum(evens(accumulated))], [sum(evens(whole.stats))], 'total loss, accumulated vs whole batch');
  assert.is(sum(odds(accumulated)), sum(ref.correct), 'correct count, accumulated vs reference');
  assert.is(sum(odds(accumulated)), sum(odds(whole.stats)), 'correct count, accumulated vs whole batch');
  const stitched = new Float32Array(rows * classes);
  parts.forEach((p, m) => stitched.set(p, m * micro * classes));
  assertClose(stitched, whole.dlogits, 'micro-batch dlogits vs whole batch');
});

test('a label out of range reads nothing out of bounds and makes that row\'s loss NaN', async () => {
  const [rows, classes] = [3, 4];
  const logits = randomArray(rows * classes, rng(12));
  const labels = new Uint32Array([1, 4, 0xffffffff]);
  const out = await runCrossEntropy(logits, labels, rows, classes, 1);
  const ref = softmaxCrossEntropyRef(logits.subarray(0, classes), labels.subarray(0, 1), 1, classes, 1);
  assertClose([out.stats[0]!], ref.loss, 'the good row is unaffected');
  assertClose(out.dlogits.subarray(0, classes), ref.dlogits, 'the good row\'s gradient is unaffected');
  for (const i of [1, 2]) {
    assert.ok(Number.isNaN(out.stats[2 * i]), `row ${i} (label ${labels[i]}) loss is ${out.stats[2 * i]}, expected NaN`);
    assert.is(out.stats[2 * i + 1], 0, `row ${i} is not counted correct`);
    assert.ok(out.dlogits.subarray(i * classes, (i + 1) * classes).every(Number.isNaN), `row ${i} dlogits are NaN`);
  }
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const args = { logits: small, labels: small, dlogits: small, stats: small, rows: 2, classes: 3, gradScale: 0.5, accumulateStats: false };
  try {
    await prepareSoftmaxCrossEntropy(ctx, args);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /softmax_cross_entropy: logits .* holds 4 floats, needs 6 for rows=2 classes=3/);
  }
  try {
    await prepareSoftmaxCrossEntropy(ctx, { ...args, classes: 2, gradScale: NaN });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /softmax_cross_entropy: gradScale must be a finite number.*\(got NaN\)/);
  }
});

test.after(() => closeTestGpu());
test.run();
