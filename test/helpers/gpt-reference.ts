// A CPU float64 reference of nanoGPT's GPT (model.py), in the manner of llm.c's train_gpt2.c:
// plain loops, one flat parameter array with a layout table, forward to the mean cross-entropy,
// backward to every gradient, gradient clipping and AdamW as PyTorch computes them. It is the
// yardstick for the GPU kernels and the GPU model, so it favours the most precise value over speed.
//
// Model: token embedding wte [V, C] + learned positions wpe [T, C]; n_layer pre-LayerNorm blocks
// (LayerNorm with bias, eps 1e-5 → causal self-attention with one c_attn [3C, C] and c_proj [C, C],
// softmax scaled by 1/√(C/n_head) → residual → LayerNorm → c_fc [4C, C] → exact (erf) GELU →
// c_proj [C, 4C] → residual); ln_f; logits = ln_f(x) · wteᵀ (the head is tied to wte). Linear
// weights are [out, in] as in torch.nn.Linear. No dropout.
import { createRng } from '../../src/data/prng.js';
import type { AdamWHyper } from '../../src/kernels/optimizers.js';

export interface GptConfig {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

export interface GptParamEntry {
  /** nanoGPT's name, e.g. transformer.h.0.attn.c_attn.weight. */
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** AdamW weight decay applies (nanoGPT: every parameter of 2 or more dimensions). */
  decay: boolean;
}

export interface GptLayout {
  entries: GptParamEntry[];
  size: number;
  byName: Map<string, GptParamEntry>;
}

const LN_EPS = 1e-5;

/** The parameters in nanoGPT's named_parameters() order (the tied lm_head.weight is wte, not stored). */
export function gptLayout(c: GptConfig): GptLayout {
  checkConfig(c);
  const C = c.nEmbd;
  const shapes: Array<[string, number[]]> = [
    ['transformer.wte.weight', [c.vocabSize, C]],
    ['transformer.wpe.weight', [c.blockSize, C]],
  ];
  for (let l = 0; l < c.nLayer; l++) {
    const h = `transformer.h.${l}`;
    shapes.push(
      [`${h}.ln_1.weight`, [C]], [`${h}.ln_1.bias`, [C]],
      [`${h}.attn.c_attn.weight`, [3 * C, C]], [`${h}.attn.c_attn.bias`, [3 * C]],
      [`${h}.attn.c_proj.weight`, [C, C]], [`${h}.attn.c_proj.bias`, [C]],
      [`${h}.ln_2.weight`, [C]], [`${h}.ln_2.bias`, [C]],
      [`${h}.mlp.c_fc.weight`, [4 * C, C]], [`${h}.mlp.c_fc.bias`, [4 * C]],
      [`${h}.mlp.c_proj.weight`, [C, 4 * C]], [`${h}.mlp.c_proj.bias`, [C]],
    );
  }
  shapes.push(['transformer.ln_f.weight', [C]], ['transformer.ln_f.bias', [C]]);
  let offset = 0;
  const entries = shapes.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const entry = { name, shape, offset, size, decay: shape.length >= 2 };
    offset += size;
    return entry;
  });
  return { entries, size: offset, byName: new Map(entries.map((e) => [e.name, e])) };
}

function checkConfig(c: GptConfig): void {
  for (const key of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new Error(`gpt reference: ${key} must be an integer ≥ 1 (got ${c[key]})`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new Error(`gpt reference: n_embd ${c.nEmbd} is not a multiple of n_head ${c.nHead}`);
}

/** The subarray of `flat` (parameters, gradients or moments) that holds `name`. */
export function tensorOf(layout: GptLayout, flat: Float64Array, name: string): Float64Array {
  const e = layout.byName.get(name);
  if (!e) throw new Error(`gpt reference: no parameter "${name}"`);
  return flat.subarray(e.offset, e.offset + e.size);
}

/**
 * nanoGPT's initialisation: every weight normal(0, 0.02), the residual projections (attn.c_proj and
 * mlp.c_proj weights) normal(0, 0.02/√(2·n_layer)), biases 0, LayerNorm weights 1. Draws in layout order.
 */
export function initGptParams(c: GptConfig, seed: number): Float64Array {
  const layout = gptLayout(c);
  const p = new Float64Array(layout.size);
  const rng = createRng(seed);
  for (const e of layout.entries) {
    const t = p.subarray(e.offset, e.offset + e.size);
    if (/\.ln_\w+\.weight$/.test(e.name)) t.fill(1);
    else if (e.name.endsWith('.bias')) t.fill(0);
    else {
      const std = e.name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02;
      for (let i = 0; i < t.length; i++) t[i] = std * rng.normal();
    }
  }
  return p;
}

/**
 * Parameters far from the initialisation (LayerNorm weights 1 ± scale, everything else ± scale,
 * biases included), so that every path carries gradient in a test.
 */
export function randomGptParams(c: GptConfig, random: () => number, scale = 0.5): Float64Array {
  const layout = gptLayout(c);
  const p = new Float64Array(layout.size);
  for (const e of layout.entries) {
    const base = /\.ln_\w+\.weight$/.test(e.name) ? 1 : 0;
    for (let i = e.offset; i < e.offset + e.size; i++) p[i] = base + (random() * 2 - 1) * scale;
  }
  return p;
}

// ---- erf and the exact GELU -------------------------------------------------------------------

/**
 * erf(x) to about 1 ulp: erf(x) = 2/√π · e^(−x²) · Σ_{n≥0} 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), a series of
 * positive terms (no cancellation) for |x| < 6, and ±1 beyond (erfc(6) ≈ 2e-17).
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  if (a === 0) return 0 * x; // keeps −0
  let term = a;
  let sum = a;
  for (let n = 1; n < 200; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
}

/** GELU(x) = x·Φ(x) = 0.5·x·(1 + erf(x/√2)), torch.nn.GELU() (approximate='none'). */
export function geluExact(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** GELU'(x) = Φ(x) + x·φ(x). */
export function geluExactGrad(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

// ---- building blocks (llm.c's, in float64) ----------------------------------------------------

/** out[r, :] = LN(x[r, :]) · w + b; keeps mean and 1/std per row for the backward pass. */
function layerNormForward(out: Float64Array, mean: Float64Array, rstd: Float64Array, x: Float64Array, w: Float64Array, b: Float64Array, rows: number, C: number): void {
  for (let r = 0; r < rows; r++) {
    const at = r * C;
    let m = 0;
    for (let i = 0; i < C; i++) m += x[at + i]!;
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) v += (x[at + i]! - m) ** 2;
    v /= C; // biased variance, as torch.nn.LayerNorm
    const s = 1 / Math.sqrt(v + LN_EPS);
    for (let i = 0; i < C; i++) out[at + i] = (x[at + i]! - m) * s * w[i]! + b[i]!;
    mean[r] = m;
    rstd[r] = s;
  }
}

function layerNormBackward(
  dx: Float64Array, dw: Float64Array, db: Float64Array, dout: Float64Array, x: Float64Array, w: Float64Array,
  mean: Float64Array, rstd: Float64Array, rows: number, C: number,
): void {
  for (let r = 0; r < rows; r++) {
    const at = r * C;
    const m = mean[r]!;
    const s = rstd[r]!;
    let dnormMean = 0;
    let dnormNormMean = 0;
    for (let i = 0; i < C; i++) {
      const norm = (x[at + i]! - m) * s;
      const dnorm = w[i]! * dout[at + i]!;
      dnormMean += dnorm;
      dnormNormMean += dnorm * norm;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let i = 0; i < C; i++) {
      const norm = (x[at + i]! - m) * s;
      const dnorm = w[i]! * dout[at + i]!;
      db[i]! += dout[at + i]!;
      dw[i]! += norm * dout[at + i]!;
      dx[at + i]! += (dnorm - dnormMean - norm * dnormNormMean) * s;
    }
  }
}

/** out[r, o] = bias[o] + Σ_i x[r, i] · W[o, i]  (W [outC, inC], as torch.nn.Linear). */
function matmulForward(out: Float64Array, x: Float64Array, W: Float64Array, bias: Float64Array | undefined, rows: number, inC: number, outC: number): void {
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outC; o++) {
      let v = bias ? bias[o]! : 0;
      for (let i = 0; i < inC; i++) v += x[r * inC + i]! * W[o * inC + i]!;
      out[r * outC + o] = v;
    }
  }
}

/** Accumulates dx += dout · W, dW += doutᵀ · x, dbias += Σ_r dout. */
function matmulBackward(
  dx: Float64Array, dW: Float64Array, dbias: Float64Array | undefined, dout: Float64Array, x: Float64Array, W: Float64Array,
  rows: number, inC: number, outC: number,
): void {
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outC; o++) {
      const d = dout[r * outC + o]!;
      for (let i = 0; i < inC; i++) {
        dx[r * inC + i]! += d * W[o * inC + i]!;
        dW[o * inC + i]! += d * x[r * inC + i]!;
      }
      if (dbias) dbias[o]! += d;
    }
  }
}

/**
 * Causal self-attention on qkv [B, T, 3C] (q, k, v side by side, head h in columns h·hs … of each).
 * att [B, NH, T, T] keeps the probabilities (0 above the diagonal); out [B, T, C].
 */
function attentionForward(out: Float64Array, att: Float64Array, qkv: Float64Array, B: number, T: number, C: number, NH: number): void {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  att.fill(0);
  out.fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * C3 + h * hs;
        const row = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = (b * T + t2) * C3 + C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += qkv[q + i]! * qkv[k + i]!;
          s *= scale;
          att[row + t2] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = Math.exp(att[row + t2]! - max);
          att[row + t2] = e;
          sum += e;
        }
        for (let t2 = 0; t2 <= t; t2++) att[row + t2]! /= sum;
        const o = (b * T + t) * C + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * C3 + 2 * C + h * hs;
          const a = att[row + t2]!;
          for (let i = 0; i < hs; i++) out[o + i]! += a * qkv[v + i]!;
        }
      }
    }
  }
}

function attentionBackward(dqkv: Float64Array, dout: Float64Array, qkv: Float64Array, att: Float64Array, B: number, T: number, C: number, NH: number): void {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const datt = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * NH + h) * T + t) * T;
        const o = (b * T + t) * C + h * hs;
        // out = Σ att·v: gradients of att and v.
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * C3 + 2 * C + h * hs;
          let d = 0;
          for (let i = 0; i < hs; i++) {
            d += qkv[v + i]! * dout[o + i]!;
            dqkv[v + i]! += att[row + t2]! * dout[o + i]!;
          }
          datt[t2] = d;
        }
        // Softmax backward: dscore[t3] = att[t3] · (datt[t3] − Σ_t2 att[t2]·datt[t2]).
        let dot = 0;
        for (let t2 = 0; t2 <= t; t2++) dot += att[row + t2]! * datt[t2]!;
        const q = (b * T + t) * C3 + h * hs;
        for (let t3 = 0; t3 <= t; t3++) {
          const dscore = att[row + t3]! * (datt[t3]! - dot) * scale;
          const k = (b * T + t3) * C3 + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i]! += dscore * qkv[k + i]!;
            dqkv[k + i]! += dscore * qkv[q + i]!;
          }
        }
      }
    }
  }
}

// ---- the model --------------------------------------------------------------------------------

interface LayerActs {
  ln1: Float64Array; ln1Mean: Float64Array; ln1Rstd: Float64Array;
  qkv: Float64Array; att: Float64Array; atty: Float64Array;
  res2: Float64Array;
  ln2: Float64Array; ln2Mean: Float64Array; ln2Rstd: Float64Array;
  fch: Float64Array; fchGelu: Float64Array;
  res3: Float64Array;
}

export interface GptForward {
  /** Mean cross-entropy over the B·T targets (NaN when no targets were given). */
  loss: number;
  /** [B, T, V]. */
  logits: Float64Array;
  /** Per-position cross-entropy [B, T] (empty without targets). */
  losses: Float64Array;
  /** Activations for gptBackward. */
  acts: { x0: Float64Array; layers: LayerActs[]; lnf: Float64Array; lnfMean: Float64Array; lnfRstd: Float64Array; probs: Float64Array };
  B: number;
  T: number;
}

function checkTokens(c: GptConfig, tokens: ArrayLike<number>, B: number, T: number, what: string): void {
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1 || T > c.blockSize) {
    throw new Error(`gpt reference: B ${B} and T ${T} must be integers ≥ 1 with T ≤ block_size ${c.blockSize}`);
  }
  if (tokens.length !== B * T) throw new Error(`gpt reference: ${what} has ${tokens.length} tokens, expected B·T = ${B * T}`);
  for (let i = 0; i < tokens.length; i++) {
    const v = tokens[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= c.vocabSize) throw new Error(`gpt reference: ${what}[${i}] = ${v} is not a token id below ${c.vocabSize}`);
  }
}

/** Forward pass on inputs [B, T]; with targets [B, T] also the per-position and mean cross-entropy. */
export function gptForward(c: GptConfig, params: Float64Array, inputs: ArrayLike<number>, targets: ArrayLike<number> | undefined, B: number, T: number): GptForward {
  const layout = gptLayout(c);
  if (params.length !== layout.size) throw new Error(`gpt reference: ${params.length} parameters, the config needs ${layout.size}`);
  checkTokens(c, inputs, B, T, 'inputs');
  if (targets) checkTokens(c, targets, B, T, 'targets');
  const P = (name: string): Float64Array => tensorOf(layout, params, name);
  const { nEmbd: C, nHead: NH, vocabSize: V } = c;
  const BT = B * T;
  const wte = P('transformer.wte.weight');
  const wpe = P('transformer.wpe.weight');

  const x0 = new Float64Array(BT * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tok = inputs[b * T + t]!;
      for (let i = 0; i < C; i++) x0[(b * T + t) * C + i] = wte[tok * C + i]! + wpe[t * C + i]!;
    }
  }
  let x: Float64Array = x0;
  const layers: LayerActs[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const h = (n: string): Float64Array => P(`transformer.h.${l}.${n}`);
    const a: LayerActs = {
      ln1: new Float64Array(BT * C), ln1Mean: new Float64Array(BT), ln1Rstd: new Float64Array(BT),
      qkv: new Float64Array(BT * 3 * C), att: new Float64Array(B * NH * T * T), atty: new Float64Array(BT * C),
      res2: new Float64Array(BT * C),
      ln2: new Float64Array(BT * C), ln2Mean: new Float64Array(BT), ln2Rstd: new Float64Array(BT),
      fch: new Float64Array(BT * 4 * C), fchGelu: new Float64Array(BT * 4 * C),
      res3: new Float64Array(BT * C),
    };
    layerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, x, h('ln_1.weight'), h('ln_1.bias'), BT, C);
    matmulForward(a.qkv, a.ln1, h('attn.c_attn.weight'), h('attn.c_attn.bias'), BT, C, 3 * C);
    attentionForward(a.atty, a.att, a.qkv, B, T, C, NH);
    matmulForward(a.res2, a.atty, h('attn.c_proj.weight'), h('attn.c_proj.bias'), BT, C, C);
    for (let i = 0; i < BT * C; i++) a.res2[i]! += x[i]!;
    layerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.res2, h('ln_2.weight'), h('ln_2.bias'), BT, C);
    matmulForward(a.fch, a.ln2, h('mlp.c_fc.weight'), h('mlp.c_fc.bias'), BT, C, 4 * C);
    for (let i = 0; i < a.fch.length; i++) a.fchGelu[i] = geluExact(a.fch[i]!);
    matmulForward(a.res3, a.fchGelu, h('mlp.c_proj.weight'), h('mlp.c_proj.bias'), BT, 4 * C, C);
    for (let i = 0; i < BT * C; i++) a.res3[i]! += a.res2[i]!;
    layers.push(a);
    x = a.res3;
  }
  const lnf = new Float64Array(BT * C);
  const lnfMean = new Float64Array(BT);
  const lnfRstd = new Float64Array(BT);
  layerNormForward(lnf, lnfMean, lnfRstd, x, P('transformer.ln_f.weight'), P('transformer.ln_f.bias'), BT, C);
  const logits = new Float64Array(BT * V);
  matmulForward(logits, lnf, wte, undefined, BT, C, V); // the head tied to wte
  const probs = new Float64Array(BT * V);
  const losses = new Float64Array(targets ? BT : 0);
  let loss = NaN;
  if (targets) {
    loss = 0;
    for (let r = 0; r < BT; r++) {
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[r * V + v]!);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logits[r * V + v]! - max);
      for (let v = 0; v < V; v++) probs[r * V + v] = Math.exp(logits[r * V + v]! - max) / sum;
      losses[r] = Math.log(sum) + max - logits[r * V + targets[r]!]!;
      loss += losses[r]!;
    }
    loss /= BT;
  }
  return { loss, logits, losses, acts: { x0, layers, lnf, lnfMean, lnfRstd, probs }, B, T };
}

/** Gradients of the mean cross-entropy with respect to every parameter (flat, in layout order). */
export function gptBackward(c: GptConfig, params: Float64Array, inputs: ArrayLike<number>, targets: ArrayLike<number>, fwd: GptForward): Float64Array {
  const layout = gptLayout(c);
  const grads = new Float64Array(layout.size);
  const P = (name: string): Float64Array => tensorOf(layout, params, name);
  const G = (name: string): Float64Array => tensorOf(layout, grads, name);
  const { B, T } = fwd;
  const { nEmbd: C, nHead: NH, vocabSize: V } = c;
  const BT = B * T;
  const { probs, lnf, lnfMean, lnfRstd, layers, x0 } = fwd.acts;

  const dlogits = new Float64Array(BT * V);
  for (let r = 0; r < BT; r++) {
    for (let v = 0; v < V; v++) dlogits[r * V + v] = (probs[r * V + v]! - (v === targets[r] ? 1 : 0)) / BT;
  }
  const dlnf = new Float64Array(BT * C);
  matmulBackward(dlnf, G('transformer.wte.weight'), undefined, dlogits, lnf, P('transformer.wte.weight'), BT, C, V);
  let dx: Float64Array = new Float64Array(BT * C);
  const last = layers.length > 0 ? layers[layers.length - 1]!.res3 : x0;
  layerNormBackward(dx, G('transformer.ln_f.weight'), G('transformer.ln_f.bias'), dlnf, last, P('transformer.ln_f.weight'), lnfMean, lnfRstd, BT, C);

  for (let l = c.nLayer - 1; l >= 0; l--) {
    const a = layers[l]!;
    const h = (n: string): Float64Array => P(`transformer.h.${l}.${n}`);
    const g = (n: string): Float64Array => G(`transformer.h.${l}.${n}`);
    const input = l > 0 ? layers[l - 1]!.res3 : x0;
    // dx is d(res3); res3 = res2 + mlp(res2).
    const dres2 = Float64Array.from(dx);
    const dgelu = new Float64Array(BT * 4 * C);
    matmulBackward(dgelu, g('mlp.c_proj.weight'), g('mlp.c_proj.bias'), dx, a.fchGelu, h('mlp.c_proj.weight'), BT, 4 * C, C);
    const dfch = Float64Array.from(dgelu, (d, i) => d * geluExactGrad(a.fch[i]!));
    const dln2 = new Float64Array(BT * C);
    matmulBackward(dln2, g('mlp.c_fc.weight'), g('mlp.c_fc.bias'), dfch, a.ln2, h('mlp.c_fc.weight'), BT, C, 4 * C);
    layerNormBackward(dres2, g('ln_2.weight'), g('ln_2.bias'), dln2, a.res2, h('ln_2.weight'), a.ln2Mean, a.ln2Rstd, BT, C);
    // res2 = input + attn(input).
    const dinput = Float64Array.from(dres2);
    const datty = new Float64Array(BT * C);
    matmulBackward(datty, g('attn.c_proj.weight'), g('attn.c_proj.bias'), dres2, a.atty, h('attn.c_proj.weight'), BT, C, C);
    const dqkv = new Float64Array(BT * 3 * C);
    attentionBackward(dqkv, datty, a.qkv, a.att, B, T, C, NH);
    const dln1 = new Float64Array(BT * C);
    matmulBackward(dln1, g('attn.c_attn.weight'), g('attn.c_attn.bias'), dqkv, a.ln1, h('attn.c_attn.weight'), BT, C, 3 * C);
    layerNormBackward(dinput, g('ln_1.weight'), g('ln_1.bias'), dln1, input, h('ln_1.weight'), a.ln1Mean, a.ln1Rstd, BT, C);
    dx = dinput;
  }
  const dwte = G('transformer.wte.weight');
  const dwpe = G('transformer.wpe.weight');
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tok = inputs[b * T + t]!;
      for (let i = 0; i < C; i++) {
        dwte[tok * C + i]! += dx[(b * T + t) * C + i]!;
        dwpe[t * C + i]! += dx[(b * T + t) * C + i]!;
      }
    }
  }
  return grads;
}

/** Loss and every gradient in one call. */
export function gptLossAndGrads(c: GptConfig, params: Float64Array, inputs: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number): { loss: number; grads: Float64Array; forward: GptForward } {
  const forward = gptForward(c, params, inputs, targets, B, T);
  return { loss: forward.loss, grads: gptBackward(c, params, inputs, targets, forward), forward };
}

/**
 * torch.nn.utils.clip_grad_norm_: scales the gradients in place by min(1, maxNorm / (‖g‖ + 1e-6))
 * and returns the norm before clipping.
 */
export function clipGradNorm(grads: Float64Array, maxNorm: number): number {
  let sq = 0;
  for (const g of grads) sq += g * g;
  const norm = Math.sqrt(sq);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  for (let i = 0; i < grads.length; i++) grads[i]! *= coef;
  return norm;
}

/** torch.optim.AdamW's settings for one step: the kernel's (src/kernels/optimizers.ts). */
export type { AdamWHyper };

/**
 * One torch.optim.AdamW step (torch's _single_tensor_adamw, operation for operation) on the flat
 * parameters, with nanoGPT's groups: weight decay on the 2-D weights only. Updates params, m, v in place.
 */
export function gptAdamWStep(c: GptConfig, params: Float64Array, grads: Float64Array, m: Float64Array, v: Float64Array, h: AdamWHyper): void {
  const layout = gptLayout(c);
  for (const arr of [grads, m, v]) if (arr.length !== layout.size) throw new Error(`gpt reference: AdamW needs ${layout.size} values per array (got ${arr.length})`);
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2Sqrt = Math.sqrt(1 - h.beta2 ** h.step);
  const stepSize = h.lr / bc1;
  for (const e of layout.entries) {
    const decay = e.decay ? 1 - h.lr * h.weightDecay : 1;
    for (let i = e.offset; i < e.offset + e.size; i++) {
      const g = grads[i]!;
      params[i]! *= decay;
      m[i] = m[i]! * h.beta1 + g * (1 - h.beta1);
      v[i] = v[i]! * h.beta2 + g * g * (1 - h.beta2);
      params[i]! += -stepSize * (m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + h.eps));
    }
  }
}
