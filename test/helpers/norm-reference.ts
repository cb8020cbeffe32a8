// Float64 references for the GPT's LayerNorm, exact (erf) GELU and residual add. Plain loops,
// written for clarity, not speed.
//
// JavaScript has no Math.erf, so erf/erfc here are W. J. Cody's rational Chebyshev approximations
// ("Rational Chebyshev approximations for the error function", Math. Comp. 23, 1969; the CALERF
// coefficients of his 1985 SPECFUN code), relative error below 1e-16 in float64 (checked against
// values from mpmath at 40 digits in test/kernels/gelu-erf.test.ts).

const ERF_A = [3.1611237438705656, 113.86415415105016, 377.4852376853020, 3209.3775891384695, 0.18577770618460315];
const ERF_B = [23.601290952344122, 244.02463793444417, 1282.6165260773723, 2844.2368334391706];
const ERFC_C = [
  0.56418849698867009, 8.8831497943883759, 66.119190637141630, 298.63513819740013, 881.95222124176909,
  1712.0476126340706, 2051.0783778260715, 1230.3393547979972, 2.1531153547440383e-8,
];
const ERFC_D = [15.744926110709835, 117.69395089131250, 537.18110186200986, 1621.3895745666902, 3290.7992357334596,
  4362.6190901432472, 3439.3676741437216, 1230.3393548037494];
const ERFC_P = [0.30532663496123234, 0.36034489994980444, 0.12578172611122925, 0.016083785148742277,
  6.5874916152983780e-4, 0.016315387137302098];
const ERFC_Q = [2.5685201922898224, 1.8729528499234605, 0.52790510295142841, 0.060518341312441319, 2.3352049762686918e-3];
const FRAC_1_SQRT_PI = 0.56418958354775628695;

/** e^(−y²) without the rounding of y² (Cody's split of y into a 4-bit part and the rest). */
function expNegSquare(y: number): number {
  const s = Math.trunc(y * 16) / 16;
  return Math.exp(-s * s) * Math.exp(-(y - s) * (y + s));
}

/** erfc(y) for y > 0.46875, where Cody approximates erfc rather than erf. */
function erfcLarge(y: number): number {
  if (y >= 27) return 0; // below the smallest double
  let num: number;
  let den: number;
  if (y <= 4) {
    num = ERFC_C[8]! * y;
    den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERFC_C[i]!) * y;
      den = (den + ERFC_D[i]!) * y;
    }
    return expNegSquare(y) * ((num + ERFC_C[7]!) / (den + ERFC_D[7]!));
  }
  const w = 1 / (y * y);
  num = ERFC_P[5]! * w;
  den = w;
  for (let i = 0; i < 4; i++) {
    num = (num + ERFC_P[i]!) * w;
    den = (den + ERFC_Q[i]!) * w;
  }
  const r = (w * (num + ERFC_P[4]!)) / (den + ERFC_Q[4]!);
  return expNegSquare(y) * ((FRAC_1_SQRT_PI - r) / y);
}

/** erf(y) for |y| ≤ 0.46875. */
function erfSmall(y: number): number {
  const w = y * y;
  let num = ERF_A[4]! * w;
  let den = w;
  for (let i = 0; i < 3; i++) {
    num = (num + ERF_A[i]!) * w;
    den = (den + ERF_B[i]!) * w;
  }
  return (y * (num + ERF_A[3]!)) / (den + ERF_B[3]!);
}

export function erf(x: number): number {
  const y = Math.abs(x);
  if (y <= 0.46875) return erfSmall(x);
  const r = 1 - erfcLarge(y);
  return x < 0 ? -r : r;
}

export function erfc(x: number): number {
  const y = Math.abs(x);
  if (y <= 0.46875) return 1 - erfSmall(x);
  const r = erfcLarge(y);
  return x < 0 ? 2 - r : r;
}

/** Φ(x), the standard normal CDF: ½·erfc(−x/√2), accurate in both tails. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** PyTorch's nn.GELU() (approximate='none'): x·Φ(x). */
export function geluErfRef(z: ArrayLike<number>): Float64Array {
  return Float64Array.from(z, (x) => x * normalCdf(x));
}

/** dz = dh·(Φ(z) + z·φ(z)). */
export function geluErfGradRef(z: ArrayLike<number>, dh: ArrayLike<number>): Float64Array {
  return Float64Array.from(z, (x, i) => dh[i]! * (normalCdf(x) + x * normalPdf(x)));
}

export interface LayerNormForwardRef {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

/** nn.LayerNorm(cols) over each row of x [rows, cols]: biased variance, eps inside the root. */
export function layerNormRef(
  x: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, rows: number, cols: number, eps = 1e-5,
): LayerNormForwardRef {
  const y = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += x[i * cols + j]!;
    const m = sum / cols;
    let sq = 0;
    for (let j = 0; j < cols; j++) sq += (x[i * cols + j]! - m) ** 2;
    const r = 1 / Math.sqrt(sq / cols + eps);
    for (let j = 0; j < cols; j++) y[i * cols + j] = (x[i * cols + j]! - m) * r * weight[j]! + bias[j]!;
    mean[i] = m;
    rstd[i] = r;
  }
  return { y, mean, rstd };
}

export interface LayerNormBackwardRef {
  dx: Float64Array;
  dweight: Float64Array;
  dbias: Float64Array;
}

/** Gradients of Σ y·dy with respect to x, weight and bias (mean and rstd recomputed in float64). */
export function layerNormBackwardRef(
  x: ArrayLike<number>, weight: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, eps = 1e-5,
): LayerNormBackwardRef {
  const zeros = new Float64Array(cols);
  const { mean, rstd } = layerNormRef(x, weight, zeros, rows, cols, eps);
  const dx = new Float64Array(rows * cols);
  const dweight = new Float64Array(cols);
  const dbias = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const xhat = (j: number) => (x[i * cols + j]! - mean[i]!) * rstd[i]!;
    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < cols; j++) {
      const g = dy[i * cols + j]! * weight[j]!;
      sumG += g;
      sumGX += g * xhat(j);
      dweight[j]! += dy[i * cols + j]! * xhat(j);
      dbias[j]! += dy[i * cols + j]!;
    }
    for (let j = 0; j < cols; j++) {
      const g = dy[i * cols + j]! * weight[j]!;
      dx[i * cols + j] = rstd[i]! * (g - sumG / cols - xhat(j) * (sumGX / cols));
    }
  }
  return { dx, dweight, dbias };
}

const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/** One unit in the last place of an f32 of |v|'s binade (|v| rounded to f32 first); 2^-149 below 2^-126. */
export function ulpF32(v: number): number {
  F32[0] = Math.abs(v);
  const exponent = (F32_BITS[0]! >>> 23) & 0xff;
  return exponent === 0 ? 2 ** -149 : 2 ** (exponent - 127 - 23);
}
