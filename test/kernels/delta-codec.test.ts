import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createStorageFrom, readBuffer } from '../../src/gpu/buffers.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { prepareCompress, type HalfDtype } from '../../src/kernels/delta-codec.js';
import { closeTestGpu, download, run, testGpu, upload } from '../helpers/gpu.js';
import { BASE_SEED, halfTestValues, randomArray, rng } from '../helpers/random.js';
import { BF16, F16, halfBitsRef, halfValueRef, type HalfFormat } from '../helpers/reference.js';

const test = suite('compress');
const FORMATS: Record<HalfDtype, HalfFormat> = { f16: F16, bf16: BF16 };
// One value, odd counts that are not workgroup multiples, and a large odd one (the MNIST MLP has 203,530).
const COUNTS = [1, 7, 129, 200_001];

function uploadU32(ctx: GpuContext, label: string, words: Uint32Array): GPUBuffer {
  return createStorageFrom(ctx, label, words);
}

/** Runs encode_delta with anchor +0 (x − (+0) is x, −0 included), returning the packed words. */
async function encode(ctx: GpuContext, dtype: HalfDtype, values: Float32Array, poison: number): Promise<Uint32Array> {
  const count = values.length;
  const words = Math.ceil(count / 2);
  const packed = uploadU32(ctx, 'packed', new Uint32Array(words).fill(poison));
  const k = await prepareCompress(ctx, { dtype, params: upload(ctx, 'params', values), anchor: upload(ctx, 'anchor', new Float32Array(count)), packed, count });
  await run(ctx, k.encodeDelta);
  return new Uint32Array(await readBuffer(ctx, packed, { byteLength: words * 4 }));
}

function describe(x: number): string {
  const b = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  return `${x} (f32 0x${b.toString(16).padStart(8, '0')})`;
}

for (const dtype of ['f16', 'bf16'] as const) {
  const f = FORMATS[dtype];
  // Unwritten words stay poisoned: a NaN pattern the kernel never produces (its NaNs are quiet).
  const poison = dtype === 'f16' ? 0x7d017d01 : 0x7f817f81;

  test(`encode_delta rounds f32 to ${dtype} to nearest even, bit for bit against a float64 reference`, async () => {
    const ctx = await testGpu();
    let seed = dtype === 'f16' ? 100 : 200;
    for (const count of COUNTS) {
      const values = halfTestValues(count, f, rng(++seed));
      const words = await encode(ctx, dtype, values, poison);
      const bad: string[] = [];
      for (let j = 0; j < count && bad.length < 5; j++) {
        const got = (words[j >> 1]! >>> (16 * (j & 1))) & 0xffff;
        const want = halfBitsRef(values[j]!, f);
        const gotNaN = Number.isNaN(halfValueRef(got, f));
        const ok = want === undefined ? gotNaN && got !== (poison & 0xffff) : got === want;
        if (!ok) bad.push(`[${j}] ${describe(values[j]!)}: got 0x${got.toString(16)}, want ${want === undefined ? 'a quiet NaN' : `0x${want.toString(16)}`}`);
      }
      assert.is(bad.length, 0, `${dtype} count=${count}: ${bad.join('; ')} (TEST_SEED=${BASE_SEED})`);
      if (count % 2 === 1) assert.is(words[words.length - 1]! >>> 16, 0, `${dtype} count=${count}: the odd tail's high half must be 0`);
    }
  });

  test(`apply_update adds the exact ${dtype} values to the anchor in f32 and copies it to the parameters`, async () => {
    const ctx = await testGpu();
    let seed = dtype === 'f16' ? 300 : 400;
    for (const count of COUNTS) {
      const random = rng(++seed);
      // Finite updates: what a coordinator sends (Inf would only show that training diverged).
      const update = new Uint16Array(count + (count % 2));
      const updateValues = new Float64Array(count);
      for (let j = 0; j < count; j++) {
        let bits: number;
        do bits = Math.floor(random() * 0x10000); while (!Number.isFinite(halfValueRef(bits, f)));
        update[j] = bits;
        updateValues[j] = halfValueRef(bits, f);
      }
      // Anchors of weight size (f16 updates) or any size (bf16 shares f32's range); one spare
      // element after count must stay untouched.
      const anchor = randomArray(count + 1, random, dtype === 'f16' ? 1 : 1e3);
      const params = new Float32Array(count + 1).fill(NaN);
      const sentinel = 12345.5;
      params[count] = sentinel;
      const anchorBuffer = upload(ctx, 'anchor', anchor);
      const paramsBuffer = upload(ctx, 'params', params);
      const k = await prepareCompress(ctx, { dtype, params: paramsBuffer, anchor: anchorBuffer, packed: uploadU32(ctx, 'packed', new Uint32Array(update.buffer)), count });
      await run(ctx, k.applyUpdate);
      const gotAnchor = await download(ctx, anchorBuffer, count + 1);
      const gotParams = await download(ctx, paramsBuffer, count + 1);
      for (let j = 0; j < count; j++) {
        const want = Math.fround(anchor[j]! + updateValues[j]!);
        if (!Object.is(gotAnchor[j], want) || !Object.is(gotParams[j], want)) {
          assert.unreachable(`${dtype} count=${count} [${j}]: anchor ${anchor[j]} + ${updateValues[j]} (0x${update[j]!.toString(16)}) = ${want}, got anchor ${gotAnchor[j]} params ${gotParams[j]} (TEST_SEED=${BASE_SEED})`);
        }
      }
      assert.is(gotAnchor[count], anchor[count], `${dtype} count=${count}: anchor past count was written`);
      assert.is(gotParams[count], sentinel, `${dtype} count=${count}: params past count was written`);
    }
  });
}

test('a round trip from weights to weights: anchor + to16(θ − anchor) is θ to 16-bit precision of the delta', async () => {
  const ctx = await testGpu();
  const count = 10_001;
  const random = rng(500);
  const anchor = randomArray(count, random, 0.1);
  const delta = randomArray(count, random, 1e-3);
  const theta = anchor.map((a, j) => a + delta[j]!);
  for (const dtype of ['f16', 'bf16'] as const) {
    const paramsBuffer = upload(ctx, 'params', theta);
    const anchorBuffer = upload(ctx, 'anchor', anchor);
    const packed = uploadU32(ctx, 'packed', new Uint32Array(Math.ceil(count / 2)));
    const k = await prepareCompress(ctx, { dtype, params: paramsBuffer, anchor: anchorBuffer, packed, count });
    await run(ctx, [k.encodeDelta, k.applyUpdate]);
    const got = await download(ctx, paramsBuffer, count);
    // Half an ulp of the delta, relative; f16 deltas below 2^-14 are subnormals, whose ulp is a
    // fixed 2^-24 (so their error is at most 2^-25 absolute).
    const bound = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
    const floor = dtype === 'f16' ? 2 ** -25 : 0;
    for (let j = 0; j < count; j++) {
      const exactDelta = Math.fround(theta[j]! - anchor[j]!);
      const err = Math.abs(got[j]! - theta[j]!);
      // 16-bit rounding of the delta, plus the f32 roundings of the delta and of the add.
      const allowed = Math.max(Math.abs(exactDelta) * bound, floor) + 2 * Math.abs(theta[j]!) * 2 ** -24;
      if (!(err <= allowed)) assert.unreachable(`${dtype} [${j}]: θ ${theta[j]} came back ${got[j]} (error ${err}, allowed ${allowed}) (TEST_SEED=${BASE_SEED})`);
    }
  }
});

test('errors name the kernel and the sizes', async () => {
  const ctx = await testGpu();
  const a = upload(ctx, 'a', new Float32Array(8));
  const b = upload(ctx, 'b', new Float32Array(8));
  try {
    await prepareCompress(ctx, { dtype: 'f16', params: a, anchor: b, packed: uploadU32(ctx, 'packed', new Uint32Array(4)), count: 9 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /compress f16: params \(a\) holds 8 floats, needs count=9/);
  }
  try {
    await prepareCompress(ctx, { dtype: 'bf16', params: a, anchor: b, packed: uploadU32(ctx, 'packed', new Uint32Array(4)), count: 8 });
  } catch (e) {
    assert.unreachable(`8 values fit 4 words: ${(e as Error).message}`);
  }
  try {
    await prepareCompress(ctx, { dtype: 'bf16', params: a, anchor: a, packed: uploadU32(ctx, 'packed', new Uint32Array(4)), count: 8 });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /three different buffers/);
  }
});

test.after(() => closeTestGpu());
test.run();
