import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareGradNormClip } from '../../src/kernels/grad-norm.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { gradNormRef } from '../helpers/lm-reference.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('grad norm and clipping');

// Tensor sizes: one element; not multiples of the 64 elements an invocation sums, nor of the 4 it
// loads at once (7, 65 = 64 + 1, 4097); the baby GPT's c_fc weight (4C·C = 65536); more than 256
// partial sums (2^20 + 4001 elements: 16,447), so pass 2's invocations each add several.
const TENSOR_SETS: number[][] = [[1], [7], [1, 4097, 65], [65536, 128, 512, 3], [2 ** 20 + 4001]];

async function clipGradNorm(tensors: Float32Array[], maxNorm: number, counts = tensors.map((t) => t.length)) {
  const ctx = await testGpu();
  const buffers = tensors.map((t, i) => upload(ctx, `grads ${i}`, t));
  const clip = poisoned(ctx, 'clip', 2);
  const prepared = await prepareGradNormClip(ctx, { tensors: buffers.map((grads, i) => ({ grads, count: counts[i]! })), maxNorm, clip });
  await run(ctx, prepared.dispatches);
  const [norm, scale] = await download(ctx, clip, 2);
  return { norm: norm!, scale: scale!, grads: await Promise.all(buffers.map((b, i) => download(ctx, b, tensors[i]!.length))) };
}

for (const clipped of [true, false]) {
  test(`the global norm over several tensors matches float64 and the gradients are ${clipped ? 'scaled by maxNorm/(norm + 1e-6)' : 'left bit for bit when the norm is under maxNorm'}`, async () => {
    let seed = clipped ? 0 : 100;
    for (const sizes of TENSOR_SETS) {
      const random = rng(++seed * 947);
      // Tensors of different scales, as a GPT's embeddings and LayerNorm gains are.
      const tensors = sizes.map((n, i) => randomArray(n, random, 10 ** (i % 3 - 1)));
      const ref = gradNormRef(tensors, 1);
      const maxNorm = clipped ? ref.norm / 3 : ref.norm * 2;
      const expected = gradNormRef(tensors, maxNorm);
      const out = await clipGradNorm(tensors, maxNorm);
      const what = `sizes ${sizes.join(',')}`;
      assertClose([out.norm], [expected.norm], `norm ${what}`);
      assertClose([out.scale], [expected.scale], `scale ${what}`);
      if (clipped) {
        assert.ok(out.scale < 0.34, `${what}: scale ${out.scale} clips`);
        out.grads.forEach((g, i) => assertClose(g, Float64Array.from(tensors[i]!, (x) => x * expected.scale), `clipped tensor ${i} ${what}`));
      } else {
        assert.is(out.scale, 1, `${what}: scale is exactly 1 under maxNorm`);
        out.grads.forEach((g, i) => assertBitwiseEqual(g, tensors[i]!, `unclipped tensor ${i} ${what}`));
      }
    }
  });
}

test('only the first count elements of a buffer take part and are scaled', async () => {
  const random = rng(55);
  const a = randomArray(100, random);
  const b = randomArray(40, random);
  const out = await clipGradNorm([a, b], 0.5, [37, 40]);
  const ref = gradNormRef([a.subarray(0, 37), b], 0.5);
  assertClose([out.norm], [ref.norm], 'norm of the counted elements');
  assertClose(out.grads[0]!.subarray(0, 37), Float64Array.from(a.subarray(0, 37), (x) => x * ref.scale), 'counted elements scaled');
  assertBitwiseEqual(out.grads[0]!.subarray(37), a.subarray(37), 'elements past count untouched');
});

test('deterministic: two runs over the baby GPT\'s ~0.8M gradients give identical bits', async () => {
  const random = rng(31);
  const tensors = [randomArray(256 * 128, random), randomArray(800_000, random, 1e-2), randomArray(129, random, 3)];
  const a = await clipGradNorm(tensors, 1);
  const b = await clipGradNorm(tensors, 1);
  assert.ok(Object.is(a.norm, b.norm) && Object.is(a.scale, b.scale), `norm and scale of two runs: ${a.norm}/${a.scale} vs ${b.norm}/${b.scale}`);
  a.grads.forEach((g, i) => assertBitwiseEqual(g, b.grads[i]!, `clipped tensor ${i} of two runs`));
});

test('an Inf or NaN gradient makes the norm non-finite and the scale NaN, so the step shows it', async () => {
  for (const bad of [Infinity, NaN]) {
    const g = randomArray(5000, rng(6));
    g[4321] = bad;
    const out = await clipGradNorm([g, randomArray(3, rng(7))], 1);
    assert.ok(!Number.isFinite(out.norm), `norm with a ${bad} gradient is ${out.norm}`);
    assert.ok(Number.isNaN(out.scale), `scale with a ${bad} gradient is ${out.scale}`);
  }
});

test('errors name the kernel and what was wrong', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const clip = poisoned(ctx, 'clip', 2);
  const cases: [Parameters<typeof prepareGradNormClip>[1], RegExp][] = [
    [{ tensors: [], maxNorm: 1, clip }, /grad_norm_clip: needs at least one gradient tensor/],
    [{ tensors: [{ grads: small, count: 4 }], maxNorm: 0, clip }, /grad_norm_clip: maxNorm must be a finite number > 0.*\(got 0\)/],
    [{ tensors: [{ grads: small, count: 4 }, { grads: small, count: 5 }], maxNorm: 1, clip }, /grad_norm_clip: tensors\[1\]\.grads .* holds 4 floats, needs count=5/],
  ];
  for (const [args, message] of cases) {
    try {
      await prepareGradNormClip(ctx, args);
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.match((e as Error).message, message);
    }
  }
});

test.after(() => closeTestGpu());
test.run();
