// Compressed parameter averaging (--comm-dtype f16|bf16), the coordinator's side and the CPU
// reference of the 16-bit formats.
//
// Wire format of a compressed 'params' round: the header says dtype f16 or bf16 and the payload
// is `count` little-endian 16-bit values (2·count bytes; no padding for an odd count). A worker
// sends d_i = θ_i − anchor, the anchor being the weights every worker and the coordinator hold
// after the last round, bit for bit; the coordinator decodes θ_i = fround(anchor + d_i), reduces
// (the mean, or any step that maps the workers' weights to new global weights θ: it sits between
// decode and encode and sees f32 weights only), and sends back u = to16(θ − anchor). Both sides then set anchor ← fround(anchor + from16(u)), the worker in
// WGSL (shaders/delta-codec.wgsl), the coordinator here: the same correctly rounded f32 add, so every
// worker and the coordinator agree and anchors never drift. The 16-bit rounding error then falls
// on the small update, not on the weights: f16 keeps ~11 significant bits of each round's change.
//
// The first 'params' round of a run has no anchor yet: it travels in f32, as every round does
// with --comm-dtype f32, and its result becomes the anchor. Gradient rounds always travel in f32.
import { z } from 'zod';

export const CommDtype = z.enum(['f32', 'f16', 'bf16']);
export type CommDtype = z.infer<typeof CommDtype>;

export function bytesPerElement(dtype: CommDtype): 2 | 4 {
  return dtype === 'f32' ? 4 : 2;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round to nearest even f32 → f16 bits; the CPU twin of f32_to_f16_bits in delta-codec.wgsl. */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    const r = a - 0x38000000;
    return sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
  }
  const e = a >>> 23;
  if (e < 102) return sign;
  const m = (a & 0x7fffff) | 0x800000;
  const shift = 126 - e;
  const q = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (q + (rest > half || (rest === half && (q & 1) === 1) ? 1 : 0));
}

/** Round to nearest even f32 → bf16 bits. */
export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function bf16BitsToNumber(h: number): number {
  u32[0] = (h << 16) >>> 0;
  return f32[0]!;
}

/** Encodes `values` (rounded to f32 first) into 16-bit `out`. */
export function encode16(dtype: Exclude<CommDtype, 'f32'>, values: ArrayLike<number>, out: Uint16Array): Uint16Array {
  const to16 = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = to16(values[i]!);
  return out;
}

export function decode16(dtype: Exclude<CommDtype, 'f32'>, bits: Uint16Array, out: Float32Array): Float32Array {
  const from16 = dtype === 'f16' ? f16BitsToNumber : bf16BitsToNumber;
  for (let i = 0; i < bits.length; i++) out[i] = from16(bits[i]!);
  return out;
}

const tables: Partial<Record<Exclude<CommDtype, 'f32'>, Float32Array>> = {};

/** Every 16-bit pattern's value, for decoding by lookup (a round decodes one delta per rank). */
function decodeTable(dtype: Exclude<CommDtype, 'f32'>): Float32Array {
  let table = tables[dtype];
  if (!table) {
    const from16 = dtype === 'f16' ? f16BitsToNumber : bf16BitsToNumber;
    table = tables[dtype] = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) table[h] = from16(h);
  }
  return table;
}

export class CodecError extends Error {
  override name = 'CodecError';
}

/** A 16-bit view of payload bytes, copying only if they are not 2-byte aligned. */
function asUint16(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return new Uint16Array(bytes.slice().buffer);
}

/**
 * The coordinator's half of compressed 'params' rounds: holds the anchor, decodes each worker's
 * delta to weights before the reduction and encodes the reduced weights as an update after it.
 */
export class DeltaCodec {
  private anchor: Float32Array | undefined;
  private update = new Uint16Array(0);

  /** After an f32 'params' round: its result is the anchor of the next compressed round. */
  setAnchor(weights: Float32Array): void {
    if (this.anchor?.length !== weights.length) this.anchor = new Float32Array(weights.length);
    this.anchor.set(weights);
  }

  get hasAnchor(): boolean {
    return this.anchor !== undefined;
  }

  /** θ_i = fround(anchor + d_i), written into `out` (count floats). */
  decode(rank: number, dtype: CommDtype, payload: Uint8Array, out: Float32Array): Float32Array {
    const count = out.length;
    if (dtype === 'f32') throw new CodecError(`internal: DeltaCodec.decode called for an f32 payload from rank ${rank}`);
    if (payload.byteLength !== count * 2) {
      throw new CodecError(`rank ${rank} sent a ${payload.byteLength}-byte ${dtype} payload for ${count} parameters; ${dtype} needs 2·${count} = ${count * 2} bytes`);
    }
    const anchor = this.anchor;
    if (!anchor) {
      throw new CodecError(`rank ${rank} sent a ${dtype} parameter delta, but no f32 'params' round has set the anchor yet; the first round of a run must be f32`);
    }
    if (anchor.length !== count) {
      throw new CodecError(`rank ${rank} sent a ${dtype} delta of ${count} parameters, but the anchor holds ${anchor.length}`);
    }
    const bits = asUint16(payload);
    const table = decodeTable(dtype);
    for (let i = 0; i < count; i++) out[i] = anchor[i]! + table[bits[i]!]!;
    return out;
  }

  /**
   * d = to16(weights − anchor), the anchor unchanged: what a worker sends, here a machine's launcher
   * sending its workers' mean to the master. Returns d's bytes (valid until the next call).
   */
  deltaOf(dtype: Exclude<CommDtype, 'f32'>, weights: Float32Array): Uint8Array {
    const anchor = this.anchor;
    if (!anchor || anchor.length !== weights.length) {
      throw new CodecError(`internal: a delta of ${weights.length} weights from an anchor of ${anchor?.length ?? 'none'}`);
    }
    if (this.update.length !== weights.length) this.update = new Uint16Array(weights.length);
    encode16(dtype, weights.map((w, i) => w - anchor[i]!), this.update);
    return new Uint8Array(this.update.buffer, this.update.byteOffset, this.update.byteLength);
  }

  /**
   * u = to16(weights − anchor), then anchor ← fround(anchor + from16(u)), which is also written
   * back into `weights`: what every worker will hold. Returns u's bytes (valid until the next call).
   */
  encode(dtype: Exclude<CommDtype, 'f32'>, weights: Float32Array): Uint8Array {
    const anchor = this.anchor;
    if (!anchor || anchor.length !== weights.length) {
      throw new CodecError(`internal: encoding ${weights.length} weights against an anchor of ${anchor?.length ?? 'none'}`);
    }
    if (this.update.length !== weights.length) this.update = new Uint16Array(weights.length);
    const update = this.update;
    const to16 = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
    const table = decodeTable(dtype);
    for (let i = 0; i < weights.length; i++) {
      // The difference is taken in f64 and rounded to 16 bits through f32 (a double rounding that
      // can move a rare tie by one 16-bit ulp: accuracy only, since u itself is what travels).
      const u = to16(weights[i]! - anchor[i]!);
      update[i] = u;
      anchor[i] = anchor[i]! + table[u]!; // stored as f32: fround, the worker's WGSL f32 add
      weights[i] = anchor[i]!;
    }
    return new Uint8Array(update.buffer, update.byteOffset, update.byteLength);
  }
}
