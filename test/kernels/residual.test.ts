import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareResidualAdd, prepareResidualBackward } from '../../src/kernels/residual.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { assertClose, assertRejects } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('residual');

// Every count % 4 (an invocation takes 4 adjacent elements, the tail 1 to 3), awkward sizes, the baby GPT's stream.
const COUNTS = [1, 6, 7, 255, 257, 1000, 12 * 64 * 128];

const sum = (a: Float32Array, b: Float32Array) => Float64Array.from(a, (v, i) => v + b[i]!);

test('forward y = a + b on awkward counts', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const count of COUNTS) {
    const random = rng(++seed * 313);
    const [a, b] = [randomArray(count, random, 4), randomArray(count, random)];
    const y = poisoned(ctx, 'y', count);
    await run(ctx, await prepareResidualAdd(ctx, { a: upload(ctx, 'a', a), b: upload(ctx, 'b', b), y, count }));
    // One f32 rounding of the exact sum: within half an ulp, far inside 1e-7.
    assertClose(await download(ctx, y, count), sum(a, b), `residual add count=${count}`, 1e-7);
  }
});

async function backward(ctx: GpuContext, dy: Float32Array, before: [Float32Array, Float32Array], accumulateA: boolean, accumulateB: boolean) {
  const count = dy.length;
  const [da, db] = [upload(ctx, 'da', before[0]), upload(ctx, 'db', before[1])];
  await run(ctx, await prepareResidualBackward(ctx, { dy: upload(ctx, 'dy', dy), da, db, count, accumulateA, accumulateB }));
  return [await download(ctx, da, count), await download(ctx, db, count)] as const;
}

test('backward sends dy to both inputs, each overwritten or accumulated as asked', async () => {
  const ctx = await testGpu();
  let seed = 0;
  for (const count of COUNTS) {
    for (const [accA, accB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const random = rng(++seed * 71);
      const dy = randomArray(count, random);
      const before: [Float32Array, Float32Array] = [randomArray(count, random, 3), randomArray(count, random, 3)];
      // An overwritten gradient starts poisoned, so an element left unwritten fails.
      if (!accA) before[0].fill(NaN);
      if (!accB) before[1].fill(NaN);
      const [da, db] = await backward(ctx, dy, [before[0].slice(), before[1].slice()], accA, accB);
      const what = `residual backward count=${count} accumulateA=${accA} accumulateB=${accB}`;
      assertClose(da, accA ? sum(dy, before[0]) : Float64Array.from(dy), `${what} da`, 1e-7);
      assertClose(db, accB ? sum(dy, before[1]) : Float64Array.from(dy), `${what} db`, 1e-7);
    }
  }
});

test('elements past count are neither read into the result nor written (the quads\' short tail)', async () => {
  const ctx = await testGpu();
  const random = rng(991);
  for (const count of [1, 2, 3, 5, 6, 7]) {
    const [a, b] = [randomArray(count + 5, random), randomArray(count + 5, random)];
    const y = poisoned(ctx, 'y', count + 5);
    await run(ctx, await prepareResidualAdd(ctx, { a: upload(ctx, 'a', a), b: upload(ctx, 'b', b), y, count }));
    const out = await download(ctx, y, count + 5);
    assertClose(out.subarray(0, count), sum(a.subarray(0, count), b.subarray(0, count)), `residual add count=${count}`, 1e-7);
    assert.ok(out.subarray(count).every(Number.isNaN), `residual add count=${count} wrote past count: ${out.subarray(count).join(', ')}`);
    const [da, db] = [poisoned(ctx, 'da', count + 5), poisoned(ctx, 'db', count + 5)];
    await run(ctx, await prepareResidualBackward(ctx, { dy: upload(ctx, 'dy', a), da, db, count, accumulateA: false, accumulateB: false }));
    for (const [name, buffer] of [['da', da], ['db', db]] as const) {
      const grad = await download(ctx, buffer, count + 5);
      assertClose(grad.subarray(0, count), Float64Array.from(a.subarray(0, count)), `residual backward ${name} count=${count}`, 1e-7);
      assert.ok(grad.subarray(count).every(Number.isNaN), `residual backward ${name} count=${count} wrote past count`);
    }
  }
});

test('errors name the kernel, the sizes and an output that aliases an input', async () => {
  const ctx = await testGpu();
  const a = upload(ctx, 'a', new Float32Array(4));
  const b = upload(ctx, 'b', new Float32Array(4));
  await assertRejects(() => prepareResidualAdd(ctx, { a, b, y: upload(ctx, 'y', new Float32Array(8)), count: 5 }), /residual_add: a \(a\) holds 4 floats, needs count=5/);
  await assertRejects(() => prepareResidualAdd(ctx, { a, b, y: a, count: 4 }), /residual_add: y \(a\) is in the same buffer as a \(a\)/);
  await assertRejects(() => prepareResidualBackward(ctx, { dy: a, da: b, db: b, count: 4, accumulateA: true, accumulateB: true }),
    /residual_backward: da \(b\) overlaps db \(b\)/);
});

test('written tensors may share a buffer at disjoint ranges (gradients in one flat buffer); a read tensor may not', async () => {
  const ctx = await testGpu();
  const dy = randomArray(64, rng(8));
  const flat = upload(ctx, 'flat grads', new Float32Array(128).fill(NaN));
  const slice = (offset: number) => ({ buffer: flat, offset, size: 256 });
  await run(ctx, await prepareResidualBackward(ctx, {
    dy: upload(ctx, 'dy', dy), da: slice(0), db: slice(256), count: 64, accumulateA: false, accumulateB: false,
  }));
  const out = await download(ctx, flat, 128);
  assertClose(out.subarray(0, 64), Float64Array.from(dy), 'da in the first range', 0);
  assertClose(out.subarray(64), Float64Array.from(dy), 'db in the second range', 0);
  // WebGPU refuses a buffer bound both written and read-only in one dispatch, even at disjoint ranges.
  const big = upload(ctx, 'big', new Float32Array(192));
  try {
    await prepareResidualAdd(ctx, { a: { buffer: big, offset: 0, size: 256 }, b: { buffer: big, offset: 256, size: 256 }, y: { buffer: big, offset: 512, size: 256 }, count: 64 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /residual_add: y \(big\[512\.\.\]\) is in the same buffer as a \(big\[0\.\.\]\); WebGPU forbids/);
  }
});

test.after(() => closeTestGpu());
test.run();
