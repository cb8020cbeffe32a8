// assertClose: relative error ‖out − ref‖ / ‖ref‖ against a float64 reference, failing on any NaN
// or Inf (so poisoned, unwritten outputs fail), and reporting where it went wrong.
// assertCloseToTerms: the same, but relative to the size of the terms that float32 rounds on the way
// to each value, for values that are sums whose terms cancel.
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
  assertFinite(out, ref, what);
  const err = relativeError(out, ref);
  if (!(err <= tolerance)) {
    const scale = Math.max(...Array.from(ref, Math.abs)) || 1;
    reportMismatch(out, ref, () => tolerance * scale, what, `relative error ${err.toExponential(3)} > ${tolerance}`);
  }
}

/**
 * ‖out − ref‖ / ‖terms‖, where terms[i] is the size of what float32 rounds on the way to ref[i]:
 * Σ|t| of a sum Σ t, scale·Σ|q·k| of a scaled dot product. A sum whose terms cancel is only as exact
 * as its largest terms, so relative to |ref| its float32 error is unbounded as ref nears zero, while
 * relative to the terms it is a few units of float32 rounding (2^-24) whatever the cancellation.
 * Where nothing cancels, terms = |ref| and this is relativeError.
 */
export function errorRelativeToTerms(out: ArrayLike<number>, ref: ArrayLike<number>, terms: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    diff += (out[i]! - ref[i]!) ** 2;
    norm += terms[i]! ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/**
 * assertClose for values with cancellation: the error is measured against `terms` (see
 * errorRelativeToTerms), which must be at least |ref| everywhere, so the bound is never looser than
 * float32 can explain and a dropped term or a wrong index still shows as an error the size of a term.
 */
export function assertCloseToTerms(
  out: ArrayLike<number>, ref: ArrayLike<number>, terms: ArrayLike<number>, what: string, tolerance = 1e-5,
): void {
  assert.is(out.length, ref.length, `${what}: length ${out.length}, expected ${ref.length}`);
  assert.is(terms.length, ref.length, `${what}: ${terms.length} term sizes for ${ref.length} values; give one per value`);
  for (let i = 0; i < ref.length; i++) {
    // A relative slack for the float64 rounding of the two sums; anything more is a wrong terms array.
    if (!(terms[i]! >= Math.abs(ref[i]!) * (1 - 1e-12))) {
      assert.unreachable(`${what}: terms[${i}] = ${terms[i]} is below |ref[${i}]| = ${Math.abs(ref[i]!)}; terms must be Σ|t| of the sum that gives ref, never less than |ref|`);
    }
  }
  assertFinite(out, ref, what);
  const err = errorRelativeToTerms(out, ref, terms);
  if (!(err <= tolerance)) {
    reportMismatch(out, ref, (i) => tolerance * terms[i]!, what, `error ${err.toExponential(3)} relative to the terms > ${tolerance}`);
  }
}

function assertFinite(out: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  const bad: string[] = [];
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) bad.push(`[${i}] = ${out[i]} (ref ${ref[i]})`);
    if (bad.length >= 5) break;
  }
  if (bad.length) assert.unreachable(`${what}: non-finite output (unwritten or overflowed): ${bad.join(', ')} (TEST_SEED=${BASE_SEED})`);
}

/** Fails naming the largest difference and the first pairs that differ by more than allowed(i). */
function reportMismatch(out: ArrayLike<number>, ref: ArrayLike<number>, allowed: (i: number) => number, what: string, summary: string): void {
  let worst = 0;
  for (let i = 0; i < out.length; i++) if (Math.abs(out[i]! - ref[i]!) > Math.abs(out[worst]! - ref[worst]!)) worst = i;
  const pairs: string[] = [];
  for (let i = 0; i < out.length && pairs.length < 5; i++) {
    if (Math.abs(out[i]! - ref[i]!) > allowed(i)) pairs.push(`[${i}] ${out[i]} vs ${ref[i]}`);
  }
  assert.unreachable(
    `${what}: ${summary}; largest difference at [${worst}]: ` +
      `${out[worst]} vs ${ref[worst]}; first mismatches: ${pairs.join(', ')} (TEST_SEED=${BASE_SEED})`,
  );
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
