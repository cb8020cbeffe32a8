import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeBuffer } from '../../src/gpu/buffers.js';
import { prepareEmbeddingBackward, prepareEmbeddingForward, type EmbeddingShape } from '../../src/kernels/embedding.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { embeddingBackwardRef, embeddingRef, finiteDifferences } from '../helpers/lm-reference.js';
import { randomArray, randomLabels, rng } from '../helpers/random.js';

const test = suite('embedding');

// [B, T, C, V]: everything 1; T = 1; C not a multiple of the 4-column groups or the workgroup;
// vocabularies of 3 (every row hit many times) and 256 (bytes, some rows absent); the baby GPT's batch.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1], [1, 1, 7, 3], [5, 1, 13, 256], [2, 5, 33, 3], [3, 7, 65, 256], [1, 64, 130, 256], [4, 9, 6, 3], [12, 64, 128, 256],
];

const shapeOf = ([batch, seqLen, channels, vocab]: [number, number, number, number]): EmbeddingShape => ({ batch, seqLen, channels, vocab });
const describe = (s: EmbeddingShape) => `B=${s.batch} T=${s.seqLen} C=${s.channels} V=${s.vocab}`;

async function backward(s: EmbeddingShape, idx: Uint32Array, dx: Float32Array): Promise<{ dwte: Float32Array; dwpe: Float32Array }> {
  const ctx = await testGpu();
  const dwte = poisoned(ctx, 'dwte', s.vocab * s.channels);
  const dwpe = poisoned(ctx, 'dwpe', s.seqLen * s.channels);
  await run(ctx, await prepareEmbeddingBackward(ctx, {
    ...s, idx: upload(ctx, 'idx', idx), dx: upload(ctx, 'dx', dx), dwte, dwpe, accumulateWte: false, accumulateWpe: false,
  }));
  return { dwte: await download(ctx, dwte, s.vocab * s.channels), dwpe: await download(ctx, dwpe, s.seqLen * s.channels) };
}

test('forward: x = wte[idx] + wpe[t] matches the float64 reference on awkward shapes', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const shape of SHAPES) {
    const s = shapeOf(shape);
    const random = rng(++seed * 389);
    const { batch: B, seqLen: T, channels: C, vocab: V } = s;
    const idx = randomLabels(B * T, V, random);
    const wte = randomArray(V * C, random);
    // wpe with more rows than T, as the model's block_size rows when a batch is shorter.
    const wpe = randomArray((T + 3) * C, random);
    const x = poisoned(ctx, 'x', B * T * C);
    await run(ctx, await prepareEmbeddingForward(ctx, { ...s, idx: upload(ctx, 'idx', idx), wte: upload(ctx, 'wte', wte), wpe: upload(ctx, 'wpe', wpe), x }));
    assertClose(await download(ctx, x, B * T * C), embeddingRef(idx, wte, wpe, s), `embedding forward ${describe(s)}`);
  }
});

test('backward: dwte sums dx over the positions of each token and dwpe over the batch, absent tokens get 0', async () => {
  let seed = 0;
  for (const shape of SHAPES) {
    const s = shapeOf(shape);
    const random = rng(++seed * 571);
    const idx = randomLabels(s.batch * s.seqLen, s.vocab, random);
    const dx = randomArray(s.batch * s.seqLen * s.channels, random);
    const out = await backward(s, idx, dx);
    const ref = embeddingBackwardRef(idx, dx, s);
    // Compared absolutely where the reference is all zeros (relativeError falls back to ‖out‖).
    assertClose(out.dwte, ref.dwte, `dwte ${describe(s)}`);
    assertClose(out.dwpe, ref.dwpe, `dwpe ${describe(s)}`);
    for (let v = 0; v < s.vocab; v++) {
      if (idx.includes(v)) continue;
      const row = out.dwte.subarray(v * s.channels, (v + 1) * s.channels);
      assert.ok(row.every((g) => Object.is(g, 0)), `dwte row ${v} of a token absent from the batch is exactly 0 (${describe(s)})`);
    }
  }
});

test('backward of a batch of one repeated token adds every position into that one row', async () => {
  const s: EmbeddingShape = { batch: 3, seqLen: 17, channels: 9, vocab: 256 };
  const idx = new Uint32Array(s.batch * s.seqLen).fill(200);
  const dx = randomArray(s.batch * s.seqLen * s.channels, rng(77));
  const out = await backward(s, idx, dx);
  assertClose(out.dwte, embeddingBackwardRef(idx, dx, s).dwte, 'dwte of one repeated token');
});

test('the reference backward is the gradient: finite differences of Σ x·dx through the float64 forward', () => {
  const s: EmbeddingShape = { batch: 2, seqLen: 3, channels: 5, vocab: 3 };
  const random = rng(4711);
  const idx = randomLabels(s.batch * s.seqLen, s.vocab, random);
  const dx = randomArray(s.batch * s.seqLen * s.channels, random);
  const wte = Float64Array.from(randomArray(s.vocab * s.channels, random));
  const wpe = Float64Array.from(randomArray(s.seqLen * s.channels, random));
  const loss = (w: Float64Array, p: Float64Array) => embeddingRef(idx, w, p, s).reduce((acc, x, i) => acc + x * dx[i]!, 0);
  const ref = embeddingBackwardRef(idx, dx, s);
  assertClose(finiteDifferences(wte, (w) => loss(w, wpe)), ref.dwte, 'dwte by finite differences', 1e-7);
  assertClose(finiteDifferences(wpe, (p) => loss(wte, p)), ref.dwpe, 'dwpe by finite differences', 1e-7);
});

test('4 micro-batches accumulated in-kernel equal one batch 4× larger, onto a tied head\'s gradient already in dwte', async () => {
  const ctx = await testGpu();
  const micro: EmbeddingShape = { batch: 3, seqLen: 11, channels: 37, vocab: 256 };
  const { seqLen: T, channels: C, vocab: V } = micro;
  const whole: EmbeddingShape = { ...micro, batch: 4 * micro.batch };
  const random = rng(2024);
  const idx = randomLabels(whole.batch * T, V, random);
  const dx = randomArray(whole.batch * T * C, random);
  const head = randomArray(V * C, random); // the lm_head's weight gradient, written into dwte first

  const dwte = upload(ctx, 'dwte', head);
  const dwpe = poisoned(ctx, 'dwpe', T * C);
  const per = micro.batch * T;
  for (let m = 0; m < 4; m++) {
    await run(ctx, await prepareEmbeddingBackward(ctx, {
      ...micro, idx: upload(ctx, 'idx part', idx.subarray(m * per, (m + 1) * per)), dx: upload(ctx, 'dx part', dx.subarray(m * per * C, (m + 1) * per * C)),
      dwte, dwpe, accumulateWte: true, accumulateWpe: m > 0,
    }));
  }
  const ref = embeddingBackwardRef(idx, dx, whole);
  assertClose(await download(ctx, dwte, V * C), ref.dwte.map((g, i) => g + head[i]!), 'accumulated dwte (tied head + 4 micro-batches)');
  assertClose(await download(ctx, dwpe, T * C), ref.dwpe, 'accumulated dwpe');
});

test('without accumulate both gradients are overwritten, whatever they held', async () => {
  const ctx = await testGpu();
  const s: EmbeddingShape = { batch: 2, seqLen: 3, channels: 5, vocab: 3 };
  const idx = randomLabels(6, 3, rng(8));
  const dx = randomArray(30, rng(9));
  const dwte = upload(ctx, 'dwte', new Float32Array(15).fill(1e3));
  const dwpe = upload(ctx, 'dwpe', new Float32Array(15).fill(-1e3));
  await run(ctx, await prepareEmbeddingBackward(ctx, { ...s, idx: upload(ctx, 'idx', idx), dx: upload(ctx, 'dx', dx), dwte, dwpe, accumulateWte: false, accumulateWpe: false }));
  const ref = embeddingBackwardRef(idx, dx, s);
  assertClose(await download(ctx, dwte, 15), ref.dwte, 'overwritten dwte');
  assertClose(await download(ctx, dwpe, 15), ref.dwpe, 'overwritten dwpe');
});

test('backward is deterministic: two runs on the baby GPT\'s batch give identical bits', async () => {
  const ctx = await testGpu();
  const s: EmbeddingShape = { batch: 12, seqLen: 64, channels: 128, vocab: 256 };
  const random = rng(99);
  // English-like skew: most positions share a few tokens, so rows sum hundreds of terms.
  const idx = randomLabels(s.batch * s.seqLen, s.vocab, random).map((v) => (v < 200 ? 32 + (v % 8) : v));
  const dx = randomArray(s.batch * s.seqLen * s.channels, random);
  const first = await backward(s, idx, dx);
  const second = await backward(s, idx, dx);
  assertBitwiseEqual(first.dwte, second.dwte, 'dwte of two runs');
  assertBitwiseEqual(first.dwpe, second.dwpe, 'dwpe of two runs');
  // And once more into the same buffers with accumulation, from a fresh copy of the first result.
  const dwte = upload(ctx, 'dwte', first.dwte);
  const dwpe = upload(ctx, 'dwpe', first.dwpe);
  const dispatches = await prepareEmbeddingBackward(ctx, { ...s, idx: upload(ctx, 'idx', idx), dx: upload(ctx, 'dx', dx), dwte, dwpe, accumulateWte: true, accumulateWpe: true });
  await run(ctx, dispatches);
  const twice = await download(ctx, dwte, s.vocab * s.channels);
  writeBuffer(ctx, dwte, first.dwte);
  await run(ctx, dispatches);
  assertBitwiseEqual(await download(ctx, dwte, s.vocab * s.channels), twice, 'accumulated dwte of two runs');
});

test('a token id >= V makes its row of x NaN and reads nothing out of bounds', async () => {
  const ctx = await testGpu();
  const s: EmbeddingShape = { batch: 1, seqLen: 3, channels: 5, vocab: 3 };
  const idx = new Uint32Array([2, 3, 0xffffffff]);
  const wte = randomArray(15, rng(5));
  const wpe = randomArray(15, rng(6));
  const x = poisoned(ctx, 'x', 15);
  await run(ctx, await prepareEmbeddingForward(ctx, { ...s, idx: upload(ctx, 'idx', idx), wte: upload(ctx, 'wte', wte), wpe: upload(ctx, 'wpe', wpe), x }));
  const out = await download(ctx, x, 15);
  assertClose(out.subarray(0, 5), embeddingRef([2], wte, wpe, { ...s, seqLen: 1, batch: 1 }), 'the good row');
  assert.ok(out.subarray(5).every(Number.isNaN), `rows of out-of-range tokens are NaN: ${Array.from(out.subarray(5))}`);
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const s: EmbeddingShape = { batch: 2, seqLen: 3, channels: 5, vocab: 3 };
  try {
    await prepareEmbeddingForward(ctx, { ...s, idx: small, wte: small, wpe: small, x: small });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /embedding_forward: idx .* holds 4 u32 token ids, needs 6 for B=2 T=3 C=5 V=3/);
  }
  try {
    await prepareEmbeddingBackward(ctx, { ...s, channels: 0, idx: small, dx: small, dwte: small, dwpe: small, accumulateWte: false, accumulateWpe: false });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /embedding_backward: channels must be a whole number >= 1 \(got 0\)/);
  }
});

test.after(() => closeTestGpu());
test.run();
