import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareLayerNormBackward, prepareLayerNormForward } from '../../src/kernels/layernorm.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { assertBitwiseEqual, assertClose, assertRejects } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { layerNormBackwardRef, layerNormRef } from '../helpers/norm-reference.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('layernorm');

// [rows, cols]: 1×1, one row, one column, not workgroup multiples, the baby GPT's (12·64 × 128), tall, wide.
const SHAPES: [number, number][] = [
  [1, 1], [1, 7], [7, 1], [3, 65], [33, 130], [12 * 64, 128], [1000, 3], [2, 1000], [65, 257],
];

interface Inputs { x: Float32Array; weight: Float32Array; bias: Float32Array; dy: Float32Array }

/**
 * x with a per-row offset and spread (the row's standard deviation). The offset stays within 10× the spread: beyond that any f32
 * LayerNorm (PyTorch's too) loses digits to the rounding of the mean itself, and the float64
 * reference is no longer the bar f32 can meet; the large-offset case has its own test below.
 */
function inputs(rows: number, cols: number, random: () => number): Inputs {
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const scale = 0.5 + random() * 2.5;
    const offset = (random() * 2 - 1) * 10 * scale;
    // The row's own spread is `scale`, not just its draws': three uniform draws can land close
    // together, and a row whose offset is then hundreds of times its spread is the large-offset case
    // (tested on its own below), not an awkward shape (CI once drew such rows at C = 3).
    const u = Array.from({ length: cols }, () => random() * 2 - 1);
    const mean = u.reduce((a, b) => a + b, 0) / cols;
    const sd = Math.sqrt(u.reduce((a, b) => a + (b - mean) ** 2, 0) / cols);
    for (let j = 0; j < cols; j++) x[i * cols + j] = offset + (cols > 1 && sd > 0 ? ((u[j]! - mean) / sd) * scale : u[j]! * scale);
  }
  return {
    x,
    weight: Float32Array.from(randomArray(cols, random), (w) => 1 + w),
    bias: randomArray(cols, random),
    dy: randomArray(rows * cols, random),
  };
}

interface ForwardOut { y: Float32Array; mean: Float32Array; rstd: Float32Array }

async function forward(ctx: GpuContext, inp: Inputs, rows: number, cols: number): Promise<ForwardOut> {
  const [y, mean, rstd] = [poisoned(ctx, 'y', rows * cols), poisoned(ctx, 'mean', rows), poisoned(ctx, 'rstd', rows)];
  await run(ctx, await prepareLayerNormForward(ctx, {
    x: upload(ctx, 'x', inp.x), weight: upload(ctx, 'weight', inp.weight), bias: upload(ctx, 'bias', inp.bias), y, mean, rstd, rows, cols,
  }));
  return { y: await download(ctx, y, rows * cols), mean: await download(ctx, mean, rows), rstd: await download(ctx, rstd, rows) };
}

interface Grads { dx: GPUBuffer; dweight: GPUBuffer; dbias: GPUBuffer }

function poisonedGrads(ctx: GpuContext, rows: number, cols: number): Grads {
  return { dx: poisoned(ctx, 'dx', rows * cols), dweight: poisoned(ctx, 'dweight', cols), dbias: poisoned(ctx, 'dbias', cols) };
}

/** Forward on the GPU (for the saved mean and rstd), then the backward into `grads`. */
async function backward(
  ctx: GpuContext, inp: Inputs, rows: number, cols: number, grads: Grads, accumulateDx: boolean, accumulateParams: boolean,
): Promise<void> {
  const x = upload(ctx, 'x', inp.x);
  const weight = upload(ctx, 'weight', inp.weight);
  const [y, mean, rstd] = [poisoned(ctx, 'y', rows * cols), poisoned(ctx, 'mean', rows), poisoned(ctx, 'rstd', rows)];
  const fw = await prepareLayerNormForward(ctx, { x, weight, bias: upload(ctx, 'bias', inp.bias), y, mean, rstd, rows, cols });
  const bw = await prepareLayerNormBackward(ctx, {
    x, weight, mean, rstd, dy: upload(ctx, 'dy', inp.dy), ...grads, rows, cols, accumulateDx, accumulateParams,
  });
  await run(ctx, [fw, ...bw]);
}

async function read(ctx: GpuContext, g: Grads, rows: number, cols: number) {
  return { dx: await download(ctx, g.dx, rows * cols), dweight: await download(ctx, g.dweight, cols), dbias: await download(ctx, g.dbias, cols) };
}

test('forward matches the float64 reference (y, mean, rstd) on awkward shapes', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const [rows, cols] of SHAPES) {
    const inp = inputs(rows, cols, rng(++seed * 911));
    const out = await forward(ctx, inp, rows, cols);
    const ref = layerNormRef(inp.x, inp.weight, inp.bias, rows, cols);
    const shape = `rows=${rows} cols=${cols}`;
    assertClose(out.y, ref.y, `layernorm y ${shape}`);
    assertClose(out.mean, ref.mean, `layernorm mean ${shape}`);
    assertClose(out.rstd, ref.rstd, `layernorm rstd ${shape}`);
  }
});

test('forward uses the biased variance and eps 1e-5 inside the root, as nn.LayerNorm', async () => {
  // Row [0, 2]: mean 1, biased variance 1 (unbiased would be 2), rstd 1/√(1 + 1e-5).
  const ctx = await testGpu();
  const out = await forward(ctx, { x: Float32Array.of(0, 2), weight: Float32Array.of(1, 1), bias: Float32Array.of(0, 0), dy: new Float32Array(2) }, 1, 2);
  assert.ok(Math.abs(out.rstd[0]! - 1 / Math.sqrt(1 + 1e-5)) < 1e-7, `rstd ${out.rstd[0]}, expected ${1 / Math.sqrt(1 + 1e-5)}`);
  assert.is(out.mean[0], 1);
});

test('the variance is two-pass: a row at 1000 ± 1 keeps its rstd (E[x²] − mean² in f32 would lose it all)', async () => {
  // In f32, x² ≈ 1e6 carries an ulp of 0.0625 against a variance near 0.33, so the one-pass form is
  // off by far more than 1 %. Two-pass is left with the rounding of the mean (ulp(1000)/2 ≈ 3e-5 of
  // the spread), hence the 1e-3 bound rather than the 1e-5 of well-conditioned rows.
  const ctx = await testGpu();
  const cols = 257;
  const random = rng(1000);
  const x = Float32Array.from({ length: cols }, () => 1000 + (random() * 2 - 1));
  const inp = { x, weight: new Float32Array(cols).fill(1), bias: new Float32Array(cols), dy: new Float32Array(cols) };
  const out = await forward(ctx, inp, 1, cols);
  const ref = layerNormRef(x, inp.weight, inp.bias, 1, cols);
  const err = Math.abs(out.rstd[0]! - ref.rstd[0]!) / ref.rstd[0]!;
  assert.ok(err < 1e-3, `rstd ${out.rstd[0]} vs ${ref.rstd[0]}: relative error ${err.toExponential(2)}`);
  assertClose(out.y, ref.y, 'y of the offset row', 1e-3);
});

test('backward matches the float64 reference (dx, dweight, dbias) on awkward shapes', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const [rows, cols] of SHAPES) {
    const inp = inputs(rows, cols, rng(++seed * 577));
    const grads = poisonedGrads(ctx, rows, cols);
    await backward(ctx, inp, rows, cols, grads, false, false);
    const out = await read(ctx, grads, rows, cols);
    const ref = layerNormBackwardRef(inp.x, inp.weight, inp.dy, rows, cols);
    const shape = `rows=${rows} cols=${cols}`;
    // cols = 1: x̂ is 0 and dx is exactly 0 for every row; the norm-relative error is then absolute.
    assertClose(out.dx, ref.dx, `layernorm dx ${shape}`);
    assertClose(out.dweight, ref.dweight, `layernorm dweight ${shape}`);
    assertClose(out.dbias, ref.dbias, `layernorm dbias ${shape}`);
  }
});

test('the float64 backward reference agrees with finite differences of the forward reference', () => {
  const [rows, cols] = [3, 5];
  const inp = inputs(rows, cols, rng(31));
  const x = Float64Array.from(inp.x);
  const weight = Float64Array.from(inp.weight);
  const bias = Float64Array.from(inp.bias);
  // L = Σ y·dy, so dL/dy = dy.
  const loss = () => layerNormRef(x, weight, bias, rows, cols).y.reduce((s, y, i) => s + y * inp.dy[i]!, 0);
  const ref = layerNormBackwardRef(x, weight, inp.dy, rows, cols);
  const h = 1e-6;
  for (const [name, v, grad] of [['x', x, ref.dx], ['weight', weight, ref.dweight], ['bias', bias, ref.dbias]] as const) {
    for (let k = 0; k < v.length; k++) {
      const saved = v[k]!;
      v[k] = saved + h;
      const up = loss();
      v[k] = saved - h;
      const down = loss();
      v[k] = saved;
      const numeric = (up - down) / (2 * h);
      assert.ok(Math.abs(numeric - grad[k]!) < 1e-7 * (1 + Math.abs(numeric)), `d${name}[${k}]: analytic ${grad[k]}, finite differences ${numeric}`);
    }
  }
});

test('accumulateDx adds into dx (the residual stream gradient) and leaves the overwrite of dweight, dbias alone', async () => {
  const ctx = await testGpu();
  const [rows, cols] = [9, 33];
  const random = rng(6061);
  const inp = inputs(rows, cols, random);
  const dxBefore = randomArray(rows * cols, random, 2);
  const grads = { dx: upload(ctx, 'dx', dxBefore), dweight: upload(ctx, 'dw', new Float32Array(cols).fill(1e6)), dbias: upload(ctx, 'db', new Float32Array(cols).fill(-1e6)) };
  await backward(ctx, inp, rows, cols, grads, true, false);
  const out = await read(ctx, grads, rows, cols);
  const ref = layerNormBackwardRef(inp.x, inp.weight, inp.dy, rows, cols);
  assertClose(out.dx, ref.dx.map((d, i) => d + dxBefore[i]!), 'accumulated dx');
  assertClose(out.dweight, ref.dweight, 'overwritten dweight');
  assertClose(out.dbias, ref.dbias, 'overwritten dbias');
});

test('4 micro-batches accumulated in-kernel equal one batch 4× larger (dweight, dbias), dx overwritten each time', async () => {
  const ctx = await testGpu();
  const [micro, cols] = [13, 65];
  const rows = 4 * micro;
  const inp = inputs(rows, cols, rng(4242));
  const grads = poisonedGrads(ctx, micro, cols);
  for (let m = 0; m < 4; m++) {
    const part = (a: Float32Array) => a.slice(m * micro * cols, (m + 1) * micro * cols);
    await backward(ctx, { ...inp, x: part(inp.x), dy: part(inp.dy) }, micro, cols, grads, false, m > 0);
  }
  const out = await read(ctx, grads, micro, cols);
  const whole = layerNormBackwardRef(inp.x, inp.weight, inp.dy, rows, cols);
  assertClose(out.dweight, whole.dweight, 'accumulated dweight');
  assertClose(out.dbias, whole.dbias, 'accumulated dbias');
  assertClose(out.dx, whole.dx.slice(3 * micro * cols), 'dx of the last micro-batch');
});

test('two runs give identical bits (forward and every gradient)', async () => {
  const ctx = await testGpu();
  const [rows, cols] = [12 * 64, 128];
  const inp = inputs(rows, cols, rng(99));
  const once = async () => {
    const grads = poisonedGrads(ctx, rows, cols);
    await backward(ctx, inp, rows, cols, grads, false, false);
    return { ...(await read(ctx, grads, rows, cols)), y: (await forward(ctx, inp, rows, cols)).y };
  };
  const [a, b] = [await once(), await once()];
  for (const k of ['y', 'dx', 'dweight', 'dbias'] as const) assertBitwiseEqual(a[k], b[k], `${k}, run twice`);
});

test('errors name the kernel, the sizes and an aliased output', async () => {
  const ctx = await testGpu();
  const buf = (label: string, n: number) => upload(ctx, label, new Float32Array(n));
  // Sizes in whole 16-byte units, as createStorage rounds them.
  const [x, w, b, y, mean, rstd] = [buf('x', 8), buf('w', 4), buf('b', 4), buf('y', 8), buf('mean', 4), buf('rstd', 4)];
  await assertRejects(() => prepareLayerNormForward(ctx, { x, weight: w, bias: b, y, mean, rstd, rows: 3, cols: 3 }),
    /layernorm_forward: x \(x\) holds 8 floats, needs 9 for rows=3 cols=3/);
  await assertRejects(() => prepareLayerNormForward(ctx, { x, weight: w, bias: b, y, mean, rstd, rows: 2, cols: 0 }),
    /layernorm_forward: cols must be a whole number >= 1 \(got 0\)/);
  await assertRejects(() => prepareLayerNormForward(ctx, { x, weight: w, bias: b, y: x, mean, rstd, rows: 2, cols: 3 }),
    /layernorm_forward: y \(x\) is in the same buffer as x \(x\)/);
  await assertRejects(() => prepareLayerNormBackward(ctx, {
    x, weight: w, mean, rstd, dy: y, dx: y, dweight: buf('dw', 3), dbias: buf('db', 3), rows: 2, cols: 3, accumulateDx: true, accumulateParams: false,
  }), /layernorm_backward: dx \(y\) is in the same buffer as dy \(y\)/);
});

test.after(() => closeTestGpu());
test.run();
