// Float64 reference of causal multi-head self-attention (nanoGPT's CausalSelfAttention between
// c_attn and c_proj), forward and backward. Plain loops over the layouts of shaders/attention.wgsl.

export interface AttentionRefShape { batch: number; T: number; C: number; nHead: number }

export interface AttentionRef {
  /** [B, T, C]. */
  y: Float64Array;
  /** [B, nHead, T]: log Σ_{s≤t} exp(score). */
  lse: Float64Array;
  /**
   * [B, nHead, T]: the size of what float32 rounds on the way to lse, max_s scale·Σ_d |q_d·k_sd| +
   * log Σ exp(score − max) (≥ |lse|). The scores are dot products whose terms may cancel, and lse
   * moves by as much as its largest score's rounding error, so compare lse with assertCloseToTerms.
   */
  lseTerms: Float64Array;
  /** [B, nHead, T, T]: softmax probabilities, 0 above the diagonal. */
  att: Float64Array;
}

const qkvIndex = (s: AttentionRefShape, b: number, t: number, part: number, h: number, d: number) =>
  (b * s.T + t) * 3 * s.C + part * s.C + h * (s.C / s.nHead) + d;
const btcIndex = (s: AttentionRefShape, b: number, t: number, h: number, d: number) => (b * s.T + t) * s.C + h * (s.C / s.nHead) + d;

export function attentionRef(qkv: ArrayLike<number>, s: AttentionRefShape): AttentionRef {
  const { batch, T, C, nHead } = s;
  const hs = C / nHead;
  const scale = 1 / Math.sqrt(hs);
  const y = new Float64Array(batch * T * C);
  const lse = new Float64Array(batch * nHead * T);
  const lseTerms = new Float64Array(batch * nHead * T);
  const att = new Float64Array(batch * nHead * T * T);
  const scores = new Float64Array(T);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHead; h++) {
      for (let t = 0; t < T; t++) {
        let max = -Infinity;
        let maxTerms = 0;
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          let terms = 0;
          for (let d = 0; d < hs; d++) {
            const term = qkv[qkvIndex(s, b, t, 0, h, d)]! * qkv[qkvIndex(s, b, u, 1, h, d)]!;
            dot += term;
            terms += Math.abs(term);
          }
          scores[u] = dot * scale;
          max = Math.max(max, scores[u]!);
          maxTerms = Math.max(maxTerms, terms * scale);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) sum += Math.exp(scores[u]! - max);
        const row = ((b * nHead + h) * T + t);
        lse[row] = max + Math.log(sum);
        lseTerms[row] = maxTerms + Math.log(sum);
        for (let u = 0; u <= t; u++) {
          const prob = Math.exp(scores[u]! - max) / sum;
          att[row * T + u] = prob;
          for (let d = 0; d < hs; d++) y[btcIndex(s, b, t, h, d)]! += prob * qkv[qkvIndex(s, b, u, 2, h, d)]!;
        }
      }
    }
  }
  return { y, lse, lseTerms, att };
}

/** dqkv [B, T, 3C] from dy [B, T, C], the textbook way: dP = dy·vᵀ, dS = P ∘ (dP − rowsum(P ∘ dP)). */
export function attentionBackwardRef(qkv: ArrayLike<number>, dy: ArrayLike<number>, s: AttentionRefShape): Float64Array {
  const { batch, T, C, nHead } = s;
  const hs = C / nHead;
  const scale = 1 / Math.sqrt(hs);
  const { att } = attentionRef(qkv, s);
  const dqkv = new Float64Array(batch * T * 3 * C);
  const dP = new Float64Array(T);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHead; h++) {
      for (let t = 0; t < T; t++) {
        const row = (b * nHead + h) * T + t;
        let rowSum = 0;
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let d = 0; d < hs; d++) dot += dy[btcIndex(s, b, t, h, d)]! * qkv[qkvIndex(s, b, u, 2, h, d)]!;
          dP[u] = dot;
          rowSum += att[row * T + u]! * dot;
        }
        for (let u = 0; u <= t; u++) {
          const prob = att[row * T + u]!;
          const dS = prob * (dP[u]! - rowSum) * scale;
          for (let d = 0; d < hs; d++) {
            dqkv[qkvIndex(s, b, t, 0, h, d)]! += dS * qkv[qkvIndex(s, b, u, 1, h, d)]!;
            dqkv[qkvIndex(s, b, u, 1, h, d)]! += dS * qkv[qkvIndex(s, b, t, 0, h, d)]!;
            dqkv[qkvIndex(s, b, u, 2, h, d)]! += prob * dy[btcIndex(s, b, t, h, d)]!;
          }
        }
      }
    }
  }
  return dqkv;
}
