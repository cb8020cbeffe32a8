import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareBiasGrad } from '../../src/kernels/bias-grad.js';
import { assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';
import { biasGradRef } from '../helpers/reference.js';

const test = suite('bias grad');

// [rows, cols]: single row and column, not workgroup multiples, the MLP's layers, tall and wide.
const SHAPES: [number, number][] = [
  [1, 1], [7, 1], [1, 7], [33, 65], [64, 256], [64, 10], [256, 10], [1000, 3], [3, 1000], [9, 13],
];

test('db is the column sums of dy on awkward shapes', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const [rows, cols] of SHAPES) {
    const dy = randomArray(rows * cols, rng(++seed * 733));
    const db = poisoned(ctx, 'db', cols);
    await run(ctx, await prepareBiasGrad(ctx, { dy: upload(ctx, 'dy', dy), db, rows, cols, accumulate: false }));
    assertClose(await download(ctx, db, cols), biasGradRef(dy, rows, cols), `bias grad rows=${rows} cols=${cols}`);
  }
});

test('without accumulate db is overwritten, whatever it held', async () => {
  const ctx = await testGpu();
  const dy = randomArray(5 * 3, rng(17));
  const db = upload(ctx, 'db', new Float32Array([100, 200, 300]));
  await run(ctx, await prepareBiasGrad(ctx, { dy: upload(ctx, 'dy', dy), db, rows: 5, cols: 3, accumulate: false }));
  assertClose(await download(ctx, db, 3), biasGradRef(dy, 5, 3), 'overwritten db');
});

test('4 micro-batches accumulated in-kernel equal one batch 4× larger', async () => {
  const ctx = await testGpu();
  const [micro, cols] = [13, 65];
  const rows = 4 * micro;
  const dy = randomArray(rows * cols, rng(4242));
  const whole = poisoned(ctx, 'db whole', cols);
  await run(ctx, await prepareBiasGrad(ctx, { dy: upload(ctx, 'dy', dy), db: whole, rows, cols, accumulate: false }));
  const accumulated = poisoned(ctx, 'db accumulated', cols);
  for (let m = 0; m < 4; m++) {
    const part = dy.subarray(m * micro * cols, (m + 1) * micro * cols);
    await run(ctx, await prepareBiasGrad(ctx, {
      dy: upload(ctx, 'dy part', part), db: accumulated, rows: micro, cols, accumulate: m > 0,
    }));
  }
  const ref = biasGradRef(dy, rows, cols);
  assertClose(await download(ctx, accumulated, cols), ref, 'accumulated db');
  assertClose(await download(ctx, accumulated, cols), await download(ctx, whole, cols), 'accumulated vs whole batch');
});

test('more than 65535 workgroups of columns fold into a second grid dimension and still cover every column', async () => {
  // Every kernel here rebuilds its flat index the same way; bias grad's few rows make the folded
  // case cheap to reach (32 columns per workgroup: 65,537 workgroups).
  const ctx = await testGpu();
  const [rows, cols] = [2, 65536 * 32 + 5];
  const dy = randomArray(rows * cols, rng(991));
  const db = poisoned(ctx, 'db', cols);
  const d = await prepareBiasGrad(ctx, { dy: upload(ctx, 'dy', dy), db, rows, cols, accumulate: false });
  assert.is(d.workgroups[1], 2, 'grid folded into y');
  await run(ctx, d);
  assertClose(await download(ctx, db, cols), biasGradRef(dy, rows, cols), 'bias grad over a folded grid');
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  try {
    await prepareBiasGrad(ctx, { dy: small, db: small, rows: 3, cols: 2, accumulate: false });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /bias_grad: dy .* holds 4 floats, needs 6 for rows=3 cols=2/);
  }
  try {
    await prepareBiasGrad(ctx, { dy: small, db: small, rows: 0, cols: 2, accumulate: false });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /bias_grad: rows must be a whole number >= 1 \(got 0\)/);
  }
});

test.after(() => closeTestGpu());
test.run();
