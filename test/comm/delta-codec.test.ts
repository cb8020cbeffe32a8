import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bf16BitsToNumber, CodecError, decode16, DeltaCodec, encode16, f16BitsToNumber, f32ToBf16Bits, f32ToF16Bits,
} from '../../src/comm/delta-codec.js';
import { BASE_SEED, halfTestValues, randomArray, rng } from '../helpers/random.js';
import { BF16, F16, halfBitsRef, halfValueRef } from '../helpers/reference.js';

const test = suite('codec');

const cases = [
  { name: 'f16', f: F16, to16: f32ToF16Bits, from16: f16BitsToNumber },
  { name: 'bf16', f: BF16, to16: f32ToBf16Bits, from16: bf16BitsToNumber },
] as const;

for (const { name, f, to16, from16 } of cases) {
  test(`the CPU ${name} encoder rounds to nearest even like the float64 reference (ties, subnormals, ±0, overflow, NaN)`, () => {
    for (const [i, count] of [1, 7, 129, 100_001].entries()) {
      const values = halfTestValues(count, f, rng(600 + i));
      for (let j = 0; j < count; j++) {
        const got = to16(values[j]!);
        const want = halfBitsRef(values[j]!, f);
        const ok = want === undefined ? Number.isNaN(from16(got)) : got === want;
        if (!ok) assert.unreachable(`${name}: ${values[j]} encoded 0x${got.toString(16)}, want ${want?.toString(16) ?? 'NaN'} (TEST_SEED=${BASE_SEED})`);
      }
    }
  });

  test(`the CPU ${name} decoder is exact for all 65536 patterns, and decode∘encode is the identity on them`, () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const want = halfValueRef(bits, f);
      const got = from16(bits);
      if (Number.isNaN(want)) {
        assert.ok(Number.isNaN(got), `${name} 0x${bits.toString(16)} should decode to NaN`);
        continue;
      }
      assert.ok(Object.is(got, want), `${name} 0x${bits.toString(16)}: ${got}, want ${want}`);
      assert.is(to16(got), bits, `${name} 0x${bits.toString(16)} does not survive a round trip`);
    }
  });
}

test('encode16 and decode16 work on whole arrays, odd lengths included', () => {
  const values = randomArray(7, rng(700), 2);
  for (const dtype of ['f16', 'bf16'] as const) {
    const bits = encode16(dtype, values, new Uint16Array(7));
    const back = decode16(dtype, bits, new Float32Array(7));
    for (let j = 0; j < 7; j++) {
      const f = dtype === 'f16' ? F16 : BF16;
      assert.is(back[j], halfValueRef(halfBitsRef(values[j]!, f)!, f), `${dtype}[${j}]`);
    }
  }
});

/** What the worker does on the CPU side of the kernel: d = to16(θ − anchor). */
function workerDelta(dtype: 'f16' | 'bf16', theta: Float32Array, anchor: Float32Array): Uint8Array {
  const d = new Float32Array(theta.length);
  for (let j = 0; j < theta.length; j++) d[j] = theta[j]! - anchor[j]!;
  const bits = encode16(dtype, d, new Uint16Array(theta.length));
  return new Uint8Array(bits.buffer);
}

for (const dtype of ['f16', 'bf16'] as const) {
  test(`a ${dtype} round: decode gives anchor + d_i in f32, encode moves the anchor by the 16-bit update, and lands near the mean`, () => {
    const f = dtype === 'f16' ? F16 : BF16;
    const count = 1001;
    const random = rng(dtype === 'f16' ? 800 : 900);
    const anchor = randomArray(count, random, 0.1);
    const workers = [0, 1, 2].map(() => anchor.map((a) => a + (random() * 2 - 1) * 1e-3));
    const codec = new DeltaCodec();
    codec.setAnchor(anchor);
    const decoded = workers.map((theta, rank) => codec.decode(rank, dtype, workerDelta(dtype, theta, anchor), new Float32Array(count)));
    const mean = new Float32Array(count);
    for (let j = 0; j < count; j++) {
      const dRef = decoded.map((w) => w[j]!);
      for (const [rank, theta] of workers.entries()) {
        const d = Math.fround(theta[j]! - anchor[j]!);
        const want = Math.fround(anchor[j]! + halfValueRef(halfBitsRef(d, f)!, f));
        assert.is(decoded[rank]![j], want, `rank ${rank} [${j}] decoded`);
      }
      mean[j] = (dRef[0]! + dRef[1]! + dRef[2]!) / 3;
    }
    const exactMean = Float64Array.from(mean, (_, j) => (workers[0]![j]! + workers[1]![j]! + workers[2]![j]!) / 3);
    const weights = mean.slice();
    const update = new Uint16Array(codec.encode(dtype, weights).slice().buffer);
    assert.is(update.length, count);
    for (let j = 0; j < count; j++) {
      const u = halfBitsRef(Math.fround(mean[j]! - anchor[j]!), f)!;
      assert.is(update[j], u, `update [${j}]`);
      // What the worker's apply_update computes: its anchor and the coordinator's agree bit for bit.
      assert.is(weights[j], Math.fround(anchor[j]! + halfValueRef(u, f)), `new anchor [${j}]`);
      // Two 16-bit roundings of ~1e-3 deltas (the workers' and the update), plus f32 roundings.
      const bound = (dtype === 'f16' ? 2 * 2 ** -11 : 2 * 2 ** -8) * 1e-3 + 4 * 2 ** -24 * 0.2;
      assert.ok(Math.abs(weights[j]! - exactMean[j]!) <= bound, `[${j}] ${weights[j]} vs exact mean ${exactMean[j]}: more than ${bound} apart`);
    }
    // The next round starts from the new anchor.
    const next = codec.decode(0, dtype, new Uint8Array(2 * count), new Float32Array(count));
    assert.equal(Array.from(next), Array.from(weights), 'a zero delta decodes to the new anchor');
  });
}

test('decoding a payload of the wrong size, or before any anchor, is a clear error', () => {
  const codec = new DeltaCodec();
  assert.throws(() => codec.decode(1, 'f16', new Uint8Array(10), new Float32Array(5)), (e: Error) => e instanceof CodecError && /no f32 'params' round has set the anchor/.test(e.message));
  codec.setAnchor(new Float32Array(5));
  assert.throws(
    () => codec.decode(1, 'f16', new Uint8Array(20), new Float32Array(5)),
    (e: Error) => e instanceof CodecError && e.message === 'rank 1 sent a 20-byte f16 payload for 5 parameters; f16 needs 2·5 = 10 bytes',
  );
  assert.throws(() => codec.decode(0, 'bf16', new Uint8Array(12), new Float32Array(6)), /bf16 delta of 6 parameters, but the anchor holds 5/);
});

test.run();
