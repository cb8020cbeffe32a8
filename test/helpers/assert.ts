// assertClose: relative error ‖out − ref‖ / ‖ref‖ against a float64 reference, failing on any NaN
// or Inf (so poisoned, unwritten outputs fail), and reporting where it went wrong.
import * as assert from 'uvu/assert';
import { BASE_SEED } from './random.js';

export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    diff += (out[i]! - ref[i]!) ** 2;
    norm += ref[i]! ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

export function assertClose(out: ArrayLike<number>, ref: ArrayLike<number>, what: string, tolerance = 1e-5): void {
  assert.is(out.length, ref.length, `${what}: length ${out.length}, expected ${ref.length}`);
  const bad: string[] = [];
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) bad.push(`[${i}] = ${out[i]} (ref ${ref[i]})`);
    if (bad.length >= 5) break;
  }
  if (bad.length) assert.unreachable(`${what}: non-finite output (unwritten or overflowed): ${bad.join(', ')} (TEST_SEED=${BASE_SEED})`);
  const err = relativeError(out, ref);
  if (!(err <= tolerance)) {
    let worst = 0;
    for (let i = 0; i < out.length; i++) if (Math.abs(out[i]! - ref[i]!) > Math.abs(out[worst]! - ref[worst]!)) worst = i;
    const scale = Math.max(...Array.from(ref, Math.abs)) || 1;
    const pairs: string[] = [];
    for (let i = 0; i < out.length && pairs.length < 5; i++) {
      if (Math.abs(out[i]! - ref[i]!) > tolerance * scale) pairs.push(`[${i}] ${out[i]} vs ${ref[i]}`);
    }
    assert.unreachable(
      `${what}: relative error ${err.toExponential(3)} > ${tolerance}; largest difference at [${worst}]: ` +
        `${out[worst]} vs ${ref[worst]}; first mismatches: ${pairs.join(', ')} (TEST_SEED=${BASE_SEED})`,
    );
  }
}

export function assertBitwiseEqual(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, `${what}: lengths differ`);
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    assert.unreachable(`${what}: differ first at [${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/** Awaits `fn` and asserts that it rejects with an error whose message matches `pattern`. */
export async function assertRejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`should have thrown an error matching ${pattern}`);
}
