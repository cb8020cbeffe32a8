import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareStackedMean } from '../../src/kernels/stacked-mean.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';
import { averageRef } from '../helpers/reference.js';

const test = suite('average');

// Vector lengths: one float, not workgroup multiples, the MNIST MLP's parameter count (784·256 + 256 + 256·10 + 10).
const COUNTS = [1, 7, 33, 65, 1000, 203_530];

for (const n of [1, 3, 4]) {
  test(`the average of ${n} vector${n > 1 ? 's' : ''} equals the float64 mean`, async () => {
    const ctx = await testGpu();
    let seed = 0;
    for (const count of COUNTS) {
      const inputs = randomArray(n * count, rng(++seed * 389 + n));
      const output = poisoned(ctx, 'averaged', count);
      await run(ctx, await prepareStackedMean(ctx, { inputs: upload(ctx, 'stacked', inputs), output, count, n }));
      const out = await download(ctx, output, count);
      assertClose(out, averageRef(inputs, count, n), `average n=${n} count=${count}`);
      // One vector averages to itself, bit for bit: a worker alone must keep its parameters exactly.
      if (n === 1) assertBitwiseEqual(out, inputs, `average of one vector, count=${count}`);
    }
  });
}

test('averaging equal vectors changes them by at most one rounding', async () => {
  // Workers that start equal and see the same data must stay equal after a round (n = 3: 3x/3 == x).
  const ctx = await testGpu();
  const count = 1000;
  const one = randomArray(count, rng(77));
  const inputs = new Float32Array(3 * count);
  for (let r = 0; r < 3; r++) inputs.set(one, r * count);
  const output = poisoned(ctx, 'averaged', count);
  await run(ctx, await prepareStackedMean(ctx, { inputs: upload(ctx, 'stacked', inputs), output, count, n: 3 }));
  const out = await download(ctx, output, count);
  let worst = 0;
  for (let j = 0; j < count; j++) worst = Math.max(worst, Math.abs(out[j]! - one[j]!) / Math.abs(one[j]!));
  // (x + x) + x = 3x rounded once, then /3 rounds again: within about one ulp of x, not always bitwise.
  assert.ok(worst <= 2 ** -23, `largest relative change ${worst}`);
});

test('errors name the kernel and the sizes, and refuse an output aliasing the inputs', async () => {
  const ctx = await testGpu();
  const buffer = upload(ctx, 'stacked', new Float32Array(8));
  try {
    await prepareStackedMean(ctx, { inputs: buffer, output: poisoned(ctx, 'out', 4), count: 4, n: 3 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /average: inputs .* holds 8 floats, needs 12 for n=3 count=4/);
  }
  try {
    await prepareStackedMean(ctx, { inputs: buffer, output: buffer, count: 4, n: 2 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /average: output and inputs are the same buffer/);
  }
});

test.after(() => closeTestGpu());
test.run();
