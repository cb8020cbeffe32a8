import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeBuffer } from '../../src/gpu/buffers.js';
import { prepareAdamW, prepareSgd, weightDecayMask, type AdamWHyper, type DecayRange, type SgdHyper } from '../../src/kernels/optimizers.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';
import { adamwStepRef, sgdStepRef } from '../helpers/reference.js';

const test = suite('optimizers');

// Parameter counts: one, not workgroup multiples, and the MNIST MLP's whole flat buffer.
const COUNTS = [1, 7, 33, 65, 1000, 203_530];
const STEPS = 5;

/** (p − p0) in float64: the update itself, so a small update cannot hide in a large parameter. */
function delta(p: ArrayLike<number>, p0: ArrayLike<number>): Float64Array {
  return Float64Array.from(p0, (x, i) => p[i]! - x);
}

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

/**
 * Tolerance for the parameter change: float32 parameters are rounded (≤ 2^-24 relative) at every
 * step, so after STEPS steps the change cannot be known better than about STEPS·2^-24·‖p‖, which
 * for small learning rates is above 1e-5 of ‖Δp‖. Twice that, plus the usual 1e-5.
 */
function updateTolerance(p: ArrayLike<number>, change: ArrayLike<number>): number {
  return 1e-5 + (2 * STEPS * 2 ** -24 * norm(p)) / norm(change);
}

/**
 * Tolerance for a momentum buffer, a running weighted sum of gradients of both signs: float32
 * rounds every term (≤ 2^-24 relative), so the error is bounded by the same sum of |terms|
 * (`magnitude`), which for a buffer that cancels (a single element, signs alternating) can be tens of
 * times the buffer itself. Twice that bound over STEPS steps, plus the usual 1e-5.
 */
function bufferTolerance(magnitude: ArrayLike<number>, buffer: ArrayLike<number>): number {
  return 1e-5 + (2 * STEPS * 2 ** -24 * norm(magnitude)) / norm(buffer);
}

const SGD_CASES: { name: string; hyper: SgdHyper }[] = [
  { name: 'plain SGD', hyper: { lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false } },
  { name: 'SGD with weight decay', hyper: { lr: 0.1, momentum: 0, weightDecay: 0.05, nesterov: false } },
  { name: 'SGD with momentum and weight decay', hyper: { lr: 0.05, momentum: 0.9, weightDecay: 1e-2, nesterov: false } },
  { name: 'SGD with Nesterov momentum and weight decay', hyper: { lr: 0.05, momentum: 0.9, weightDecay: 5e-3, nesterov: true } },
  { name: 'SGD with dampened momentum', hyper: { lr: 0.05, momentum: 0.8, weightDecay: 0, nesterov: false, dampening: 0.3 } },
];

for (const { name, hyper } of SGD_CASES) {
  test(`${name}: ${STEPS} steps in a row match torch.optim.SGD in float64, with a changing lr`, async () => {
    const ctx = await testGpu();
    let seed = 0;
    for (const count of COUNTS) {
      const random = rng(++seed * 211);
      const p0 = randomArray(count, random);
      const params = upload(ctx, 'params', p0);
      const grads = poisoned(ctx, 'grads', count);
      // Poisoned: PyTorch's first step never reads the buffer, and neither may ours.
      const momentumBuffer = poisoned(ctx, 'momentum', count);
      const sgd = await prepareSgd(ctx, { params, grads, momentumBuffer, count });
      const p = Float64Array.from(p0);
      const buf = new Float64Array(count);
      const bufMagnitude = new Float64Array(count);
      for (let step = 0; step < STEPS; step++) {
        const g = randomArray(count, random);
        const h = { ...hyper, lr: hyper.lr * 0.8 ** step, firstStep: step === 0 }; // a schedule, via setHyper only
        writeBuffer(ctx, grads, g);
        sgd.setHyper(h);
        await run(ctx, sgd.dispatch);
        for (let i = 0; i < count; i++) {
          const term = Math.abs(g[i]!) + h.weightDecay * Math.abs(p[i]!);
          bufMagnitude[i] = step === 0 ? term : h.momentum * bufMagnitude[i]! + (1 - (h.dampening ?? 0)) * term;
        }
        sgdStepRef(p, buf, g, h);
      }
      const out = await download(ctx, params, count);
      const what = `${name} count=${count}`;
      assertClose(delta(out, p0), delta(p, p0), `${what}: parameter change`, updateTolerance(p, delta(p, p0)));
      assertClose(out, p, `${what}: parameters`);
      if (hyper.momentum !== 0) {
        assertClose(await download(ctx, momentumBuffer, count), buf, `${what}: momentum buffer`, bufferTolerance(bufMagnitude, buf));
      }
    }
  });
}

const ADAMW_CASES: { name: string; hyper: Omit<AdamWHyper, 'step'> }[] = [
  { name: 'AdamW with PyTorch defaults', hyper: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 } },
  { name: 'AdamW with large weight decay and eps', hyper: { lr: 3e-2, beta1: 0.8, beta2: 0.95, eps: 1e-3, weightDecay: 0.5 } },
  { name: 'Adam (no weight decay)', hyper: { lr: 1e-2, beta1: 0.5, beta2: 0.9, eps: 1e-8, weightDecay: 0 } },
];

for (const { name, hyper } of ADAMW_CASES) {
  test(`${name}: ${STEPS} steps in a row match torch.optim.AdamW in float64, bias correction included`, async () => {
    const ctx = await testGpu();
    let seed = 0;
    for (const count of COUNTS) {
      const random = rng(++seed * 223 + 7);
      const p0 = randomArray(count, random);
      const params = upload(ctx, 'params', p0);
      const grads = poisoned(ctx, 'grads', count);
      const m = upload(ctx, 'm', new Float32Array(count));
      const v = upload(ctx, 'v', new Float32Array(count));
      const adamw = await prepareAdamW(ctx, { params, grads, m, v, count });
      const p = Float64Array.from(p0);
      const m64 = new Float64Array(count);
      const v64 = new Float64Array(count);
      const mMagnitude = new Float64Array(count);
      for (let step = 1; step <= STEPS; step++) {
        // Gradients of mixed scale, so eps and the bias corrections both matter.
        const g = randomArray(count, random, step % 2 ? 1 : 1e-2);
        const h = { ...hyper, lr: hyper.lr * (1 + 0.5 * step), step };
        writeBuffer(ctx, grads, g);
        adamw.setHyper(h);
        await run(ctx, adamw.dispatch);
        adamwStepRef(p, m64, v64, g, h);
        for (let i = 0; i < count; i++) mMagnitude[i] = hyper.beta1 * mMagnitude[i]! + (1 - hyper.beta1) * Math.abs(g[i]!);
      }
      const out = await download(ctx, params, count);
      const what = `${name} count=${count}`;
      assertClose(delta(out, p0), delta(p, p0), `${what}: parameter change`, updateTolerance(p, delta(p, p0)));
      assertClose(out, p, `${what}: parameters`);
      assertClose(await download(ctx, m, count), m64, `${what}: first moment`, bufferTolerance(mMagnitude, m64));
      assertClose(await download(ctx, v, count), v64, `${what}: second moment`);
    }
  });
}

test('a step taken before setHyper poisons the parameters instead of silently doing nothing', async () => {
  const ctx = await testGpu();
  const count = 7;
  const params = upload(ctx, 'params', randomArray(count, rng(3)));
  const grads = upload(ctx, 'grads', randomArray(count, rng(4)));
  const sgd = await prepareSgd(ctx, { params, grads, momentumBuffer: poisoned(ctx, 'momentum', count), count });
  await run(ctx, sgd.dispatch);
  assert.ok((await download(ctx, params, count)).every(Number.isNaN), 'parameters after an SGD step without hyper-parameters');
});

test('invalid hyper-parameters are refused with the kernel, the name and the value', async () => {
  const ctx = await testGpu();
  const t = () => upload(ctx, 't', new Float32Array(4));
  const sgd = await prepareSgd(ctx, { params: t(), grads: t(), momentumBuffer: t(), count: 4 });
  const adamw = await prepareAdamW(ctx, { params: t(), grads: t(), m: t(), v: t(), count: 4 });
  const okSgd = { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false, firstStep: true };
  const okAdam = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
  const cases: [() => void, RegExp][] = [
    [() => sgd.setHyper({ ...okSgd, lr: -1 }), /sgd: hyper-parameter lr must be a finite number >= 0 \(got -1\)/],
    [() => sgd.setHyper({ ...okSgd, lr: NaN }), /sgd: hyper-parameter lr .*\(got NaN\)/],
    [() => sgd.setHyper({ ...okSgd, momentum: -0.5 }), /sgd: hyper-parameter momentum .*\(got -0.5\)/],
    [() => sgd.setHyper({ ...okSgd, momentum: 0, nesterov: true }), /sgd: Nesterov momentum needs momentum > 0 and dampening = 0/],
    [() => adamw.setHyper({ ...okAdam, beta1: 1 }), /adamw: hyper-parameter beta1 must be a finite number in \[0, 1\) \(got 1\)/],
    [() => adamw.setHyper({ ...okAdam, beta2: -0.1 }), /adamw: hyper-parameter beta2 .*\(got -0.1\)/],
    [() => adamw.setHyper({ ...okAdam, eps: 0 }), /adamw: eps must be > 0.*\(got 0\)/],
    [() => adamw.setHyper({ ...okAdam, lr: Infinity }), /adamw: hyper-parameter lr .*\(got Infinity\)/],
    [() => adamw.setHyper({ ...okAdam, step: 0 }), /adamw: step .* must be a whole number >= 1 \(got 0\)/],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, message);
  }
  try {
    await prepareSgd(ctx, { params: t(), grads: t(), momentumBuffer: t(), count: 5 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /sgd: params .* holds 4 floats, needs count=5/);
  }
});

/** Tensors of random lengths (1 to 300 floats, so ranges straddle 32-bit mask words) alternating decay and no decay. */
function interleavedRanges(count: number, random: () => number): DecayRange[] {
  const ranges: DecayRange[] = [];
  let decays = random() < 0.5;
  for (let offset = 0; offset < count;) {
    const n = Math.min(count - offset, 1 + Math.floor(random() * 300));
    ranges.push({ offset, count: n, decays });
    offset += n;
    decays = !decays;
  }
  return ranges;
}

test(`AdamW with a weight-decay mask: ${STEPS} steps match torch.optim.AdamW with two parameter groups (decay, no decay)`, async () => {
  const ctx = await testGpu();
  const hyper = { lr: 3e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5 };
  let seed = 0;
  for (const count of COUNTS) {
    const random = rng(++seed * 331 + 5);
    const ranges = interleavedRanges(count, random);
    const p0 = randomArray(count, random);
    const params = upload(ctx, 'params', p0);
    const grads = poisoned(ctx, 'grads', count);
    const m = upload(ctx, 'm', new Float32Array(count));
    const v = upload(ctx, 'v', new Float32Array(count));
    const decayMask = upload(ctx, 'decay mask', weightDecayMask(count, ranges));
    const adamw = await prepareAdamW(ctx, { params, grads, m, v, count, decayMask });
    const p = Float64Array.from(p0);
    const m64 = new Float64Array(count);
    const v64 = new Float64Array(count);
    for (let step = 1; step <= STEPS; step++) {
      const g = randomArray(count, random, step % 2 ? 1 : 1e-2);
      const h = { ...hyper, lr: hyper.lr * (1 + 0.5 * step), step };
      writeBuffer(ctx, grads, g);
      adamw.setHyper(h);
      await run(ctx, adamw.dispatch);
      for (const r of ranges) {
        const part = (a: Float64Array) => a.subarray(r.offset, r.offset + r.count);
        adamwStepRef(part(p), part(m64), part(v64), g.subarray(r.offset, r.offset + r.count), { ...h, weightDecay: r.decays ? h.weightDecay : 0 });
      }
    }
    const out = await download(ctx, params, count);
    const what = `masked AdamW count=${count} (${ranges.length} tensors)`;
    assertClose(delta(out, p0), delta(p, p0), `${what}: parameter change`, updateTolerance(p, delta(p, p0)));
    assertClose(out, p, `${what}: parameters`);
    // The decay must show: the same steps without any decay land measurably elsewhere on decayed tensors.
    if (ranges.some((r) => r.decays)) {
      const noDecay = Float64Array.from(p0);
      const m0 = new Float64Array(count);
      const v0 = new Float64Array(count);
      const random2 = rng(seed * 331 + 5);
      interleavedRanges(count, random2);
      randomArray(count, random2);
      for (let step = 1; step <= STEPS; step++) {
        adamwStepRef(noDecay, m0, v0, randomArray(count, random2, step % 2 ? 1 : 1e-2), { ...hyper, lr: hyper.lr * (1 + 0.5 * step), step, weightDecay: 0 });
      }
      assert.ok(ranges.filter((r) => r.decays).some((r) => Math.abs(out[r.offset]! - noDecay[r.offset]!) > 1e-3 * Math.abs(p0[r.offset]!)),
        `${what}: decayed tensors differ from an undecayed run`);
    }
  }
});

test(`SGD and AdamW with a decay mask and a gradient scale (clip_grad_norm_ fused): ${STEPS} steps match torch with two parameter groups on scaled gradients`, async () => {
  const ctx = await testGpu();
  const sgdHyper = { lr: 0.05, momentum: 0.9, weightDecay: 0.05, nesterov: true };
  const adamHyper = { lr: 3e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5 };
  let seed = 0;
  for (const count of [33, 1000, 203_530]) {
    const random = rng(++seed * 577 + 3);
    const ranges = interleavedRanges(count, random);
    const decayMask = upload(ctx, 'decay mask', weightDecayMask(count, ranges));
    const groups = (step: (part: (a: Float64Array) => Float64Array, decays: boolean) => void) => {
      for (const r of ranges) step((a) => a.subarray(r.offset, r.offset + r.count), r.decays);
    };
    const p0 = randomArray(count, random);
    const grads = poisoned(ctx, 'grads', count);
    // (norm, scale): the norm slot is NaN, so a kernel that read it instead of the scale poisons the step.
    const gradScale = upload(ctx, 'clip', new Float32Array([NaN, NaN]));
    const sgdParams = upload(ctx, 'sgd params', p0);
    const momentumBuffer = poisoned(ctx, 'momentum', count);
    const sgd = await prepareSgd(ctx, { params: sgdParams, grads, momentumBuffer, count, decayMask, gradScale });
    const adamParams = upload(ctx, 'adamw params', p0);
    const m = upload(ctx, 'm', new Float32Array(count));
    const v = upload(ctx, 'v', new Float32Array(count));
    const adamw = await prepareAdamW(ctx, { params: adamParams, grads, m, v, count, decayMask, gradScale });
    const [pSgd, buf, pAdam, m64, v64] = [Float64Array.from(p0), new Float64Array(count), Float64Array.from(p0), new Float64Array(count), new Float64Array(count)];
    let g = randomArray(0, random);
    for (let step = 1; step <= STEPS; step++) {
      g = randomArray(count, random, step % 2 ? 1 : 1e-2);
      const scale = step === 3 ? 1 : 0.3 + 0.1 * step; // 1: a norm under max_norm
      writeBuffer(ctx, grads, g);
      writeBuffer(ctx, gradScale, new Float32Array([NaN, scale]));
      const hs = { ...sgdHyper, lr: sgdHyper.lr * 0.8 ** step, firstStep: step === 1 };
      const ha = { ...adamHyper, lr: adamHyper.lr * (1 + 0.5 * step), step };
      sgd.setHyper(hs);
      adamw.setHyper(ha);
      await run(ctx, [sgd.dispatch, adamw.dispatch]);
      const scaled = Float64Array.from(g, (x) => x * Math.fround(scale));
      groups((part, decays) => {
        sgdStepRef(part(pSgd), part(buf), part(scaled), { ...hs, weightDecay: decays ? hs.weightDecay : 0 });
        adamwStepRef(part(pAdam), part(m64), part(v64), part(scaled), { ...ha, weightDecay: decays ? ha.weightDecay : 0 });
      });
    }
    const what = `count=${count} (${ranges.length} tensors)`;
    const sgdOut = await download(ctx, sgdParams, count);
    assertClose(delta(sgdOut, p0), delta(pSgd, p0), `masked, scaled SGD ${what}: parameter change`, updateTolerance(pSgd, delta(pSgd, p0)));
    assertClose(await download(ctx, momentumBuffer, count), buf, `masked, scaled SGD ${what}: momentum buffer`, 1e-4);
    const adamOut = await download(ctx, adamParams, count);
    assertClose(delta(adamOut, p0), delta(pAdam, p0), `masked, scaled AdamW ${what}: parameter change`, updateTolerance(pAdam, delta(pAdam, p0)));
    assertClose(await download(ctx, v, count), v64, `masked, scaled AdamW ${what}: second moment`);
    assertBitwiseEqual(await download(ctx, grads, count), g, `${what}: the gradients are read, not scaled in place`);
  }
});

test('an all-ones mask gives the unmasked AdamW bit for bit, an all-zeros mask AdamW with weight decay 0', async () => {
  const ctx = await testGpu();
  const count = 1000;
  const random = rng(4040);
  const p0 = randomArray(count, random);
  const g = randomArray(count, random);
  const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: 3 };
  const stepWith = async (weightDecay: number, decays?: boolean) => {
    const params = upload(ctx, 'params', p0);
    const args = { params, grads: upload(ctx, 'grads', g), m: upload(ctx, 'm', g), v: upload(ctx, 'v', g.map((x) => x * x)), count };
    const decayMask = decays === undefined ? undefined : upload(ctx, 'mask', weightDecayMask(count, [{ offset: 0, count, decays }]));
    const adamw = await prepareAdamW(ctx, decayMask ? { ...args, decayMask } : args);
    adamw.setHyper({ ...hyper, weightDecay });
    await run(ctx, adamw.dispatch);
    return download(ctx, params, count);
  };
  assertBitwiseEqual(await stepWith(0.1, true), await stepWith(0.1), 'all-ones mask vs no mask');
  assertBitwiseEqual(await stepWith(0.1, false), await stepWith(0), 'all-zeros mask vs weight decay 0');
});

test('weightDecayMask sets one bit per decayed element and refuses ranges past the buffer', () => {
  const bits = weightDecayMask(70, [{ offset: 0, count: 3, decays: true }, { offset: 3, count: 30, decays: false }, { offset: 33, count: 33, decays: true }]);
  assert.is(bits.length, 3);
  for (let i = 0; i < 70; i++) {
    const expected = i < 3 || (i >= 33 && i < 66) ? 1 : 0;
    assert.is((bits[i >>> 5]! >>> (i & 31)) & 1, expected, `bit ${i}`);
  }
  assert.throws(() => weightDecayMask(10, [{ offset: 5, count: 6, decays: true }]), /weightDecayMask: range 5\.\.11 is past the 10 floats/);
});

test('a decay mask too small for count is refused with the sizes', async () => {
  const ctx = await testGpu();
  const t = () => upload(ctx, 't', new Float32Array(200));
  try {
    await prepareAdamW(ctx, { params: t(), grads: t(), m: t(), v: t(), count: 200, decayMask: upload(ctx, 'mask', new Uint32Array(4)) });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /adamw: decayMask .* holds 4 u32 words, needs 7 for count=200 \(one bit per element\)/);
  }
});

test('a gradient scale buffer without its (norm, scale) pair is refused with the sizes, by SGD and AdamW', async () => {
  const ctx = await testGpu();
  const t = () => upload(ctx, 't', new Float32Array(8));
  const short = { buffer: upload(ctx, 'clip', new Float32Array(4)), offset: 0, size: 4 };
  const cases: [string, () => Promise<unknown>][] = [
    ['sgd', () => prepareSgd(ctx, { params: t(), grads: t(), momentumBuffer: t(), count: 8, gradScale: short })],
    ['adamw', () => prepareAdamW(ctx, { params: t(), grads: t(), m: t(), v: t(), count: 8, gradScale: short })],
  ];
  for (const [name, prepare] of cases) {
    try {
      await prepare();
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.match((e as Error).message, new RegExp(`${name}: gradScale .* holds 1 floats?, needs 2 for its \\(norm, scale\\) pair`));
    }
  }
});

test.after(() => closeTestGpu());
test.run();
