import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Autotuner, MemoryAutotuneStore, useAutotuner } from '../../src/kernels/autotune.js';
import {
  MATMUL_CANDIDATES, blockedWorkgroup, matmulCandidateName, matmulCandidates, matmulEntry, matmulShapeClass, matmulTuning,
  matmulSubgroupFits, matmulVec4Fits, prepareMatmul, subgroupMatmulRuns, type MatmulVariant,
} from '../../src/kernels/matmul.js';
import { assertRejects } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('autotune');

const FORMS = [
  { name: 'Y = X·Wᵀ + b', transA: false, transB: true, bias: true },
  { name: 'dX = dY·W', transA: false, transB: false, bias: false },
  { name: 'dW = dYᵀ·X', transA: true, transB: false, bias: false },
];
// 1×1, tall, wide, off every block (16 rows × 8·WG columns), vec4-able yet off the blocks, and
// shapes the subgroup entries take (N % 4 == 0, M % 4 == 0) off their 16 × 32 blocks and K % 4 == 0.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1000, 3, 17], [3, 700, 9], [65, 129, 33], [68, 33, 36], [20, 1030, 12], [36, 8, 70], [20, 1028, 13],
];

// What makes autotuning safe for Local SGD (autotune.ts's header): whichever candidate an adapter
// picks, the numbers are the same bits, so the choice can change speed only.
for (const form of FORMS) {
  test(`every matmul candidate, and the naive entry, gives bit-identical results for ${form.name} on awkward shapes`, async () => {
    const ctx = await testGpu();
    let seed = 0;
    for (const [M, N, K] of SHAPES) {
      const random = rng(++seed * 104729);
      const a = upload(ctx, 'A', randomArray(M * K, random));
      const b = upload(ctx, 'B', randomArray(K * N, random));
      const bias = form.bias ? upload(ctx, 'bias', randomArray(N, random)) : undefined;
      const runs: { name: string; out: Float32Array }[] = [];
      const variants: { name: string; variant: MatmulVariant; workgroup?: number }[] = [
        { name: 'naive', variant: 'naive' },
        ...MATMUL_CANDIDATES.filter((c) => (c.variant !== 'blocked-vec4' || matmulVec4Fits(M, K, form.transA)) &&
          (c.variant !== 'subgroup' || (subgroupMatmulRuns(ctx) && matmulSubgroupFits({ M, N, K, transA: form.transA, transB: form.transB }))))
          .map((c) => ({ name: matmulCandidateName(c), variant: c.variant, workgroup: c.workgroup })),
      ];
      for (const v of variants) {
        const c = poisoned(ctx, 'C', M * N);
        await run(ctx, await prepareMatmul(ctx, { a, b, c, bias, M, N, K, transA: form.transA, transB: form.transB, variant: v.variant, ...(v.workgroup ? { workgroup: v.workgroup } : {}) }));
        runs.push({ name: v.name, out: await download(ctx, c, M * N) });
      }
      const first = runs[0]!;
      for (const r of runs.slice(1)) {
        const differ = r.out.findIndex((x, i) => !Object.is(x, first.out[i]));
        assert.is(differ, -1, `M=${M} N=${N} K=${K}: ${r.name} gives ${r.out[differ]} at ${differ}, ${first.name} ${first.out[differ]}`);
      }
    }
  });
}

test('a context without an autotuner (--no-autotune) runs the fixed table\'s entry and workgroup', async () => {
  const ctx = await testGpu();
  useAutotuner(ctx, undefined);
  const tuning = matmulTuning(ctx);
  for (const [M, N, K, transB] of [[64, 256, 784, true], [64, 10, 256, true], [256, 784, 64, false]] as const) {
    const args = { a: poisoned(ctx, 'A', M * K), b: poisoned(ctx, 'B', K * N), c: poisoned(ctx, 'C', M * N), M, N, K, transB };
    const table = matmulEntry('blocked', tuning, { M, N, K, transA: false, transB });
    const forced = table === 'narrow'
      ? { variant: 'narrow' as const, workgroup: tuning.narrowWorkgroup }
      : table.startsWith('sub_') ? { variant: 'subgroup' as const, workgroup: 8 }
      : { variant: table === 'main' ? 'blocked-scalar' as const : 'blocked-vec4' as const, workgroup: blockedWorkgroup(tuning, N) };
    const d = await prepareMatmul(ctx, args);
    const expected = await prepareMatmul(ctx, { ...args, ...forced });
    assert.ok(d.pipeline === expected.pipeline, `M=${M} N=${N} K=${K}: the table's ${table} wg${forced.workgroup}`);
    assert.equal(d.workgroups, expected.workgroups);
  }
});

test('with an autotuner, \'blocked\' measures each candidate once per shape class, logs the choice once, and a second run reads the cache', async () => {
  const ctx = await testGpu();
  const store = new MemoryAutotuneStore();
  const lines: string[] = [];
  const tuner = new Autotuner({ store, log: (l) => lines.push(l), budgetMs: 2000 }); // room for three rounds even on a loaded machine
  useAutotuner(ctx, tuner);
  try {
    const random = rng(7);
    const M = 100, N = 300, K = 40;
    const aData = randomArray(M * K, random), bData = randomArray(N * K, random);
    const a = upload(ctx, 'A', aData), b = upload(ctx, 'B', bData);
    const c = poisoned(ctx, 'C', M * N);
    const d = await prepareMatmul(ctx, { a, b, c, M, N, K, transB: true });
    const candidates = matmulCandidates(ctx.isCpuAdapter, { M, N, K, transA: false, transB: true, vec4Able: true }, subgroupMatmulRuns(ctx));
    const shapeClass = matmulShapeClass({ M, N, K, transA: false, transB: true, batch: 1, vec4Able: true });
    assert.is(shapeClass, 'A·Bᵀ M≤128 N≤512 K≤64');
    assert.is(tuner.measurements, candidates.length, 'each candidate estimated once, then timed in rounds');
    assert.is(lines.length, 1, lines.join('\n'));
    const chosen = /→ (\S+ wg\d+) \(/.exec(lines[0]!)?.[1];
    assert.ok(chosen && candidates.some((cand) => matmulCandidateName(cand) === chosen), `chosen ${chosen} is a candidate: ${lines[0]}`);
    assert.match(lines[0]!, new RegExp(`^autotune: matmul ${shapeClass} on .+ → ${chosen} \\(\\d+\\.\\d\\d ms; .+\\) measured$`));
    for (const cand of candidates) assert.ok(lines[0]!.includes(matmulCandidateName(cand)), `${matmulCandidateName(cand)} in ${lines[0]}`);
    // The dispatch is the chosen candidate's, and writes the caller's C (not a scratch buffer).
    const chosenCandidate = candidates.find((cand) => matmulCandidateName(cand) === chosen)!;
    const forced = await prepareMatmul(ctx, { a, b, c, M, N, K, transB: true, variant: chosenCandidate.variant, workgroup: chosenCandidate.workgroup });
    assert.ok(d.pipeline === forced.pipeline);
    await run(ctx, d);
    const out = await download(ctx, c, M * N);
    assert.ok(out.every(Number.isFinite), 'C written');

    // Another shape of the same class: no measuring, no second line.
    await prepareMatmul(ctx, { a, b, c, M: 90, N: 260, K: 36, transB: true });
    assert.is(tuner.measurements, candidates.length);
    assert.is(lines.length, 1);
    // Another class measures again.
    await prepareMatmul(ctx, { a, b, c, M: 9, N: 10, K: 36, transB: true });
    assert.ok(tuner.measurements > candidates.length);
    assert.is(lines.length, 2);
    assert.match(lines[1]!, /N≤32 .*→ (main|main_vec4|narrow|subgroup) wg\d+/);

    // A later process (a fresh autotuner) on the same store: cached, logged as such, nothing timed.
    const later = new Autotuner({ store, log: (l) => lines.push(l) });
    useAutotuner(ctx, later);
    await prepareMatmul(ctx, { a, b, c, M, N, K, transB: true });
    assert.is(later.measurements, 0);
    assert.match(lines[2]!, new RegExp(`→ ${chosen} \\(.*\\) cached$`));
  } finally {
    useAutotuner(ctx, undefined);
  }
});

test('shape classes: powers of two per dimension, N ≤ 32 one class, batches, vec4 fit and subgroup fit apart', () => {
  const cls = (M: number, N: number, K: number, extra: { transA?: boolean; batch?: number; vec4Able?: boolean } = {}) =>
    matmulShapeClass({ M, N, K, transA: extra.transA ?? false, transB: true, batch: extra.batch ?? 1, vec4Able: extra.vec4Able ?? true });
  assert.is(cls(1000, 500, 100), 'A·Bᵀ M≤1024 N≤512 K≤128');
  assert.is(cls(1, 1, 1), 'A·Bᵀ M≤1 N≤32 K≤1');
  assert.is(cls(64, 10, 256), cls(64, 32, 256));
  assert.is.not(cls(64, 33, 256), cls(64, 32, 256));
  assert.is(cls(64, 64, 64, { transA: true, batch: 12, vec4Able: false }), 'Aᵀ·Bᵀ M≤64 N≤64 K≤64 batch≤16 no-vec4 no-subgroup');
  // Whether the subgroup entry fits (N % 4 == 0 for A·B) decides whether it is a candidate, so it parts classes too.
  const ab = (N: number) => matmulShapeClass({ M: 64, N, K: 64, transA: false, transB: false, batch: 1, vec4Able: true });
  assert.is(ab(68), 'A·B M≤64 N≤128 K≤64');
  assert.is(ab(66), 'A·B M≤64 N≤128 K≤64 no-subgroup');
});


test('autotune keeps the table\'s choice where measuring would not fit the budget, and replaces it only with a clearly faster candidate', async () => {
  const ctx = await testGpu();
  const M = 200, N = 300, K = 120;
  const a = upload(ctx, 'A', randomArray(M * K, rng(3))), b = upload(ctx, 'B', randomArray(K * N, rng(4))), c = poisoned(ctx, 'C', M * N);
  // The naive entry is several times slower than the blocked one here (bench:kernels: 5–9×).
  const slow = { name: 'naive', prepare: () => prepareMatmul(ctx, { a, b, c, M, N, K, variant: 'naive' }) };
  const fast = { name: 'main wg16', prepare: () => prepareMatmul(ctx, { a, b, c, M, N, K, variant: 'blocked-scalar', workgroup: 16 }) };
  const request = (fallback: string) => ({ kernel: 'matmul@test', shapeClass: `test ${fallback}`, candidates: [slow, fast], fallback });

  const lines: string[] = [];
  const starved = new Autotuner({ store: new MemoryAutotuneStore(), log: (l) => lines.push(l), budgetMs: 0.001 });
  const kept = await starved.choose(ctx, request('naive'));
  assert.is(kept.candidate, 'naive', 'no room to measure: the table\'s choice stands, even a slow one');
  assert.is(kept.source, 'table');
  assert.match(lines[0]!, /→ naive \(.*\) table: three rounds of every candidate would not fit/);

  const tuner = new Autotuner({ store: new MemoryAutotuneStore(), log: () => {}, budgetMs: 2000 });
  const replaced = await tuner.choose(ctx, request('naive'));
  assert.is(replaced.candidate, 'main wg16', `a clearly faster candidate replaces the table's: ${JSON.stringify(replaced.timings)}`);
  assert.is(replaced.source, 'measured');
  assert.ok(replaced.timings['main wg16']! < replaced.timings.naive!);
  const stays = await tuner.choose(ctx, request('main wg16'));
  assert.is(stays.candidate, 'main wg16', 'the table\'s choice stays when nothing beats it');
  await assertRejects(() => tuner.choose(ctx, { ...request('tiled wg64'), shapeClass: 'other' }), /the fallback tiled wg64 is not a candidate/);
});

test.after(() => closeTestGpu());
test.run();
