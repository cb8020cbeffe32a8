import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareTokenStats } from '../../src/kernels/token-stats.js';
import { assertBitwiseEqual, assertCloseToTerms } from '../helpers/assert.js';
import { closeTestGpu, download, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, randomLabels, rng } from '../helpers/random.js';

const test = suite('token stats');

/** Float64 sums per sequence: Σ losses and #(first argmax == target). */
function tokenStatsRef(logits: Float32Array, targets: Uint32Array, losses: Float32Array, rows: number, T: number, V: number): Float64Array {
  const out = new Float64Array(2 * rows);
  for (let s = 0; s < rows; s++) {
    for (let t = 0; t < T; t++) {
      const r = s * T + t;
      let best = 0;
      for (let c = 1; c < V; c++) if (logits[r * V + c]! > logits[r * V + best]!) best = c;
      out[2 * s] += losses[r]!;
      if (best === targets[r]) out[2 * s + 1] += 1;
    }
  }
  return out;
}

// [rows, T, V]: T = 1, vocab 3 and 256, one sequence, the baby GPT's shape, rows past a workgroup.
const SHAPES: [number, number, number][] = [[1, 1, 3], [3, 5, 256], [12, 64, 256], [65, 7, 3], [2, 1, 1]];

test('sums each sequence\'s losses and correct first-argmax predictions, adding to what stats held', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const [rows, T, V] of SHAPES) {
    const random = rng(++seed * 977);
    // Few distinct values so that ties are common and the first maximum must win.
    const logits = randomArray(rows * T * V, random).map((x) => Math.round(x * 2) / 2);
    const targets = randomLabels(rows * T, V, random);
    // Half the targets sit at the row's argmax so that both outcomes occur.
    for (let r = 0; r < rows * T; r += 2) {
      let best = 0;
      for (let c = 1; c < V; c++) if (logits[r * V + c]! > logits[r * V + best]!) best = c;
      targets[r] = best;
    }
    const losses = randomArray(rows * T, random, 5).map(Math.abs);
    const before = randomArray(2 * rows, random, 3);
    const stats = upload(ctx, 'stats', before);
    const d = await prepareTokenStats(ctx, {
      logits: upload(ctx, 'logits', logits), targets: upload(ctx, 'targets', targets), losses: upload(ctx, 'losses', losses), stats, rows, positions: T, vocab: V,
    });
    await run(ctx, d);
    const ref = tokenStatsRef(logits, targets, losses, rows, T, V);
    const out = await download(ctx, stats, 2 * rows);
    const got = Array.from(out, (x, i) => x - before[i]!);
    // stats held `before`, so float32 rounds the loss sum at |before| + Σ losses (the losses are all
    // positive): a sum of 0.01 added to 3 is known only to float32's ulp at 3 (2.4e-7, a relative
    // 2e-5 of the sum), so got = stats − before is measured against that size, not the sum alone.
    const evens = (x: ArrayLike<number>) => Array.from(x).filter((_, i) => i % 2 === 0);
    const termsOf = (times: number) => Array.from(ref, (x, i) => Math.abs(before[i]!) + times * x);
    assertCloseToTerms(evens(got), evens(ref), evens(termsOf(1)), `loss sums rows=${rows} T=${T} V=${V}`, 1e-6);
    assert.equal(got.filter((_, i) => i % 2 === 1).map(Math.round), Array.from(ref.filter((_, i) => i % 2 === 1)), `correct counts rows=${rows} T=${T} V=${V}`);
    await run(ctx, d);
    const twice = await download(ctx, stats, 2 * rows);
    assertCloseToTerms(Array.from(twice, (x, i) => x - before[i]!), Array.from(ref, (x) => 2 * x), termsOf(2), `added twice rows=${rows} T=${T} V=${V}`, 1e-6);
  }
});

test('two runs give identical bits', async () => {
  const ctx = await testGpu();
  const [rows, T, V] = [12, 64, 256];
  const random = rng(31337);
  const inputs = {
    logits: upload(ctx, 'logits', randomArray(rows * T * V, random)),
    targets: upload(ctx, 'targets', randomLabels(rows * T, V, random)),
    losses: upload(ctx, 'losses', randomArray(rows * T, random, 5)),
  };
  const results: Float32Array[] = [];
  for (let i = 0; i < 2; i++) {
    const stats = upload(ctx, 'stats', new Float32Array(2 * rows));
    await run(ctx, await prepareTokenStats(ctx, { ...inputs, stats, rows, positions: T, vocab: V }));
    results.push(await download(ctx, stats, 2 * rows));
  }
  assertBitwiseEqual(results[0]!, results[1]!, 'token stats');
});

test('errors name the kernel, the tensor and the sizes', async () => {
  const ctx = await testGpu();
  const small = upload(ctx, 'small', new Float32Array(4));
  const stats = upload(ctx, 'stats', new Float32Array(4));
  const cases: [Parameters<typeof prepareTokenStats>[1], RegExp][] = [
    [{ logits: small, targets: small, losses: small, stats, rows: 0, positions: 1, vocab: 2 }, /token_stats: rows must be a whole number >= 1 \(got 0\)/],
    [{ logits: small, targets: small, losses: small, stats, rows: 2, positions: 2, vocab: 3 }, /token_stats: logits .* holds 4 floats, needs 12 for rows=2 positions=2 vocab=3/],
    [{ logits: stats, targets: small, losses: small, stats, rows: 1, positions: 1, vocab: 2 }, /token_stats: stats .* is in the same buffer as logits/],
  ];
  for (const [args, message] of cases) {
    let error: unknown;
    try {
      await prepareTokenStats(ctx, args);
    } catch (e) {
      error = e;
    }
    assert.instance(error, Error, `should have thrown ${message}`);
    assert.match((error as Error).message, message);
  }
});

test.after(() => closeTestGpu());
test.run();
