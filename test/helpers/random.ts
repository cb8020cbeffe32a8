// Seeded random inputs for tests. Each run draws a fresh base seed (printed on failure by the
// tests that use it) unless TEST_SEED fixes it, so inputs are fresh yet reproducible.
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

export const BASE_SEED = process.env.TEST_SEED ? Number(process.env.TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

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
