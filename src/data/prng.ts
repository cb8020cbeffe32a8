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
  /** The raw 32-bit output, an integer in [0, 2^32). */
  uint32(): number;
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`createRng: seed must be a finite number (got ${seed}); pass an integer such as --seed 0`);
  let state = seed >>> 0;
  // Box–Muller yields normals in pairs; keeping the second halves the cost of normal().
  let spare = 0;
  let hasSpare = false;
  const uint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = (): number => uint32() / 4294967296;
  return {
    next,
    uint32,
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

// Ziggurat tables (Marsaglia & Tsang 2000, 128 layers) for fillNormal. The value comes from the
// top 25 bits and the layer from the low 7, so the two are independent (Doornik 2005's fix).
const ZIG_LAYERS = 128;
const ZIG_R = 3.442619855899;
const ZIG_SCALE = 2 ** 24;
const zigK = new Float64Array(ZIG_LAYERS);
const zigW = new Float64Array(ZIG_LAYERS);
const zigF = new Float64Array(ZIG_LAYERS);
{
  const area = 9.91256303526217e-3;
  let d = ZIG_R;
  let t = d;
  const q = area / Math.exp(-0.5 * d * d);
  zigK[0] = (d / q) * ZIG_SCALE;
  zigK[1] = 0;
  zigW[0] = q / ZIG_SCALE;
  zigW[ZIG_LAYERS - 1] = d / ZIG_SCALE;
  zigF[0] = 1;
  zigF[ZIG_LAYERS - 1] = Math.exp(-0.5 * d * d);
  for (let i = ZIG_LAYERS - 2; i >= 1; i--) {
    d = Math.sqrt(-2 * Math.log(area / d + Math.exp(-0.5 * d * d)));
    zigK[i + 1] = (d / t) * ZIG_SCALE;
    t = d;
    zigF[i] = Math.exp(-0.5 * d * d);
    zigW[i] = d / ZIG_SCALE;
  }
}

/**
 * Fills `out` with N(0, 1) samples by the ziggurat method: about 4× faster than normal() (one
 * 32-bit draw and a comparison for 99% of samples, no logarithm or cosine), for data sets of
 * 100M values. A different sequence from normal(), equally deterministic.
 */
export function fillNormal(out: Float32Array | Float64Array, rng: Rng): void {
  for (let n = 0; n < out.length; n++) {
    const u = rng.uint32();
    const layer = u & (ZIG_LAYERS - 1);
    const h = (u | 0) >> 7; // signed, |h| < 2^24
    out[n] = Math.abs(h) < zigK[layer]! ? h * zigW[layer]! : zigSlow(rng, h, layer);
  }
}

/** The rare draws outside a layer's inner rectangle: the tail beyond ZIG_R, or a wedge. */
function zigSlow(rng: Rng, h: number, layer: number): number {
  for (;;) {
    const x = h * zigW[layer]!;
    if (layer === 0) {
      let tx: number;
      let ty: number;
      do {
        tx = -Math.log(1 - rng.next()) / ZIG_R;
        ty = -Math.log(1 - rng.next());
      } while (ty + ty < tx * tx);
      return h > 0 ? ZIG_R + tx : -ZIG_R - tx;
    }
    if (zigF[layer]! + rng.next() * (zigF[layer - 1]! - zigF[layer]!) < Math.exp(-0.5 * x * x)) return x;
    const u = rng.uint32();
    layer = u & (ZIG_LAYERS - 1);
    h = (u | 0) >> 7;
    if (Math.abs(h) < zigK[layer]!) return h * zigW[layer]!;
  }
}
