// The project's one seeded PRNG: mulberry32 (32-bit state, period 2^32), small and fast enough to
// draw 100M normals, and identical in every process, so that data order and initial weights are
// reproducible across workers and runs.

export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Standard normal N(0, 1) by the Box–Muller transform. */
  normal(): number;
  /** Uniform integer in [0, n), for 1 ≤ n ≤ 2^32. */
  int(n: number): number;
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`createRng: seed must be a finite number (got ${seed}); pass an integer such as --seed 0`);
  let state = seed >>> 0;
  // Box–Muller yields normals in pairs; keeping the second halves the cost of normal().
  let spare = 0;
  let hasSpare = false;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal(): number {
      if (hasSpare) {
        hasSpare = false;
        return spare;
      }
      // 1 - next() lies in (0, 1], so the logarithm is finite.
      const radius = Math.sqrt(-2 * Math.log(1 - next()));
      const angle = 2 * Math.PI * next();
      spare = radius * Math.sin(angle);
      hasSpare = true;
      return radius * Math.cos(angle);
    },
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
        throw new Error(`rng.int(n): n must be an integer from 1 to 2^32 (got ${n})`);
      }
      return Math.floor(next() * n);
    },
  };
}

/** Fisher–Yates: every permutation equally likely (up to the PRNG), in place. */
export function shuffleInPlace(a: Uint32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/**
 * A seed for an independent stream derived from `seed` (murmur3's finaliser), so that e.g. the
 * train and test sets of a synthetic task do not share a sequence whatever their sizes.
 */
export function deriveSeed(seed: number, stream: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
