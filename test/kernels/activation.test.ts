import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareActivationBackward, prepareActivationForward, type Activation } from '../../src/kernels/activation.js';
import { assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';
import { activationGradRef, activationRef } from '../helpers/reference.js';

const test = suite('activation');

// Awkward and aligned counts: one element, not workgroup multiples, the MLP's hidden layer (64×256).
const COUNTS = [1, 7, 33, 65, 256, 1000, 64 * 256];
const ACTIVATIONS: Activation[] = ['relu', 'gelu', 'none'];

/** Values spread over [-6, 6] where gelu's curvature lives, plus exact zeros (relu's kink) and large values. */
function inputs(count: number, random: () => number): Float32Array {
  const z = randomArray(count, random, 6);
  for (let i = 0; i < count; i += 17) z[i] = 0;
  for (let i = 5; i < count; i += 29) z[i] = (random() < 0.5 ? -1 : 1) * 1e4;
  return z;
}

for (const activation of ACTIVATIONS) {
  test(`${activation} forward matches the float64 reference`, async () => {
    const ctx = await testGpu();
    let seed = 0;
    for (const count of COUNTS) {
      const z = inputs(count, rng(++seed * 131));
      const h = poisoned(ctx, 'h', count);
      await run(ctx, await prepareActivationForward(ctx, { z: upload(ctx, 'z', z), h, count, activation }));
      assertClose(await download(ctx, h, count), activationRef(z, activation), `${activation} forward count=${count}`);
    }
  });

  test(`${activation} backward is dh times the derivative at the pre-activation`, async () => {
    const ctx = await testGpu();
    let seed = 0;
    for (const count of COUNTS) {
      const random = rng(++seed * 137 + 1);
      const z = inputs(count, random);
      const dh = randomArray(count, random);
      const dz = poisoned(ctx, 'dz', count);
      await run(ctx, await prepareActivationBackward(ctx, {
        z: upload(ctx, 'z', z), dh: upload(ctx, 'dh', dh), dz, count, activation,
      }));
      assertClose(await download(ctx, dz, count), activationGradRef(z, dh, activation), `${activation} backward count=${count}`);
    }
  });
}

test('gelu is the tanh approximation, not the erf form', async () => {
  // At z = 1 the two differ in the 4th digit: tanh form 0.841192, erf form 0.841345.
  const ctx = await testGpu();
  const h = poisoned(ctx, 'h', 1);
  await run(ctx, await prepareActivationForward(ctx, { z: upload(ctx, 'z', new Float32Array([1])), h, count: 1, activation: 'gelu' }));
  const [value] = await download(ctx, h, 1);
  assert.ok(Math.abs(value! - 0.8411919906082768) < 1e-6, `gelu(1) = ${value}, expected 0.8411920 (tanh approximation)`);
});

test('gelu keeps its relative precision in the far negative tail, where 1 + tanh(u) cancels', async () => {
  // Element by element, not as a norm: each output must carry its own digits. With the textbook
  // 0.5·x·(1 + tanh(u)) in f32, gelu(−4.5) came out 16 % off and gelu(−6) all wrong.
  const ctx = await testGpu();
  const z = Float32Array.from({ length: 61 }, (_, i) => -3 - i * 0.1); // −3 … −9
  const h = poisoned(ctx, 'h', z.length);
  await run(ctx, await prepareActivationForward(ctx, { z: upload(ctx, 'z', z), h, count: z.length, activation: 'gelu' }));
  const out = await download(ctx, h, z.length);
  const ref = activationRef(z, 'gelu');
  for (let i = 0; i < z.length; i++) {
    const err = Math.abs(out[i]! - ref[i]!) / Math.abs(ref[i]!);
    assert.ok(err < 1e-4, `gelu(${z[i]}) = ${out[i]}, reference ${ref[i]}: relative error ${err.toExponential(2)}`);
  }
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  try {
    await prepareActivationForward(ctx, { z: small, h: small, count: 9, activation: 'relu' });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /relu_forward: z .* holds 4 floats, needs count=9/);
  }
  try {
    await prepareActivationForward(ctx, { z: small, h: small, count: 4, activation: 'tanh' as Activation });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /unknown activation "tanh"; use one of none, relu, gelu/);
  }
});

test.after(() => closeTestGpu());
test.run();
