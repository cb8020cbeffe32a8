// Seeded random inputs for tests. Each run draws a fresh base seed (printed on failure by the
// tests that use it) unless TEST_SEED fixes it, so inputs are fresh yet reproducible.
import type { HalfFormat } from './reference.js';
import { BASE_SEED } from './test-env.js';

export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export { BASE_SEED };

export function rng(offset: number): () => number {
  return mulberry32(BASE_SEED + offset);
}

/** Uniform values in [-scale, scale). */
export function randomArray(n: number, random: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

export function randomLabels(n: number, classes: number, random: () => number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * classes);
  return out;
}

/**
 * Fresh random f32 values that exercise the rounding: a spread of magnitudes, exact ties halfway
 * between two 16-bit neighbours (both parities), the format's subnormal range, ±0, the overflow
 * boundary, Inf, NaN and f32 subnormals.
 */
export function halfTestValues(count: number, f: HalfFormat, random: () => number): Float32Array {
  const out = new Float32Array(count);
  const m = f.mantissa;
  const minNormal = 2 ** (1 - f.bias);
  const maxFinite = (2 - 2 ** -m) * 2 ** (f.maxExponent - f.bias);
  const specials = [0, -0, Infinity, -Infinity, NaN, maxFinite, -maxFinite, maxFinite * (1 + 2 ** -(m + 1)), maxFinite * (1 + 2 ** -(m + 2)),
    minNormal, minNormal * 2 ** -m, minNormal * 2 ** -(m + 1), -minNormal * 2 ** -(m + 1) * 1.5, 1e-45, -1e-40, 3.4e38, 65504, 65519.99, 65520, 1e5];
  for (let i = 0; i < count; i++) {
    const kind = Math.floor(random() * 6);
    const sign = random() < 0.5 ? -1 : 1;
    if (kind === 0) {
      out[i] = specials[Math.floor(random() * specials.length)]!;
    } else if (kind === 1) {
      // A tie: an odd number of half-quanta above a random normal exponent.
      const e = Math.floor(random() * 20) - 10;
      const r = 2 ** m + Math.floor(random() * 2 ** m);
      out[i] = sign * (r + 0.5) * 2 ** (e - m);
    } else if (kind === 2) {
      // The subnormal range, ties there included.
      const r = Math.floor(random() * 2 ** (m + 1));
      out[i] = sign * (random() < 0.5 ? r + 0.5 : r + random()) * minNormal * 2 ** -m;
    } else if (kind === 3) {
      out[i] = sign * random() * 10 ** (Math.floor(random() * 14) - 9);
    } else {
      out[i] = (random() * 2 - 1) * 10 ** (Math.floor(random() * 6) - 5); // update-sized deltas
    }
  }
  return out;
}
