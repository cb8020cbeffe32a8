import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareMatmul, type MatmulVariant } from '../../src/kernels/matmul.js';
import { assertClose } from '../helpers/assert.js';
import { download, poisoned, run, testGpu, upload, closeTestGpu } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';
import { matmulRef } from '../helpers/reference.js';

const test = suite('matmul');

// [M, N, K]: 1×1×1, not tile multiples, tile multiples, the MLP's shapes, tall and wide.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 13, 5], [65, 129, 33], [64, 256, 784], [64, 10, 256],
  [256, 10, 64], [1000, 3, 17], [3, 700, 9], [128, 128, 128],
];
const FORMS = [
  { name: 'Y = X·Wᵀ + b', transA: false, transB: true, bias: true },
  { name: 'dX = dY·W', transA: false, transB: false, bias: false },
  { name: 'dW = dYᵀ·X', transA: true, transB: false, bias: false },
];

for (const variant of ['blocked', 'naive'] as MatmulVariant[]) {
  for (const form of FORMS) {
    test(`${variant} ${form.name} matches the float64 reference on awkward shapes`, async () => {
      const ctx = await testGpu();
      let seed = 0;
      for (const [M, N, K] of SHAPES) {
        const random = rng(++seed * 7919);
        const a = randomArray(M * K, random);
        const b = randomArray(K * N, random);
        const bias = form.bias ? randomArray(N, random) : undefined;
        const c = poisoned(ctx, 'C', M * N);
        const d = await prepareMatmul(ctx, {
          a: upload(ctx, 'A', a), b: upload(ctx, 'B', b), c, M, N, K,
          bias: bias && upload(ctx, 'bias', bias), transA: form.transA, transB: form.transB, variant,
        });
        await run(ctx, d);
        const ref = matmulRef(a, b, M, N, K, { transA: form.transA, transB: form.transB, bias });
        assertClose(await download(ctx, c, M * N), ref, `${variant} ${form.name} M=${M} N=${N} K=${K}`);
      }
    });
  }
}

test('accumulate adds into C: 4 micro-batches of dW equal one batch 4× larger', async () => {
  const ctx = await testGpu();
  const random = rng(101);
  const [micro, N, K] = [13, 33, 65];
  const M = 4 * micro;
  const dy = randomArray(M * N, random);
  const x = randomArray(M * K, random);
  const whole = poisoned(ctx, 'dW whole', N * K);
  await run(ctx, await prepareMatmul(ctx, { a: upload(ctx, 'dY', dy), b: upload(ctx, 'X', x), c: whole, M: N, N: K, K: M, transA: true }));
  const accumulated = poisoned(ctx, 'dW accumulated', N * K);
  for (let m = 0; m < 4; m++) {
    const dyPart = dy.subarray(m * micro * N, (m + 1) * micro * N);
    const xPart = x.subarray(m * micro * K, (m + 1) * micro * K);
    await run(ctx, await prepareMatmul(ctx, {
      a: upload(ctx, 'dY part', dyPart), b: upload(ctx, 'X part', xPart), c: accumulated,
      M: N, N: K, K: micro, transA: true, accumulate: m > 0,
    }));
  }
  const ref = matmulRef(dy, x, N, K, M, { transA: true });
  assertClose(await download(ctx, accumulated, N * K), ref, 'accumulated dW');
  assertClose(await download(ctx, accumulated, N * K), await download(ctx, whole, N * K), 'accumulated vs whole', 1e-5);
});

test('shape errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  try {
    await prepareMatmul(ctx, { a: small, b: small, c: small, M: 3, N: 3, K: 3 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /matmul: A .* holds 4 floats, needs 9/);
  }
});

test.after(() => closeTestGpu());
test.run();
