// Numbers that are not numbers: a diverged run must stop where it diverged, naming the rank and
// step, not finish "successfully" with NaN weights. The checks run on data the CPU already holds
// (a log line's loss, an averaging round's read-back), so they cost one pass over memory.
import type { HalfDtype } from '../kernels/delta-codec.js';

export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

/** Index of the first NaN or ±Infinity, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * Index of the first NaN or ±Infinity among little-endian 16-bit values: f16 has 5 exponent bits,
 * bf16 8; all of them set means not finite in both.
 */
export function firstNonFiniteHalf(bytes: Uint8Array, dtype: HalfDtype): number {
  const exponent = dtype === 'f16' ? 0x7c00 : 0x7f80;
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    if (((bytes[i]! | (bytes[i + 1]! << 8)) & exponent) === exponent) return i / 2;
  }
  return -1;
}

/** What the value at `index` is, for a message: "NaN", "Infinity" or "-Infinity". */
export function describeNonFinite(values: Float32Array, index: number): string {
  return String(values[index]);
}
