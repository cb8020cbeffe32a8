// Float64 CPU references for the language model's embedding, gradient norm and clipping.
// (The vocabulary cross-entropy's reference is softmaxCrossEntropyRef in reference.ts: same maths.)

export interface EmbeddingRefShape {
  batch: number;
  seqLen: number;
  channels: number;
  vocab: number;
}

/** x[b, t, :] = wte[idx[b, t], :] + wpe[t, :]. */
export function embeddingRef(idx: ArrayLike<number>, wte: ArrayLike<number>, wpe: ArrayLike<number>, s: EmbeddingRefShape): Float64Array {
  const { batch: B, seqLen: T, channels: C } = s;
  const x = new Float64Array(B * T * C);
  for (let n = 0; n < B * T; n++) {
    const t = n % T;
    for (let c = 0; c < C; c++) x[n * C + c] = wte[idx[n]! * C + c]! + wpe[t * C + c]!;
  }
  return x;
}

/** dwte [V, C] and dwpe [T, C] of the embedding, given dx [B, T, C]. */
export function embeddingBackwardRef(idx: ArrayLike<number>, dx: ArrayLike<number>, s: EmbeddingRefShape): { dwte: Float64Array; dwpe: Float64Array } {
  const { batch: B, seqLen: T, channels: C, vocab: V } = s;
  const dwte = new Float64Array(V * C);
  const dwpe = new Float64Array(T * C);
  for (let n = 0; n < B * T; n++) {
    const t = n % T;
    for (let c = 0; c < C; c++) {
      dwte[idx[n]! * C + c]! += dx[n * C + c]!;
      dwpe[t * C + c]! += dx[n * C + c]!;
    }
  }
  return { dwte, dwpe };
}

/** torch.nn.utils.clip_grad_norm_(max_norm): the global L2 norm and the clamped clip coefficient. */
export function gradNormRef(tensors: readonly ArrayLike<number>[], maxNorm: number): { norm: number; scale: number } {
  let sum = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) sum += t[i]! * t[i]!;
  const norm = Math.sqrt(sum);
  return { norm, scale: Math.min(1, maxNorm / (norm + 1e-6)) };
}

/**
 * Central finite differences of a float64 scalar function f at x, element by element:
 * the check that an analytic reference gradient is the gradient.
 */
export function finiteDifferences(x: Float64Array, f: (x: Float64Array) => number, h = 1e-6): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!;
    x[i] = keep + h;
    const up = f(x);
    x[i] = keep - h;
    const down = f(x);
    x[i] = keep;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}
