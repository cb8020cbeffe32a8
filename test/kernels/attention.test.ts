import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GpuContext } from '../../src/gpu/device.js';
import { prepareAttentionBackward, prepareAttentionForward, type AttentionShape } from '../../src/kernels/attention.js';
import { assertBitwiseEqual, assertClose, assertCloseToTerms, assertRejects, relativeError } from '../helpers/assert.js';
import { attentionBackwardRef, attentionRef } from '../helpers/attention-reference.js';
import { BASE_SEED } from '../helpers/random.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('attention');

// [batch, T, C, nHead]: T = 1; one head; many heads (hs = 3); hs = 5, 33 and 80 (not multiples of 4,
// of the 8-lane workgroup, or of the shader's 32-wide chunk, 80 takes three chunks); B = 1 and 3;
// T not a multiple of the workgroup (7, 9, 33, 65); the baby GPT's shape last.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 4, 1], [3, 1, 12, 4], [3, 7, 5, 1], [2, 9, 24, 8], [1, 33, 66, 2], [3, 17, 80, 1], [1, 65, 12, 4], [12, 64, 128, 4],
];
const shapeOf = ([batch, T, C, nHead]: [number, number, number, number]): AttentionShape => ({ batch, T, C, nHead });
const describe = (s: AttentionShape) => `B=${s.batch} T=${s.T} C=${s.C} nHead=${s.nHead}`;
/** The fused kernel saving the softmax statistics or the attention matrix, and the batched-matmul form (which saves att). */
type Saved = 'lse' | 'att' | 'batched';
const MODES: Saved[] = ['lse', 'att', 'batched'];
const variantOf = (saved: Saved) => (saved === 'batched' ? 'batched' as const : 'fused' as const);

interface Run {
  y: Float32Array;
  lse: Float32Array;
  att?: Float32Array;
  dqkv: Float32Array;
}

/** Forward then backward on fresh poisoned outputs (dqkv starts as `dqkvStart` when given). */
async function runAttention(
  ctx: GpuContext, s: AttentionShape, qkv: Float32Array, dy: Float32Array, saved: Saved,
  opts: { accumulate?: boolean; dqkvStart?: Float32Array } = {},
): Promise<Run> {
  const { batch: B, T, C, nHead } = s;
  const qkvBuffer = upload(ctx, 'qkv', qkv);
  const y = poisoned(ctx, 'y', B * T * C);
  const lse = poisoned(ctx, 'lse', B * nHead * T);
  const att = saved !== 'lse' ? poisoned(ctx, 'att', B * nHead * T * T) : undefined;
  const dqkv = opts.dqkvStart ? upload(ctx, 'dqkv', opts.dqkvStart) : poisoned(ctx, 'dqkv', B * T * 3 * C);
  const variant = variantOf(saved);
  const forward = await prepareAttentionForward(ctx, { ...s, qkv: qkvBuffer, y, lse, att, variant });
  const backward = await prepareAttentionBackward(ctx, {
    ...s, qkv: qkvBuffer, y, lse, att, dy: upload(ctx, 'dy', dy), dqkv, accumulate: opts.accumulate ?? false, variant,
  });
  await run(ctx, [...forward, ...backward]);
  const out: Run = {
    y: await download(ctx, y, B * T * C),
    lse: await download(ctx, lse, B * nHead * T),
    dqkv: await download(ctx, dqkv, B * T * 3 * C),
  };
  if (att) out.att = await download(ctx, att, B * nHead * T * T);
  return out;
}

function inputs(s: AttentionShape, seed: number, qkvScale = 1): { qkv: Float32Array; dy: Float32Array } {
  return {
    qkv: randomArray(s.batch * s.T * 3 * s.C, rng(seed), qkvScale),
    dy: randomArray(s.batch * s.T * s.C, rng(seed + 1)),
  };
}

for (const saved of MODES) {
  test(`forward and backward match the float64 reference on awkward shapes (${saved === 'batched' ? 'batched matmuls' : `fused, saving ${saved}`})`, async () => {
    const ctx = await testGpu();
    let seed = MODES.indexOf(saved) * 500;
    for (const shape of SHAPES) {
      const s = shapeOf(shape);
      const { qkv, dy } = inputs(s, (seed += 10));
      const out = await runAttention(ctx, s, qkv, dy, saved);
      const ref = attentionRef(qkv, s);
      assertClose(out.y, ref.y, `y ${describe(s)}`);
      assertCloseToTerms(out.lse, ref.lse, ref.lseTerms, `lse ${describe(s)}`);
      if (out.att) assertClose(out.att, ref.att, `att ${describe(s)}`);
      assertClose(out.dqkv, attentionBackwardRef(qkv, dy, s), `dqkv ${describe(s)} (saving ${saved})`, 2e-5);
    }
  });
}

test('scores in the hundreds neither overflow nor lose the softmax (running max)', async () => {
  // q and k of ±8 give |scores| up to 64·√hs ≈ 360 at hs = 32: exp of them overflows f32 unless
  // the maximum is subtracted, and the softmax is nearly one-hot.
  const ctx = await testGpu();
  const s = { batch: 2, T: 20, C: 64, nHead: 2 };
  const { qkv, dy } = inputs(s, 7000, 8);
  for (const saved of MODES) {
    const out = await runAttention(ctx, s, qkv, dy, saved);
    const ref = attentionRef(qkv, s);
    assertClose(out.y, ref.y, `y with large scores (saving ${saved})`);
    assertCloseToTerms(out.lse, ref.lse, ref.lseTerms, `lse with large scores (saving ${saved})`);
    assertClose(out.dqkv, attentionBackwardRef(qkv, dy, s), `dqkv with large scores (saving ${saved})`, 2e-5);
  }
});

test('the float64 reference backward agrees with central finite differences of the reference forward', () => {
  // Loss = Σ w·y with random w, so dL/dy = w; shapes with T > 1, two heads, hs = 3, batch 2.
  const s = { batch: 2, T: 5, C: 6, nHead: 2 };
  const qkv = Float64Array.from(randomArray(s.batch * s.T * 3 * s.C, rng(8100)));
  const w = Float64Array.from(randomArray(s.batch * s.T * s.C, rng(8101)));
  const loss = (x: Float64Array) => attentionRef(x, s).y.reduce((sum, v, i) => sum + v * w[i]!, 0);
  const analytic = attentionBackwardRef(qkv, w, s);
  const numeric = new Float64Array(qkv.length);
  const eps = 1e-5;
  for (let i = 0; i < qkv.length; i++) {
    const plus = Float64Array.from(qkv);
    const minus = Float64Array.from(qkv);
    plus[i]! += eps;
    minus[i]! -= eps;
    numeric[i] = (loss(plus) - loss(minus)) / (2 * eps);
  }
  const err = relativeError(analytic, numeric);
  assert.ok(err < 1e-8, `reference gradient vs finite differences: relative error ${err} (TEST_SEED=${BASE_SEED})`);
  // The gradient must not be trivially zero: q, k and v all receive some.
  for (const part of [0, 1, 2]) {
    let norm = 0;
    for (let t = 0; t < s.batch * s.T; t++) for (let c = 0; c < s.C; c++) norm += analytic[t * 3 * s.C + part * s.C + c]! ** 2;
    assert.ok(norm > 1e-6, `part ${part} of dqkv is zero`);
  }
});

test('without accumulate dqkv is overwritten; with it, the gradient is added to what dqkv held', async () => {
  const ctx = await testGpu();
  const s = { batch: 3, T: 11, C: 40, nHead: 5 };
  const { qkv, dy } = inputs(s, 9000);
  const held = randomArray(s.batch * s.T * 3 * s.C, rng(9002), 3);
  const ref = attentionBackwardRef(qkv, dy, s);
  for (const saved of MODES) {
    const overwritten = await runAttention(ctx, s, qkv, dy, saved, { dqkvStart: held, accumulate: false });
    assertClose(overwritten.dqkv, ref, `overwritten dqkv (saving ${saved})`, 2e-5);
    const added = await runAttention(ctx, s, qkv, dy, saved, { dqkvStart: held, accumulate: true });
    assertClose(added.dqkv, Float64Array.from(ref, (g, i) => g + held[i]!), `accumulated dqkv (saving ${saved})`, 2e-5);
  }
});

test('2 micro-batches accumulated in-kernel equal the sum of their gradients', async () => {
  const ctx = await testGpu();
  const s = { batch: 2, T: 9, C: 24, nHead: 3 };
  const first = inputs(s, 9100);
  const second = inputs(s, 9200);
  const a = attentionBackwardRef(first.qkv, first.dy, s);
  const b = attentionBackwardRef(second.qkv, second.dy, s);
  for (const variant of ['fused', 'batched'] as const) {
    const dqkv = poisoned(ctx, 'dqkv', s.batch * s.T * 3 * s.C);
    for (const [m, { qkv, dy }] of [first, second].entries()) {
      const qkvBuffer = upload(ctx, 'qkv', qkv);
      const y = poisoned(ctx, 'y', s.batch * s.T * s.C);
      const lse = poisoned(ctx, 'lse', s.batch * s.nHead * s.T);
      const att = variant === 'batched' ? poisoned(ctx, 'att', s.batch * s.nHead * s.T * s.T) : undefined;
      await run(ctx, [
        ...(await prepareAttentionForward(ctx, { ...s, qkv: qkvBuffer, y, lse, att, variant })),
        ...(await prepareAttentionBackward(ctx, { ...s, qkv: qkvBuffer, y, lse, att, dy: upload(ctx, 'dy', dy), dqkv, accumulate: m > 0, variant })),
      ]);
    }
    assertClose(await download(ctx, dqkv, a.length), Float64Array.from(a, (g, i) => g + b[i]!), `accumulated micro-batches (${variant})`, 2e-5);
  }
});

test('reruns are bit-identical (forward outputs and gradients, both saving modes)', async () => {
  const ctx = await testGpu();
  const s = { batch: 3, T: 33, C: 66, nHead: 2 };
  const { qkv, dy } = inputs(s, 9300);
  for (const saved of MODES) {
    const a = await runAttention(ctx, s, qkv, dy, saved);
    const b = await runAttention(ctx, s, qkv, dy, saved);
    assertBitwiseEqual(a.y, b.y, `y rerun (saving ${saved})`);
    assertBitwiseEqual(a.lse, b.lse, `lse rerun (saving ${saved})`);
    assertBitwiseEqual(a.dqkv, b.dqkv, `dqkv rerun (saving ${saved})`);
    if (a.att && b.att) assertBitwiseEqual(a.att, b.att, 'att rerun');
  }
});

test('causal mask: changing a future position leaves every earlier output and dq bit for bit unchanged', async () => {
  const ctx = await testGpu();
  const s = { batch: 3, T: 23, C: 40, nHead: 4 };
  const { qkv, dy } = inputs(s, 9400);
  const [b0, t0] = [1, 13];
  const changedQkv = Float32Array.from(qkv);
  const changedDy = Float32Array.from(dy);
  const freshRow = randomArray(3 * s.C, rng(9401));
  changedQkv.set(freshRow, (b0 * s.T + t0) * 3 * s.C);
  changedDy.set(randomArray(s.C, rng(9402)), (b0 * s.T + t0) * s.C);
  for (const saved of MODES) {
    const before = await runAttention(ctx, s, qkv, dy, saved);
    const after = await runAttention(ctx, s, changedQkv, changedDy, saved);
    for (let b = 0; b < s.batch; b++) {
      const until = b === b0 ? t0 : s.T; // other sequences must not move at all either
      const rows = (x: Float32Array, width: number) => x.slice(b * s.T * width, (b * s.T + until) * width);
      assertBitwiseEqual(rows(after.y, s.C), rows(before.y, s.C), `y of sequence ${b} before position ${until} (saving ${saved})`);
      for (let h = 0; h < s.nHead; h++) {
        const at = (b * s.nHead + h) * s.T;
        assertBitwiseEqual(after.lse.slice(at, at + until), before.lse.slice(at, at + until), `lse of sequence ${b} head ${h} (saving ${saved})`);
      }
      // dq_t depends on q_t, dy_t and keys/values at s ≤ t only.
      for (let t = 0; t < until; t++) {
        const at = (b * s.T + t) * 3 * s.C;
        assertBitwiseEqual(after.dqkv.slice(at, at + s.C), before.dqkv.slice(at, at + s.C), `dq of sequence ${b} position ${t} (saving ${saved})`);
      }
    }
    // The change did reach the changed position itself, so the comparison above was not vacuous.
    const at = (b0 * s.T + t0) * s.C;
    assert.not.equal(Array.from(after.y.slice(at, at + s.C)), Array.from(before.y.slice(at, at + s.C)), 'y at the changed position moved');
  }
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const big = upload(ctx, 'big', new Float32Array(1000));
  await assertRejects(() => prepareAttentionForward(ctx, { batch: 1, T: 2, C: 6, nHead: 4, qkv: big, y: big, lse: big }),
    /attention_forward: C must be a multiple of nHead \(got C=6 nHead=4\)/);
  await assertRejects(() => prepareAttentionForward(ctx, { batch: 2, T: 3, C: 4, nHead: 2, qkv: small, y: big, lse: big }),
    /attention_forward: qkv .* holds 4 floats, needs 72 for batch=2 T=3 C=4 nHead=2/);
  await assertRejects(() => prepareAttentionForward(ctx, { batch: 2, T: 3, C: 4, nHead: 2, qkv: big, y: big, lse: big, att: small }),
    /attention_forward: att .* holds 4 floats, needs 36/);
  await assertRejects(() => prepareAttentionBackward(ctx, {
    batch: 2, T: 3, C: 4, nHead: 2, qkv: big, y: big, lse: big, dy: big, dqkv: small, accumulate: false,
  }), /attention_backward: dqkv .* holds 4 floats, needs 72/);
  await assertRejects(() => prepareAttentionForward(ctx, { batch: 1, T: 0, C: 4, nHead: 2, qkv: big, y: big, lse: big }),
    /attention_forward: T must be a whole number >= 1 \(got 0\)/);
  await assertRejects(() => prepareAttentionForward(ctx, { batch: 1, T: 2, C: 4, nHead: 2, qkv: big, y: big, lse: big, variant: 'batched' }),
    /attention_forward: variant 'batched' saves the attention matrix; give an att buffer/);
});

test.after(() => closeTestGpu());
test.run();
