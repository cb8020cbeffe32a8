import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  blockedWorkgroup, matmulEntry, matmulSubgroupFits, matmulTuning, matmulVec4Fits, prepareMatmul, subgroupMatmulRuns, type MatmulVariant,
} from '../../src/kernels/matmul.js';
import { assertBitwiseEqual, assertClose, assertRejects } from '../helpers/assert.js';
import { download, poisoned, run, testGpu, upload, closeTestGpu } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';
import { SUBGROUPS_EXPECTED_ON_CPU } from '../helpers/test-env.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { matmulRef } from '../helpers/reference.js';
import { prepareActivationBackward, prepareActivationForward } from '../../src/kernels/activation.js';

const test = suite('matmul');

// [M, N, K]: 1×1×1, not tile multiples, tile multiples, the MLP's shapes, tall and wide, and
// shapes that fit the vec4 entry (K % 4 == 0, M % 4 == 0) yet not its 16-row × 512-column blocks,
// and shapes the subgroup entries take in every form (M % 4 == 0, N % 4 == 0) off their 16 × 32
// blocks, with K below, at and off its steps of 4.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 13, 5], [65, 129, 33], [64, 256, 784], [64, 10, 256],
  [256, 10, 64], [1000, 3, 17], [3, 700, 9], [128, 128, 128],
  [20, 1030, 12], [68, 33, 36], [4, 7, 4], [65, 520, 8], [256, 784, 64],
  [4, 4, 1], [12, 36, 7], [36, 8, 70], [20, 1028, 13], [100, 44, 5],
];
const VARIANTS: MatmulVariant[] = ['blocked', 'blocked-vec4', 'blocked-scalar', 'narrow', 'naive', 'tiled', 'subgroup'];
/**
 * Where the device cannot run the subgroup entries (Chromium's compatibility adapter), the variant must
 * refuse with the error that says so; the caller then has nothing more to run. Where it can, false.
 */
async function refusesSubgroups(ctx: GpuContext): Promise<boolean> {
  if (subgroupMatmulRuns(ctx)) return false;
  const buf = upload(ctx, 'buf', new Float32Array(16));
  await assertRejects(() => prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, variant: 'subgroup' }),
    /variant 'subgroup' needs a device with the 'subgroups' feature and subgroups of 8 or more lanes \(this adapter: .+\); use variant 'blocked'/);
  return true;
}

/** The shapes a variant takes in a form: the vec4 and subgroup entries refuse some (tested below); 'blocked' falls back. */
const fits = (variant: MatmulVariant, M: number, N: number, K: number, transA: boolean, transB: boolean) =>
  variant === 'blocked-vec4' ? matmulVec4Fits(M, K, transA) : variant === 'subgroup' ? matmulSubgroupFits({ M, N, K, transA, transB }) : true;
const FORMS = [
  { name: 'Y = X·Wᵀ + b', transA: false, transB: true, bias: true },
  { name: 'dX = dY·W', transA: false, transB: false, bias: false },
  { name: 'dW = dYᵀ·X', transA: true, transB: false, bias: false },
];

for (const variant of VARIANTS) {
  for (const form of FORMS) {
    test(`${variant} ${form.name} matches the float64 reference on awkward shapes`, async () => {
      const ctx = await testGpu();
      if (variant === 'subgroup' && await refusesSubgroups(ctx)) return;
      let seed = 0;
      const shapes = SHAPES.filter(([M, N, K]) => fits(variant, M, N, K, form.transA, form.transB));
      const entries = new Set<string>();
      assert.ok(shapes.length >= 8, `${variant}: too few shapes to test (${shapes.length})`);
      for (const [M, N, K] of shapes) {
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
        if (variant === 'subgroup') entries.add(d.matmul!.entry!);
        const ref = matmulRef(a, b, M, N, K, { transA: form.transA, transB: form.transB, bias });
        assertClose(await download(ctx, c, M * N), ref, `${variant} ${form.name} M=${M} N=${N} K=${K}`);
      }
      // Packed matrices: both the scalar and the vec4f subgroup entry of this form ran (K % 4 decides, but for dW).
      if (variant === 'subgroup') assert.ok(entries.size === 2 || form.transA, `subgroup ${form.name} ran ${[...entries].join(', ')}`);
    });
  }
}

// Batched products reached in place inside larger tensors, as attention's per-head products are:
// [outer, inner] batches of op(A) M×K, op(B) K×N, C M×N, each operand at its own base offset and
// strides, rows longer than the matrix (lda/ldb/ldc), and gaps in C that must stay untouched.
// [M, N, K, outer, inner]: one batch, T = 1, shapes off every tile, the baby GPT's head shapes.
const BATCHED: [number, number, number, number, number][] = [
  [1, 1, 1, 1, 1], [7, 5, 3, 2, 3], [1, 9, 4, 3, 1], [17, 33, 6, 1, 2], [64, 64, 32, 2, 4], [64, 32, 64, 3, 2],
  [20, 12, 7, 2, 3], [12, 8, 20, 2, 2],
];
for (const variant of ['blocked', 'blocked-scalar', 'narrow', 'naive', 'tiled', 'subgroup'] as const) {
  for (const form of FORMS.filter((f) => !f.bias)) test(`${variant} batched ${form.name} matches the float64 reference per batch and leaves C's gaps untouched`, async () => {
    await batchedCase(variant, form.transA, form.transB);
  });
  test(`${variant} batched Y = X·Wᵀ matches the float64 reference per batch and leaves C's gaps untouched`, async () => {
    await batchedCase(variant, false, true);
  });
}
// Attention's real layout is 16-byte aligned (head width, T·3C), where the subgroup entries load vec4f.
for (const form of FORMS) {
  test(`subgroup batched ${form.name} on 16-byte aligned rows and batches (its vec4f entry) matches the float64 reference`, async () => {
    await batchedCase('subgroup', form.transA, form.transB, true);
  });
}

async function batchedCase(variant: MatmulVariant, transA: boolean, transB: boolean, aligned = false): Promise<void> {
  const ctx = await testGpu();
  if (variant === 'subgroup' && await refusesSubgroups(ctx)) return;
  let seed = 300 + (transA ? 1000 : 0) + (transB ? 2000 : 0) + (aligned ? 4000 : 0);
  const shapes = BATCHED.filter(([M, N, K]) => fits(variant, M, N, K, transA, transB) && (!aligned || (K % 4 === 0 && N % 4 === 0)));
  assert.ok(shapes.length >= 3, `${variant}: too few batched shapes to test (${shapes.length})`);
  const entries = new Set<string>();
  for (const [M, N, K, outer, inner] of shapes) {
    const random = rng(++seed * 104729);
    // Stored matrices: rows of the stored form, padded by a few floats; batches laid out inner-fastest
    // with gaps. Aligned: every row, gap and base a multiple of 4 floats.
    const pad = (n: number, by: number) => (aligned ? Math.ceil(n / 4) * 4 + 4 : n + by);
    const stored = (rows: number, cols: number) => ({ rows, cols, ld: pad(cols, 3) });
    const A = transA ? stored(K, M) : stored(M, K);
    const B = transB ? stored(N, K) : stored(K, N);
    const C = stored(M, N);
    const layout = (m: { rows: number; ld: number }, base: number) => {
      const innerStride = pad(m.rows * m.ld, 5);
      return { base, innerStride, outer: pad(inner * innerStride, 7) };
    };
    const la = layout(A, aligned ? 4 : 2), lb = layout(B, aligned ? 8 : 11), lc = layout(C, aligned ? 12 : 1);
    const size = (l: { base: number; outer: number }) => l.base + outer * l.outer;
    const a = randomArray(size(la), random);
    const b = randomArray(size(lb), random);
    const c = poisoned(ctx, 'C', size(lc));
    const d = await prepareMatmul(ctx, {
      a: upload(ctx, 'A', a), b: upload(ctx, 'B', b), c, M, N, K, transA, transB, variant, lda: A.ld, ldb: B.ld, ldc: C.ld,
      batch: { count: outer * inner, inner, a: la, b: lb, c: lc },
    });
    entries.add(d.matmul!.entry!);
    await run(ctx, d);
    const got = await download(ctx, c, size(lc));
    const written = new Uint8Array(size(lc));
    for (let z = 0; z < outer * inner; z++) {
      const at = (l: { base: number; outer: number; innerStride: number }) => l.base + Math.floor(z / inner) * l.outer + (z % inner) * l.innerStride;
      const pack = (src: Float32Array, off: number, m: { rows: number; cols: number; ld: number }) => {
        const out = new Float32Array(m.rows * m.cols);
        for (let r = 0; r < m.rows; r++) for (let q = 0; q < m.cols; q++) out[r * m.cols + q] = src[off + r * m.ld + q]!;
        return out;
      };
      const ref = matmulRef(pack(a, at(la), A), pack(b, at(lb), B), M, N, K, { transA, transB });
      const out = new Float32Array(M * N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        out[i * N + j] = got[at(lc) + i * C.ld + j]!;
        written[at(lc) + i * C.ld + j] = 1;
      }
      assertClose(out, ref, `${variant} batch ${z} of ${outer}×${inner} M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`);
    }
    for (let i = 0; i < got.length; i++) {
      if (!written[i]) assert.ok(Number.isNaN(got[i]), `${variant} M=${M} N=${N} K=${K}: C[${i}], outside every batch, was written (${got[i]})`);
    }
  }
  // The subgroup variant's vec4f entries run exactly where rows and batches are aligned.
  if (variant === 'subgroup') assert.equal([...entries].map((e) => e.endsWith('4')), [aligned], `entries ${[...entries].join(', ')}`);
}

// 'tiled' (workgroup memory, for discrete GPUs) must give the very numbers the other entries give, so
// that a run's results never depend on which entry the adapter's tuning picked: the same fma chain in
// k order from 0, then bias, then the accumulate add. Shapes straddle its 64×64 blocks and 16-wide k
// slices; inputs include exact zeros and tiny values, and in 'underflow' every product underflows,
// so outputs are +0 or -0 (the sign of the last product): there, running the zero padding of the last
// k slice would turn -0 into +0 (lavapipe flushes these to +0, so the check bites only on adapters that
// keep -0; reversing the k order within a slice fails every form here). With 'extras', bias is added and C starts from values to accumulate into.
const BITWISE: [number, number, number][] = [
  [1, 1, 1], [7, 13, 5], [65, 129, 33], [64, 64, 16], [130, 70, 47], [1, 300, 1], [200, 1, 17], [3, 700, 9], [96, 80, 100],
  [20, 36, 13], [4, 4, 1],
];
for (const form of FORMS) {
  test(`'tiled' and 'subgroup' ${form.name} equal 'blocked-scalar' and 'naive' bit for bit, with and without bias and accumulate`, async () => {
    const ctx = await testGpu();
    let seed = 500 + (form.transA ? 1 : 0) + (form.transB ? 2 : 0);
    let subgroupShapes = 0;
    const subgroups = !(await refusesSubgroups(ctx));
    for (const [M, N, K] of BITWISE) {
      for (const mode of ['plain', 'extras', 'underflow'] as const) {
        const extras = mode === 'extras';
        const random = rng(++seed * 6007);
        const awkward = (n: number) => {
          const x = randomArray(n, random);
          for (let i = 0; i < n; i++) if (i % 7 === 3) x[i] = 0; else if (i % 11 === 5 || mode === 'underflow') x[i] = x[i]! * 1e-25;
          return x;
        };
        const a = upload(ctx, 'A', awkward(M * K));
        const b = upload(ctx, 'B', awkward(K * N));
        const bias = extras ? upload(ctx, 'bias', awkward(N)) : undefined;
        const before = randomArray(M * N, random);
        const results = new Map<MatmulVariant, Float32Array>();
        for (const variant of ['blocked-scalar', 'naive', 'tiled', 'subgroup'] as const) {
          if (!fits(variant, M, N, K, form.transA, form.transB) || (variant === 'subgroup' && !subgroups)) continue;
          const c = extras ? upload(ctx, 'C', before) : poisoned(ctx, 'C', M * N);
          await run(ctx, await prepareMatmul(ctx, { a, b, c, M, N, K, bias, transA: form.transA, transB: form.transB, accumulate: extras, variant }));
          results.set(variant, await download(ctx, c, M * N));
        }
        const what = `${form.name} M=${M} N=${N} K=${K} ${mode}`;
        const scalar = results.get('blocked-scalar')!;
        assertBitwiseEqual(scalar, results.get('naive')!, `'blocked-scalar' vs 'naive' ${what}`);
        for (const [variant, out] of results) {
          assert.ok(out.every((v) => Number.isFinite(v)), `'${variant}' ${what}: left an output unwritten (NaN)`);
          if (variant !== 'blocked-scalar') assertBitwiseEqual(out, scalar, `'${variant}' vs 'blocked-scalar' ${what}`);
        }
        if (fits('subgroup', M, N, K, form.transA, form.transB)) subgroupShapes++;
      }
    }
    if (subgroups) assert.ok(subgroupShapes >= 3 * 4, `'subgroup' ${form.name}: compared on too few shapes (${subgroupShapes / 3})`);
  });
}

test("'tiled' has a fixed 16×16 workgroup and says so when asked for another", async () => {
  const ctx = await testGpu();
  const buf = upload(ctx, 'buf', new Float32Array(16));
  await prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, variant: 'tiled', workgroup: 256 });
  try {
    await prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, variant: 'tiled', workgroup: 64 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /matmul: variant 'tiled' has a fixed 16×16 workgroup \(got workgroup 64\); pass 256 or none/);
  }
});

test('a batched product checks that every batch fits its buffers and refuses the vec4 entry', async () => {
  const ctx = await testGpu();
  const buf = upload(ctx, 'buf', new Float32Array(100));
  const batch = { count: 4, inner: 2, a: { base: 0, outer: 40, innerStride: 16 }, b: { base: 0, outer: 0, innerStride: 0 }, c: { base: 0, outer: 0, innerStride: 0 } };
  try {
    // Batch 3 of A starts at 40 + 16 = 56 and, with rows 16 floats apart, ends at 56 + 3·16 + 4 = 108.
    await prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, lda: 16, batch, label: 'heads' });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /heads: A .* holds 100 floats, needs 108/);
  }
  await prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, lda: 4, batch, label: 'heads' });
  try {
    await prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, batch, transB: true, variant: 'blocked-vec4' });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /variant 'blocked-vec4' takes packed, unbatched A and B; use variant 'blocked'/);
  }
});

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

test('every entry adds bias and accumulates into C', async () => {
  const ctx = await testGpu();
  const random = rng(202);
  const subgroups = !(await refusesSubgroups(ctx));
  for (const variant of VARIANTS.filter((v) => v !== 'subgroup' || subgroups)) {
    for (const form of FORMS) {
      const [M, N, K] = variant === 'subgroup' ? [36, 72, 21] : [36, 70, 20]; // the subgroup entries need N % 4 == 0
      const a = randomArray(M * K, random);
      const b = randomArray(K * N, random);
      const bias = randomArray(N, random);
      const before = randomArray(M * N, random);
      const c = upload(ctx, 'C', before);
      await run(ctx, await prepareMatmul(ctx, {
        a: upload(ctx, 'A', a), b: upload(ctx, 'B', b), c, M, N, K, bias: upload(ctx, 'bias', bias),
        transA: form.transA, transB: form.transB, accumulate: true, variant,
      }));
      const ref = matmulRef(a, b, M, N, K, { transA: form.transA, transB: form.transB, bias });
      for (let i = 0; i < ref.length; i++) ref[i] += before[i]!;
      assertClose(await download(ctx, c, M * N), ref, `${variant} ${form.name} accumulate + bias`);
    }
  }
});

// The ReLU epilogue of a hidden layer: forward (X·Wᵀ + b, then max(·, 0)) and backward (dY·W, then
// masked by the layer's output H > 0), on every variant and, for 'subgroup', its scalar and vec4f
// entries; against the float64 reference, and bit for bit against the product followed by
// activation.ts's relu kernels (the unfused path the fused one replaces).
const EPILOGUE_SHAPES: [number, number, number][] = [[1, 1, 1], [7, 13, 5], [65, 129, 33], [64, 256, 784], [36, 72, 21], [20, 1028, 12], [12, 36, 8]];
for (const variant of VARIANTS) {
  test(`${variant}: the fused ReLU epilogues match the float64 reference and the unfused kernels bit for bit`, async () => {
    const ctx = await testGpu();
    if (variant === 'subgroup' && await refusesSubgroups(ctx)) return;
    const entries = new Set<string>();
    let seed = 0;
    let cases = 0;
    for (const [M, N, K] of EPILOGUE_SHAPES) {
      const random = rng(++seed * 5347);
      // Forward: Y = relu(X·Wᵀ + b), X [M, K], W [N, K].
      if (fits(variant, M, N, K, false, true)) {
        const [x, w, bias] = [randomArray(M * K, random), randomArray(N * K, random), randomArray(N, random)];
        const inputs = { a: upload(ctx, 'X', x), b: upload(ctx, 'W', w), bias: upload(ctx, 'bias', bias), M, N, K, transB: true, variant };
        const fused = poisoned(ctx, 'H fused', M * N);
        const d = await prepareMatmul(ctx, { ...inputs, c: fused, epilogue: 'relu' });
        await run(ctx, d);
        entries.add(d.matmul!.entry!);
        const [z, unfused] = [poisoned(ctx, 'Z', M * N), poisoned(ctx, 'H unfused', M * N)];
        await run(ctx, [await prepareMatmul(ctx, { ...inputs, c: z }), await prepareActivationForward(ctx, { z, h: unfused, count: M * N, activation: 'relu' })]);
        const got = await download(ctx, fused, M * N);
        const what = `${variant} relu(X·Wᵀ + b) M=${M} N=${N} K=${K}`;
        assertClose(got, matmulRef(x, w, M, N, K, { transB: true, bias }).map((v) => Math.max(v, 0)), what);
        assertBitwiseEqual(got, await download(ctx, unfused, M * N), `${what}: fused vs matmul + relu kernel`);
        cases++;
      }
      // Backward: dZ = (dY·W) · (H > 0), dY [M, K], W [K, N], H [M, N] about half zeros, as a ReLU's output is.
      if (fits(variant, M, N, K, false, false)) {
        const [dy, w] = [randomArray(M * K, random), randomArray(K * N, random)];
        const h = randomArray(M * N, random).map((v) => Math.max(v, 0));
        const inputs = { a: upload(ctx, 'dY', dy), b: upload(ctx, 'W', w), M, N, K, variant };
        const hBuffer = upload(ctx, 'H', h);
        const fused = poisoned(ctx, 'dZ fused', M * N);
        const d = await prepareMatmul(ctx, { ...inputs, c: fused, epilogue: { reluMask: hBuffer } });
        await run(ctx, d);
        entries.add(d.matmul!.entry!);
        const [dh, unfused] = [poisoned(ctx, 'dH', M * N), poisoned(ctx, 'dZ unfused', M * N)];
        // relu'(z) from z or from h = max(z, 0) is the same mask; the kernel reads it from the buffer it is given.
        await run(ctx, [await prepareMatmul(ctx, { ...inputs, c: dh }), await prepareActivationBackward(ctx, { z: hBuffer, dh, dz: unfused, count: M * N, activation: 'relu' })]);
        const got = await download(ctx, fused, M * N);
        const what = `${variant} (dY·W)·(H > 0) M=${M} N=${N} K=${K}`;
        const ref = matmulRef(dy, w, M, N, K, {});
        assertClose(got, ref.map((v, i) => (h[i]! > 0 ? v : 0)), what);
        assertBitwiseEqual(got, await download(ctx, unfused, M * N), `${what}: fused vs matmul + relu backward kernel`);
        cases++;
      }
    }
    assert.ok(cases >= 6, `${variant}: only ${cases} epilogue cases fit`);
    if (variant === 'subgroup') assert.equal([...entries].sort(), ['sub_ab', 'sub_ab4', 'sub_abt', 'sub_abt4'], 'the subgroup entries the epilogue ran');
  });
}

test('the ReLU epilogue refuses to accumulate, a bias beside the mask, and a mask that is C itself', async () => {
  const ctx = await testGpu();
  const buf = (n: number) => upload(ctx, 'buf', new Float32Array(n));
  const [a, b, c, mask] = [buf(16), buf(16), buf(16), buf(16)];
  await assertRejects(() => prepareMatmul(ctx, { a, b, c, M: 4, N: 4, K: 4, epilogue: 'relu', accumulate: true, label: 'layer' }),
    /layer: an activation epilogue \(relu\) cannot accumulate into C: it applies to a whole product; run the product, then the activation/);
  await assertRejects(() => prepareMatmul(ctx, { a, b, c, M: 4, N: 4, K: 4, epilogue: { reluMask: mask }, bias: buf(4), label: 'dX' }),
    /dX: the ReLU mask epilogue takes no bias/);
  await assertRejects(() => prepareMatmul(ctx, { a, b, c, M: 4, N: 4, K: 4, epilogue: { reluMask: c }, label: 'dX' }), /dX: C \(buf\) .*ReLU mask/);
  await assertRejects(() => prepareMatmul(ctx, { a, b: buf(32), c: buf(32), M: 4, N: 8, K: 4, epilogue: { reluMask: buf(20) }, label: 'dX' }),
    /dX: ReLU mask \(buf\) holds 20 floats, needs 32 for M=4 N=8 K=4/);
});

test("'blocked' takes the narrow entry for the 10-class layer, vec4 loads for X·Wᵀ where the adapter's tuning wants them, scalar loads otherwise", async () => {
  const ctx = await testGpu();
  const tuning = { ...matmulTuning(ctx), subgroups: false };
  const entry = (M: number, N: number, K: number, transA: boolean, transB: boolean) =>
    matmulEntry('blocked', tuning, { M, N, K, transA, transB });
  assert.is(entry(64, 10, 256, false, true), 'narrow');
  assert.is(entry(64, 256, 784, false, true), tuning.vec4TransB ? 'main_vec4' : 'main');
  assert.is(matmulEntry('blocked', { ...tuning, vec4TransB: true }, { M: 64, N: 256, K: 784, transA: false, transB: true }), 'main_vec4');
  assert.is(entry(64, 256, 783, false, true), 'main');
  assert.is(entry(256, 784, 64, true, false), 'main');
  assert.is(entry(64, 784, 256, false, false), 'main');
});

test("'blocked' takes the subgroup entry of each form where the device runs it and the shape fits (lavapipe offers subgroups of 8)", async () => {
  const ctx = await testGpu();
  const tuning = matmulTuning(ctx);
  if (ctx.isCpuAdapter && SUBGROUPS_EXPECTED_ON_CPU) assert.ok(subgroupMatmulRuns(ctx) && tuning.subgroups, `${ctx.info.description}: no subgroups of 8 lanes, so the subgroup entries are never tested`);
  assert.is(tuning.subgroups, ctx.isCpuAdapter && subgroupMatmulRuns(ctx));
  const entry = (M: number, N: number, K: number, transA: boolean, transB: boolean) =>
    matmulEntry('blocked', { ...tuning, subgroups: true }, { M, N, K, transA, transB });
  assert.is(entry(64, 256, 783, false, true), 'sub_abt');
  assert.is(entry(64, 784, 256, false, false), 'sub_ab');
  assert.is(entry(256, 784, 64, true, false), 'sub_atb');
  assert.is(entry(64, 10, 256, false, true), 'sub_abt'); // before narrow: faster there too
  assert.is(entry(64, 32, 64, false, false), 'sub_ab'); // attention's P·v per head
  assert.is(entry(64, 30, 64, false, false), 'narrow'); // N % 4 != 0, small N
  assert.is(entry(64, 782, 256, false, false), 'main'); // N % 4 != 0
  assert.is(entry(66, 784, 256, true, false), 'main'); // M % 4 != 0 with transA
});

test("'subgroup' refuses a shape it cannot take, and a fixed workgroup other than 8, and says what to use instead", async () => {
  const ctx = await testGpu();
  if (await refusesSubgroups(ctx)) return;
  const buf = upload(ctx, 'buf', new Float32Array(64));
  await assertRejects(() => prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 5, K: 4, variant: 'subgroup' }),
    /matmul: variant 'subgroup' needs N % 4 == 0 \(got M=4 N=5\); use variant 'blocked'/);
  await assertRejects(() => prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 5, N: 4, K: 4, transA: true, variant: 'subgroup' }),
    /matmul_tA: variant 'subgroup' needs N % 4 == 0 and M % 4 == 0 \(transA\) \(got M=5 N=4\)/);
  await assertRejects(() => prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, transA: true, transB: true, variant: 'subgroup' }),
    /variant 'subgroup' has no Aᵀ·Bᵀ form/);
  await assertRejects(() => prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 4, N: 4, K: 4, variant: 'subgroup', workgroup: 16 }),
    /variant 'subgroup' has a fixed workgroup of 8 lanes \(got workgroup 16\); pass 8 or none/);
});

test('the blocked workgroup is the candidate that pads the output columns least', () => {
  const tuning = { blockedWorkgroups: [16, 8], narrowWorkgroup: 8, narrowMaxN: 32, vec4TransB: false, subgroups: false };
  assert.is(blockedWorkgroup(tuning, 128), 16); // 128 columns: one workgroup of 16 × 8, no padding
  assert.is(blockedWorkgroup(tuning, 384), 16);
  assert.is(blockedWorkgroup(tuning, 784), 8); // 832 columns at 8 lanes, 896 at 16
  assert.is(blockedWorkgroup(tuning, 1), 8);
  assert.is(blockedWorkgroup({ ...tuning, blockedWorkgroups: [32] }, 128), 32);
});

test("'blocked-vec4' refuses a shape it cannot load as vec4 and says what to use instead", async () => {
  const ctx = await testGpu();
  const buf = upload(ctx, 'buf', new Float32Array(64));
  try {
    await prepareMatmul(ctx, { a: buf, b: buf, c: buf, M: 5, N: 4, K: 4, transA: true, variant: 'blocked-vec4' });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /matmul_tA: variant 'blocked-vec4' needs K % 4 == 0 and M % 4 == 0 .*got M=5 K=4.*use variant 'blocked'/);
  }
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
