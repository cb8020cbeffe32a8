import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareCausalSoftmaxBackward, prepareCausalSoftmaxForward } from '../../src/kernels/softmax.js';
import { assertBitwiseEqual, assertClose, assertCloseToTerms } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('causal softmax');

// [matrices, T]: T = 1, one matrix, T off the 8-lane workgroup (7, 33, 65), the baby GPT's 48 × 64.
const SHAPES: [number, number][] = [[1, 1], [3, 1], [1, 7], [5, 9], [2, 33], [1, 65], [48, 64]];

/** float64: P[t, s] = softmax over s ≤ t of scale·S, 0 above the diagonal; lse per row. */
function forwardRef(x: Float32Array, Z: number, T: number, scale: number): { p: Float64Array; lse: Float64Array } {
  const p = new Float64Array(Z * T * T);
  const lse = new Float64Array(Z * T);
  for (let r = 0; r < Z * T; r++) {
    const t = r % T;
    let m = -Infinity;
    for (let s = 0; s <= t; s++) m = Math.max(m, scale * x[r * T + s]!);
    let l = 0;
    for (let s = 0; s <= t; s++) l += Math.exp(scale * x[r * T + s]! - m);
    for (let s = 0; s <= t; s++) p[r * T + s] = Math.exp(scale * x[r * T + s]! - m) / l;
    lse[r] = m + Math.log(l);
  }
  return { p, lse };
}

/** float64: dS = scale·P∘(dP − Σ_s P·dP), 0 above the diagonal. */
function backwardRef(p: ArrayLike<number>, dp: Float32Array, Z: number, T: number, scale: number): Float64Array {
  const ds = new Float64Array(Z * T * T);
  for (let r = 0; r < Z * T; r++) {
    const t = r % T;
    let d = 0;
    for (let s = 0; s <= t; s++) d += p[r * T + s]! * dp[r * T + s]!;
    for (let s = 0; s <= t; s++) ds[r * T + s] = scale * p[r * T + s]! * (dp[r * T + s]! - d);
  }
  return ds;
}

/**
 * The size of what float32 rounds on the way to each dS: scale·P·(|dP| + Σ_s P·|dP|). Where P is
 * nearly one-hot, dP − Σ P·dP cancels to far below |dP|, and its float32 error stays the size of |dP|.
 */
function backwardTerms(p: ArrayLike<number>, dp: Float32Array, Z: number, T: number, scale: number): Float64Array {
  const terms = new Float64Array(Z * T * T);
  for (let r = 0; r < Z * T; r++) {
    const t = r % T;
    let d = 0;
    for (let s = 0; s <= t; s++) d += Math.abs(p[r * T + s]! * dp[r * T + s]!);
    for (let s = 0; s <= t; s++) terms[r * T + s] = Math.abs(scale * p[r * T + s]!) * (Math.abs(dp[r * T + s]!) + d);
  }
  return terms;
}

for (const spread of [1, 60]) {
  test(`forward and backward match the float64 reference on awkward shapes (scores ±${spread})`, async () => {
    const ctx = await testGpu();
    let seed = spread;
    for (const [Z, T] of SHAPES) {
      const scale = 1 / Math.sqrt(5);
      const scores = randomArray(Z * T * T, rng(++seed * 31), spread);
      const x = upload(ctx, 'scores', scores);
      const lse = poisoned(ctx, 'lse', Z * T);
      await run(ctx, await prepareCausalSoftmaxForward(ctx, { matrices: Z, T, scale, x, lse }));
      const ref = forwardRef(scores, Z, T, scale);
      const p = await download(ctx, x, Z * T * T);
      assertClose(p, ref.p, `P matrices=${Z} T=${T}`);
      assertClose(await download(ctx, lse, Z * T), ref.lse, `lse matrices=${Z} T=${T}`);
      const dp = randomArray(Z * T * T, rng(++seed * 37));
      const dx = upload(ctx, 'dP', dp);
      await run(ctx, await prepareCausalSoftmaxBackward(ctx, { matrices: Z, T, scale, x: dx, att: x }));
      // Over 200 seeds ‖terms‖ was 1.9 to 5 times ‖dS‖ where little cancels, so 5e-6 of the terms
      // is stricter there than assertClose's 2e-5 of dS was; it is still above float32's worst case
      // for a 65-wide row, (65 + 3)·2^-24 = 4.1e-6, and those seeds measured at most 4e-8.
      assertCloseToTerms(await download(ctx, dx, Z * T * T), backwardRef(p, dp, Z, T, scale), backwardTerms(p, dp, Z, T, scale), `dS matrices=${Z} T=${T}`, 5e-6);
    }
  });
}

test('above the diagonal P and dS are exactly zero, whatever the buffer held', async () => {
  const ctx = await testGpu();
  const [Z, T] = [2, 9];
  // Poison only above the diagonal: the scores the mask hides must not reach P.
  const scores = randomArray(Z * T * T, rng(4242));
  for (let r = 0; r < Z * T; r++) for (let s = (r % T) + 1; s < T; s++) scores[r * T + s] = NaN;
  const xs = upload(ctx, 'scores', scores);
  await run(ctx, await prepareCausalSoftmaxForward(ctx, { matrices: Z, T, scale: 1, x: xs, lse: poisoned(ctx, 'lse', Z * T) }));
  const p = await download(ctx, xs, Z * T * T);
  for (let r = 0; r < Z * T; r++) for (let s = (r % T) + 1; s < T; s++) assert.is(p[r * T + s], 0, `P[${r}, ${s}]`);
  const dp = randomArray(Z * T * T, rng(4243));
  for (let r = 0; r < Z * T; r++) for (let s = (r % T) + 1; s < T; s++) dp[r * T + s] = NaN;
  const dx = upload(ctx, 'dP', dp);
  await run(ctx, await prepareCausalSoftmaxBackward(ctx, { matrices: Z, T, scale: 1, x: dx, att: xs }));
  const ds = await download(ctx, dx, Z * T * T);
  for (let r = 0; r < Z * T; r++) for (let s = 0; s < T; s++) {
    assert.ok(s > r % T ? ds[r * T + s] === 0 : Number.isFinite(ds[r * T + s]), `dS[${r}, ${s}] = ${ds[r * T + s]}`);
  }
});

test('reruns are bit-identical', async () => {
  const ctx = await testGpu();
  const [Z, T] = [6, 33];
  const scores = randomArray(Z * T * T, rng(5151), 4);
  const once = async () => {
    const x = upload(ctx, 'scores', scores);
    await run(ctx, await prepareCausalSoftmaxForward(ctx, { matrices: Z, T, scale: 0.3, x, lse: poisoned(ctx, 'lse', Z * T) }));
    return download(ctx, x, Z * T * T);
  };
  assertBitwiseEqual(await once(), await once(), 'P rerun');
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  try {
    await prepareCausalSoftmaxForward(ctx, { matrices: 2, T: 3, scale: 1, x: small, lse: small, label: 'h.0 softmax' });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /h\.0 softmax: lse .* holds 4 floats, needs 6 for matrices=2 T=3/);
  }
});

test.after(() => closeTestGpu());
test.run();
