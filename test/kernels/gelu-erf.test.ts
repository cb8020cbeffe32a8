import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareGeluErfBackward, prepareGeluErfForward } from '../../src/kernels/gelu-erf.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { erf, erfc, geluErfGradRef, geluErfRef, normalCdf, normalPdf, ulpF32 } from '../helpers/norm-reference.js';
import { BASE_SEED, randomArray, rng } from '../helpers/random.js';
import type { GpuContext } from '../../src/gpu/device.js';

const test = suite('gelu (erf)');

/**
 * The promised precision: forward within FORWARD_ULPS ulp of the exact value everywhere; backward
 * within BACKWARD_ULPS ulp of the sum's own scale |Φ(z)| + |z·φ(z)| (gelu' has a zero near
 * z = −0.75, where no relative bound can hold). Measured on lavapipe over the sweep below: backward
 * 2.7 ulp worst; forward at most 5.6 ulp over 40 random seeds, but 6.17 at TEST_SEED=991583333
 * (z = −1.844, in Node and in Chromium alike), so 6 was a measured maximum, not a bound: in Cody's
 * middle interval the forward rounds t = |z|/√2 (0.4 ulp through R's slope), two degree-8 Horner
 * sums (up to a few ulp each, all terms positive), a division, our exp's polynomial and three
 * products, and first-order these add to about 8 ulp at worst. A wrong coefficient, a dropped term
 * or a lost branch costs orders of magnitude more.
 */
const FORWARD_ULPS = 8;
const BACKWARD_ULPS = 4;
/** Results below this may be flushed to zero by the device (subnormals); compared absolutely. */
const TINY = 16 * 2 ** -126;

// Known values, from mpmath at 40 digits (mp.erf, mp.erfc, x·mp.ncdf(x)).
const ERF_TABLE: [number, number, number][] = [
  [0, 0, 1],
  [1e-10, 1.1283791670955125739e-10, 0.99999999988716208329],
  [0.1, 0.1124629160182848922, 0.8875370839817151078],
  [0.46875, 0.49261347321793799159, 0.50738652678206200841],
  [0.5, 0.52049987781304653768, 0.47950012218695346232],
  [1, 0.84270079294971486934, 0.15729920705028513066],
  [2, 0.99532226501895273416, 0.0046777349810472658379],
  [3, 0.99997790950300141456, 0.000022090496998585441373],
  [4, 0.99999998458274209972, 1.5417257900280018852e-8],
  [4.5, 0.99999999980338395585, 1.9661604415428874763e-10],
  [5, 0.99999999999846254021, 1.5374597944280348502e-12],
  [6, 0.99999999999999997848, 2.1519736712498913117e-17],
  [8, 1, 1.122429717298292708e-29],
  [10, 1, 2.088487583762544757e-45],
  [15, 1, 7.2129941724512066666e-100],
  [26, 1, 5.6631924088561428465e-296],
];
const GELU_TABLE: [number, number][] = [
  [-10, -7.619853024160526066e-23],
  [-4.5, -0.000015289529061285271808],
  [-1, -0.15865525393145705141],
  [1, 0.84134474606854294859],
  [4.5, 4.4999847104709387147],
  [10, 10],
];

test('the float64 erf and erfc of the test helper (Cody) match mpmath to 1e-15 relative, erfc deep into its tail', () => {
  for (const [x, erfX, erfcX] of ERF_TABLE) {
    for (const [what, got, want] of [
      ['erf', erf(x), erfX], ['erfc', erfc(x), erfcX], ['erf(−x)', erf(-x), -erfX], ['erfc(−x)', erfc(-x), 2 - erfcX],
    ] as const) {
      const err = want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want);
      assert.ok(err < 1e-15, `${what} at ${x} = ${got}, mpmath ${want}: relative error ${err.toExponential(2)}`);
    }
  }
  for (const [x, want] of GELU_TABLE) {
    const got = geluErfRef([x])[0]!;
    assert.ok(Math.abs(got - want) / Math.abs(want) < 1e-14, `reference gelu(${x}) = ${got}, mpmath ${want}`);
  }
});

test("the float64 reference's gelu' agrees with finite differences of its gelu", () => {
  const h = 1e-6;
  for (let x = -9; x <= 9; x += 0.0625 * 1.37) {
    const numeric = (geluErfRef([x + h])[0]! - geluErfRef([x - h])[0]!) / (2 * h);
    const analytic = geluErfGradRef([x], [1])[0]!;
    assert.ok(Math.abs(numeric - analytic) < 1e-8, `gelu'(${x}): analytic ${analytic}, finite differences ${numeric}`);
  }
});

async function forward(ctx: GpuContext, z: Float32Array): Promise<Float32Array> {
  const h = poisoned(ctx, 'h', z.length);
  await run(ctx, await prepareGeluErfForward(ctx, { z: upload(ctx, 'z', z), h, count: z.length }));
  return download(ctx, h, z.length);
}

async function backward(ctx: GpuContext, z: Float32Array, dh: Float32Array, dzBefore?: Float32Array): Promise<Float32Array> {
  const dz = dzBefore ? upload(ctx, 'dz', dzBefore) : poisoned(ctx, 'dz', z.length);
  await run(ctx, await prepareGeluErfBackward(ctx, {
    z: upload(ctx, 'z', z), dh: upload(ctx, 'dh', dh), dz, count: z.length, accumulate: dzBefore !== undefined,
  }));
  return download(ctx, dz, z.length);
}

/** Every f32 step of 2^-10 over [−14, 14], the tails' anchors, tiny values and zero. */
function sweep(): Float32Array {
  const values: number[] = [];
  for (let i = -14 * 1024; i <= 14 * 1024; i++) values.push(i / 1024 + (i % 7) * 2 ** -13);
  values.push(10, -10, 4.5, -4.5, 0, -0, 1e-30, -1e-30, 1e-20, -1e-20, 1e-10, -1e-10, 1e-5, -1e-5, 0.66, -0.66, 5.66, -5.66, 13.9, -13.9, 14, -14, 20, -20, 1e4, -1e4);
  const random = rng(77);
  for (let i = 0; i < 20000; i++) values.push((random() < 0.5 ? -1 : 1) * 10 ** (random() * 32 - 30) * 14 ** random());
  return Float32Array.from(values);
}

function worstUlps(out: Float32Array, ref: Float64Array, scale: (i: number) => number, z: Float32Array): { ulps: number; at: string } {
  let worst = { ulps: 0, at: 'none' };
  for (let i = 0; i < out.length; i++) {
    const diff = Math.abs(out[i]! - ref[i]!);
    const ulps = scale(i) < TINY ? (diff <= TINY ? 0 : Infinity) : diff / ulpF32(scale(i));
    if (!(ulps <= worst.ulps)) worst = { ulps, at: `z=${z[i]}: ${out[i]} vs ${ref[i]}` };
  }
  return worst;
}

test(`forward is within ${FORWARD_ULPS} ulp of the exact value over [−14, 14], the tails ±10 and ±4.5, 0 and tiny values`, async () => {
  const ctx = await testGpu();
  const z = sweep();
  const out = await forward(ctx, z);
  const ref = geluErfRef(z);
  const worst = worstUlps(out, ref, (i) => Math.abs(ref[i]!), z);
  console.log(`  gelu_erf forward: worst ${worst.ulps.toFixed(2)} ulp at ${worst.at}`);
  assert.ok(worst.ulps <= FORWARD_ULPS, `forward ${worst.ulps.toFixed(2)} ulp > ${FORWARD_ULPS} at ${worst.at} (TEST_SEED=${BASE_SEED})`);
  for (const [x, want] of GELU_TABLE) {
    const got = (await forward(ctx, Float32Array.of(x)))[0]!;
    assert.ok(Math.abs(got - want) <= FORWARD_ULPS * ulpF32(want), `gelu(${x}) = ${got}, mpmath ${want}`);
  }
  // The exact form, not the tanh approximation (0.8411920 at 1).
  const [one] = await forward(ctx, Float32Array.of(1));
  assert.ok(Math.abs(one! - 0.8413447460685429) < 1e-6, `gelu(1) = ${one}: the erf form is 0.8413447`);
});

test(`backward (dh = 1) is within ${BACKWARD_ULPS} ulp of |Φ(z)| + |z·φ(z)| over the same sweep`, async () => {
  const ctx = await testGpu();
  const z = sweep();
  const out = await backward(ctx, z, new Float32Array(z.length).fill(1));
  const ref = geluErfGradRef(z, new Float32Array(z.length).fill(1));
  const worst = worstUlps(out, ref, (i) => Math.abs(normalCdf(z[i]!)) + Math.abs(z[i]! * normalPdf(z[i]!)), z);
  console.log(`  gelu_erf backward: worst ${worst.ulps.toFixed(2)} ulp at ${worst.at}`);
  assert.ok(worst.ulps <= BACKWARD_ULPS, `backward ${worst.ulps.toFixed(2)} ulp > ${BACKWARD_ULPS} at ${worst.at} (TEST_SEED=${BASE_SEED})`);
});

// Awkward and aligned counts: one element, not workgroup multiples, every count % 4 (an invocation
// takes 4 adjacent elements; the tail 1, 2 or 3), the baby GPT's MLP (12·64 × 512).
const COUNTS = [1, 6, 7, 33, 255, 257, 1000, 1026, 12 * 64 * 512];

test('forward and backward match the float64 reference on random inputs of awkward counts', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const count of COUNTS) {
    const random = rng(++seed * 131);
    const z = randomArray(count, random, 6);
    const dh = randomArray(count, random);
    assertClose(await forward(ctx, z), geluErfRef(z), `gelu_erf forward count=${count}`, 1e-6);
    const grad = await backward(ctx, z, dh);
    const ref = geluErfGradRef(z, dh);
    if (count > 1) assertClose(grad, ref, `gelu_erf backward count=${count}`, 1e-6);
    assertBackwardWithinTerms(grad, z, dh, `gelu_erf backward count=${count}`);
  }
});

/**
 * Element by element, against the size of the terms that gelu'(z) = Φ(z) + z·φ(z) adds: near
 * z ≈ −0.75 they cancel to ~0, where no bound relative to the result can hold in float32 (one
 * such z alone, count 1, once measured 4.3e-6 relative), but a few ulp of the terms must.
 */
function assertBackwardWithinTerms(grad: Float32Array, z: ArrayLike<number>, dh: ArrayLike<number>, what: string): void {
  const ref = geluErfGradRef(z, dh);
  for (let i = 0; i < ref.length; i++) {
    const terms = (normalCdf(z[i]!) + Math.abs(z[i]! * normalPdf(z[i]!))) * Math.abs(dh[i]!);
    const err = Math.abs(grad[i]! - ref[i]!);
    if (!(err <= 6 * 2 ** -23 * terms + 1e-37)) {
      assert.unreachable(`${what} [${i}]: z ${z[i]}, ${grad[i]} vs ${ref[i]}: error ${err.toExponential(2)} > 6 ulp of the terms ${terms.toExponential(2)} (TEST_SEED=${BASE_SEED})`);
    }
  }
}

test('backward with accumulate adds dh·gelu\'(z) to what dz held; without it dz is overwritten', async () => {
  const ctx = await testGpu();
  const random = rng(4242);
  const count = 1000;
  const z = randomArray(count, random, 5);
  const dh = randomArray(count, random);
  const before = randomArray(count, random, 3);
  const grad = geluErfGradRef(z, dh);
  assertClose(await backward(ctx, z, dh, before), grad.map((g, i) => g + before[i]!), 'accumulated dz', 1e-6);
  // Overwrite: dz starts with garbage (not NaN, which poisoned() already covers) and must lose it.
  const dz = upload(ctx, 'dz', new Float32Array(count).fill(1e6));
  await run(ctx, await prepareGeluErfBackward(ctx, { z: upload(ctx, 'z', z), dh: upload(ctx, 'dh', dh), dz, count, accumulate: false }));
  assertClose(await download(ctx, dz, count), grad, 'overwritten dz', 1e-6);
});

test('elements past count are not written (the quads\' short tail)', async () => {
  const ctx = await testGpu();
  const random = rng(4242);
  for (const count of [1, 2, 3, 5, 6, 7]) {
    const z = randomArray(count + 5, random, 3);
    const h = poisoned(ctx, 'h', count + 5);
    await run(ctx, await prepareGeluErfForward(ctx, { z: upload(ctx, 'z', z), h, count }));
    const out = await download(ctx, h, count + 5);
    assertClose(out.subarray(0, count), geluErfRef(z.subarray(0, count)), `gelu_erf forward count=${count}`, 1e-6);
    assert.ok(out.subarray(count).every(Number.isNaN), `gelu_erf forward count=${count} wrote past count: ${out.subarray(count).join(', ')}`);
    const dz = poisoned(ctx, 'dz', count + 5);
    await run(ctx, await prepareGeluErfBackward(ctx, { z: upload(ctx, 'z', z), dh: upload(ctx, 'dh', z), dz, count, accumulate: false }));
    const grad = await download(ctx, dz, count + 5);
    assertBackwardWithinTerms(grad.subarray(0, count), z.subarray(0, count), z.subarray(0, count), `gelu_erf backward count=${count}`);
    assert.ok(grad.subarray(count).every(Number.isNaN), `gelu_erf backward count=${count} wrote past count`);
  }
});

test('two runs give identical bits', async () => {
  const ctx = await testGpu();
  const z = randomArray(4099, rng(5), 8);
  const dh = randomArray(4099, rng(6));
  assertBitwiseEqual(await forward(ctx, z), await forward(ctx, z), 'forward, run twice');
  assertBitwiseEqual(await backward(ctx, z, dh), await backward(ctx, z, dh), 'backward, run twice');
});

test('errors name the kernel, the sizes and an aliased output', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const other = upload(ctx, 'other', new Float32Array(4));
  try {
    await prepareGeluErfForward(ctx, { z: small, h: other, count: 9 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /gelu_erf_forward: z .* holds 4 floats, needs count=9/);
  }
  try {
    await prepareGeluErfBackward(ctx, { z: small, dh: other, dz: other, count: 4, accumulate: false });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /gelu_erf_backward: dz \(other\) is in the same buffer as dh \(other\)/);
  }
});

test.after(() => closeTestGpu());
test.run();
