// Float64 CPU references for every kernel. Plain loops, written for clarity, not speed.

/** C = op(A)·op(B) (+ bias) with the storage conventions of shaders/matmul.wgsl. */
export function matmulRef(
  a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number,
  opts: { transA?: boolean; transB?: boolean; bias?: ArrayLike<number> | undefined } = {},
): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = opts.bias ? opts.bias[j]! : 0;
      for (let k = 0; k < K; k++) {
        const av = opts.transA ? a[k * M + i]! : a[i * K + k]!;
        const bv = opts.transB ? b[j * K + k]! : b[k * N + j]!;
        sum += av * bv;
      }
      c[i * N + j] = sum;
    }
  }
  return c;
}

// ---- Training kernels: activation, bias grad, cross-entropy, optimizers, average, a 2-layer MLP ----

export type ActivationRefName = 'relu' | 'gelu' | 'none';
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU(approximate='tanh') = 0.5·x·(1 + tanh(u)), evaluated as x·σ(2u): the same function, but
 * 1 + tanh(u) loses digits to cancellation for x below about −3 even in float64 (all of them below
 * −8), and a reference must be the most precise value, not a second rounding of the same formula.
 */
function geluParts(x: number): { s: number; sNeg: number; dTwoU: number } {
  const twoU = 2 * SQRT_2_OVER_PI * (x + 0.044715 * x ** 3);
  return {
    s: 1 / (1 + Math.exp(-twoU)),
    sNeg: 1 / (1 + Math.exp(twoU)),
    dTwoU: 2 * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x),
  };
}

/** PyTorch's activations; gelu is GELU(approximate='tanh'). */
export function activationRef(z: ArrayLike<number>, act: ActivationRefName): Float64Array {
  return Float64Array.from(z, (x) => {
    if (act === 'relu') return Math.max(x, 0);
    if (act === 'gelu') return x * geluParts(x).s;
    return x;
  });
}

/** dz = dh · act'(z), with relu'(0) = 0 as in PyTorch. */
export function activationGradRef(z: ArrayLike<number>, dh: ArrayLike<number>, act: ActivationRefName): Float64Array {
  return Float64Array.from(z, (x, i) => {
    let d = 1;
    if (act === 'relu') d = x > 0 ? 1 : 0;
    if (act === 'gelu') {
      // d/dx of x·σ(2u); the product's second factor is 0.5·x·(1 − tanh²u)·u' rewritten.
      const { s, sNeg, dTwoU } = geluParts(x);
      // s·sNeg underflows to 0 for large |x|, where x·dTwoU may overflow: 0·inf must not be NaN.
      d = s + (s * sNeg === 0 ? 0 : x * s * sNeg * dTwoU);
    }
    return dh[i]! * d;
  });
}

/** db[j] = Σ_i dy[i, j] for dy [rows, cols] row-major. */
export function biasGradRef(dy: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const db = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) db[j]! += dy[i * cols + j]!;
  return db;
}

export interface CrossEntropyRef {
  /** (softmax − one-hot) · gradScale, [rows, classes]. */
  dlogits: Float64Array;
  /** −log softmax[label] per row. */
  loss: Float64Array;
  /** 1 where the first argmax is the label. */
  correct: Float64Array;
}

export function softmaxCrossEntropyRef(
  logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, classes: number, gradScale: number,
): CrossEntropyRef {
  const dlogits = new Float64Array(rows * classes);
  const loss = new Float64Array(rows);
  const correct = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const row = i * classes;
    let max = logits[row]!;
    let argmax = 0;
    for (let c = 1; c < classes; c++) if (logits[row + c]! > max) { max = logits[row + c]!; argmax = c; }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[row + c]! - max);
    const label = labels[i]!;
    loss[i] = Math.log(sum) - (logits[row + label]! - max);
    correct[i] = argmax === label ? 1 : 0;
    for (let c = 0; c < classes; c++) {
      dlogits[row + c] = (Math.exp(logits[row + c]! - max) / sum - (c === label ? 1 : 0)) * gradScale;
    }
  }
  return { dlogits, loss, correct };
}

/** One torch.optim.SGD step in float64, updating p and buf in place. */
export function sgdStepRef(
  p: Float64Array, buf: Float64Array, grad: ArrayLike<number>,
  h: { lr: number; momentum: number; weightDecay: number; nesterov: boolean; dampening?: number; firstStep: boolean },
): void {
  const dampening = h.dampening ?? 0;
  for (let i = 0; i < p.length; i++) {
    let g = grad[i]! + h.weightDecay * p[i]!;
    if (h.momentum !== 0) {
      buf[i] = h.firstStep ? g : h.momentum * buf[i]! + (1 - dampening) * g;
      g = h.nesterov ? g + h.momentum * buf[i]! : buf[i]!;
    }
    p[i]! -= h.lr * g;
  }
}

/** One torch.optim.AdamW step in float64 (step is 1-based), updating p, m, v in place. */
export function adamwStepRef(
  p: Float64Array, m: Float64Array, v: Float64Array, grad: ArrayLike<number>,
  h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number },
): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < p.length; i++) {
    const g = grad[i]!;
    p[i]! *= 1 - h.lr * h.weightDecay;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g;
    p[i]! -= (h.lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + h.eps);
  }
}

/** The mean of n stacked vectors: inputs [n, count]. */
export function averageRef(inputs: ArrayLike<number>, count: number, n: number): Float64Array {
  const out = new Float64Array(count);
  for (let r = 0; r < n; r++) for (let j = 0; j < count; j++) out[j]! += inputs[r * count + j]!;
  return out.map((s) => s / n);
}

/** The float64 mean of whole vectors in rank order, rounded once to float32: what the coordinator promises a round. */
export function meanRef(inputs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(inputs[0]!.length);
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (const input of inputs) sum += input[i]!;
    out[i] = sum / inputs.length;
  }
  return out;
}

/** A 2-layer MLP in nn.Linear layout: W1 [hidden, inputs], b1 [hidden], W2 [classes, hidden], b2 [classes]. */
export interface MlpRefParams {
  w1: ArrayLike<number>;
  b1: ArrayLike<number>;
  w2: ArrayLike<number>;
  b2: ArrayLike<number>;
}

export interface MlpRefShape {
  batch: number;
  inputs: number;
  hidden: number;
  classes: number;
  activation: ActivationRefName;
}

export interface MlpRefResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** Pre-activations of the hidden layer, [batch, hidden] (finite-difference checks avoid relu's kink). */
  z1: Float64Array;
  grads: { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array };
}

/** Forward and backward of logits = W2·act(W1·x + b1) + b2 with the mean cross-entropy loss. */
export function mlpRef(params: MlpRefParams, x: ArrayLike<number>, labels: ArrayLike<number>, s: MlpRefShape): MlpRefResult {
  const z1 = matmulRef(x, params.w1, s.batch, s.hidden, s.inputs, { transB: true, bias: params.b1 });
  const h = activationRef(z1, s.activation);
  const logits = matmulRef(h, params.w2, s.batch, s.classes, s.hidden, { transB: true, bias: params.b2 });
  const ce = softmaxCrossEntropyRef(logits, labels, s.batch, s.classes, 1 / s.batch);
  const loss = ce.loss.reduce((a, b) => a + b, 0) / s.batch;
  const dz2 = ce.dlogits;
  const w2 = matmulRef(dz2, h, s.classes, s.hidden, s.batch, { transA: true });
  const b2 = biasGradRef(dz2, s.batch, s.classes);
  const dh = matmulRef(dz2, params.w2, s.batch, s.hidden, s.classes);
  const dz1 = activationGradRef(z1, dh, s.activation);
  const w1 = matmulRef(dz1, x, s.hidden, s.inputs, s.batch, { transA: true });
  const b1 = biasGradRef(dz1, s.batch, s.hidden);
  return { loss, z1, grads: { w1, b1, w2, b2 } };
}

// ---- 16-bit floats (compressed averaging), by arithmetic on values rather than on bits ----

export interface HalfFormat {
  name: 'f16' | 'bf16';
  /** Stored mantissa bits, exponent bias, and the largest biased exponent of a finite value. */
  mantissa: number;
  bias: number;
  maxExponent: number;
}
export const F16: HalfFormat = { name: 'f16', mantissa: 10, bias: 15, maxExponent: 30 };
export const BF16: HalfFormat = { name: 'bf16', mantissa: 7, bias: 127, maxExponent: 254 };

function roundHalfEven(n: number): number {
  const down = Math.floor(n);
  const rest = n - down;
  if (rest > 0.5) return down + 1;
  if (rest < 0.5) return down;
  return down % 2 === 0 ? down : down + 1;
}

/**
 * The 16-bit pattern nearest to `x` (an f32 value), ties to even, IEEE overflow to ±Inf; NaN gives
 * undefined (any NaN pattern is right). Works on the value: quantum q = 2^(exponent − mantissa),
 * with subnormals sharing the smallest normal exponent's quantum.
 */
export function halfBitsRef(x: number, f: HalfFormat): number | undefined {
  if (Number.isNaN(x)) return undefined;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const infinity = sign | ((f.maxExponent + 1) << f.mantissa);
  if (a === Infinity) return infinity;
  const minExponent = 1 - f.bias;
  let e = a === 0 ? minExponent : Math.floor(Math.log2(a));
  if (a !== 0 && 2 ** e > a) e--; // log2 can round up just below a power of two
  if (a !== 0 && 2 ** (e + 1) <= a) e++;
  e = Math.max(e, minExponent);
  const q = 2 ** (e - f.mantissa);
  const r = roundHalfEven(a / q); // a / q is exact: a power-of-two scaling
  // r counts quanta of 2^(e − mantissa): 2^mantissa ..= 2^(mantissa+1) for normals (the top one
  // carries into the next exponent), below 2^mantissa for subnormals.
  const biased = r >= 2 ** f.mantissa ? e + f.bias : 0;
  const value = r * q;
  if (value >= 2 ** (f.maxExponent - f.bias + 1)) return infinity;
  const bits = biased === 0 ? r : (biased << f.mantissa) + (r - 2 ** f.mantissa);
  return sign | bits;
}

/** The value of a 16-bit pattern. */
export function halfValueRef(bits: number, f: HalfFormat): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> f.mantissa) & ((1 << (15 - f.mantissa)) - 1);
  const m = bits & ((1 << f.mantissa) - 1);
  if (e === f.maxExponent + 1) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** (1 - f.bias - f.mantissa);
  return sign * (2 ** f.mantissa + m) * 2 ** (e - f.bias - f.mantissa);
}
