// The float64 GPT reference is the yardstick for the GPU model, so it is itself checked: every
// gradient against central finite differences of its own loss, the causal mask, nanoGPT's
// initialisation and AdamW's groups. (test/nn/gpt-pytorch.test.ts checks it against PyTorch.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clipGradNorm, erf, geluExact, geluExactGrad, gptAdamWStep, gptForward, gptLayout, gptLossAndGrads, initGptParams, randomGptParams, tensorOf, type GptConfig,
} from '../helpers/gpt-reference.js';
import { BASE_SEED, rng } from '../helpers/random.js';
import { adamwStepRef } from '../helpers/reference.js';

const test = suite('float64 GPT reference');
const TINY: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 5, vocabSize: 7 };

const tokens = (n: number, vocab: number, random: () => number): number[] => Array.from({ length: n }, () => Math.floor(random() * vocab));

function checkFiniteDifferences(c: GptConfig, B: number, T: number, seedOffset: number): void {
  const random = rng(seedOffset);
  const params = randomGptParams(c, random);
  const inputs = tokens(B * T, c.vocabSize, random);
  const targets = tokens(B * T, c.vocabSize, random);
  const { grads } = gptLossAndGrads(c, params, inputs, targets, B, T);
  const h = 1e-5;
  const layout = gptLayout(c);
  for (const e of layout.entries) {
    const fd = new Float64Array(e.size);
    for (let i = 0; i < e.size; i++) {
      const at = e.offset + i;
      const keep = params[at]!;
      params[at] = keep + h;
      const plus = gptForward(c, params, inputs, targets, B, T).loss;
      params[at] = keep - h;
      const minus = gptForward(c, params, inputs, targets, B, T).loss;
      params[at] = keep;
      fd[i] = (plus - minus) / (2 * h);
    }
    const g = grads.subarray(e.offset, e.offset + e.size);
    let norm = 0;
    for (let i = 0; i < e.size; i++) {
      // Central differences in float64 at h = 1e-5 are good to ~1e-10 absolute.
      const ok = Math.abs(g[i]! - fd[i]!) <= 1e-8 + 1e-6 * Math.abs(fd[i]!);
      assert.ok(ok, `${e.name}[${i}]: backward ${g[i]} vs finite differences ${fd[i]} (TEST_SEED=${BASE_SEED})`);
      norm += fd[i]! ** 2;
    }
    // A tensor whose gradient is all zero would pass the element test trivially; at these random
    // parameters every tensor carries gradient (wpe's rows past T are zero, its others are not).
    assert.ok(Math.sqrt(norm) > 1e-6, `${e.name}: the finite-difference gradient is ${Math.sqrt(norm)}; the check would be empty`);
  }
}

test('every gradient of the tiny GPT (2 layers, 2 heads, n_embd 8, block 5, vocab 7) equals central finite differences', () => {
  checkFiniteDifferences(TINY, 2, 5, 1);
});

test('gradients also match at T < block_size, T = 1, one head, one layer and a vocabulary of 3', () => {
  checkFiniteDifferences({ nLayer: 1, nHead: 1, nEmbd: 4, blockSize: 6, vocabSize: 3 }, 3, 1, 2);
  checkFiniteDifferences({ nLayer: 1, nHead: 4, nEmbd: 8, blockSize: 6, vocabSize: 3 }, 1, 4, 3);
});

test('the wpe rows of positions ≥ T get exactly zero gradient, the rows < T do not', () => {
  const c = { ...TINY, blockSize: 8 };
  const random = rng(4);
  const params = randomGptParams(c, random);
  const { grads } = gptLossAndGrads(c, params, tokens(6, 7, random), tokens(6, 7, random), 2, 3);
  const dwpe = tensorOf(gptLayout(c), grads, 'transformer.wpe.weight');
  for (let t = 0; t < 8; t++) {
    const row = Array.from(dwpe.subarray(t * 8, (t + 1) * 8));
    if (t < 3) assert.ok(row.some((v) => v !== 0), `position ${t}`);
    else assert.equal(row, new Array(8).fill(0), `position ${t}`);
  }
});

test('the causal mask: changing a later byte leaves every earlier position\'s logits bit-identical, and moves its own', () => {
  const c: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 9, vocabSize: 11 };
  const random = rng(5);
  const params = randomGptParams(c, random);
  const T = 9;
  const inputs = tokens(T, c.vocabSize, random);
  const before = gptForward(c, params, inputs, undefined, 1, T).logits;
  for (const changed of [0, 4, 8]) {
    const other = inputs.slice();
    other[changed] = (other[changed]! + 1) % c.vocabSize;
    const after = gptForward(c, params, other, undefined, 1, T).logits;
    const V = c.vocabSize;
    for (let t = 0; t < T; t++) {
      const same = before.subarray(t * V, (t + 1) * V).every((v, i) => Object.is(v, after[t * V + i]));
      if (t < changed) assert.ok(same, `position ${t} moved when byte ${changed} changed`);
      if (t === changed) assert.not.ok(same, `position ${t} did not see its own byte change`);
    }
  }
});

test('nanoGPT\'s initialisation: N(0, 0.02) weights, c_proj N(0, 0.02/√(2·n_layer)), zero biases, unit LayerNorm weights; loss ≈ ln 256 at the start', () => {
  const c: GptConfig = { nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, vocabSize: 256 };
  const layout = gptLayout(c);
  const params = initGptParams(c, 7);
  assert.equal(initGptParams(c, 7), params, 'the same seed gives the same weights');
  for (const e of layout.entries) {
    const t = tensorOf(layout, params, e.name);
    if (/\.ln_\w+\.weight$/.test(e.name)) assert.ok(t.every((v) => v === 1), e.name);
    else if (e.name.endsWith('.bias')) assert.ok(t.every((v) => v === 0), e.name);
    else {
      const expected = e.name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(8) : 0.02;
      const mean = t.reduce((a, v) => a + v, 0) / t.length;
      const std = Math.sqrt(t.reduce((a, v) => a + (v - mean) ** 2, 0) / t.length);
      assert.ok(Math.abs(std - expected) < 0.1 * expected, `${e.name}: std ${std}, expected ${expected}`);
      assert.ok(Math.abs(mean) < 0.1 * expected, `${e.name}: mean ${mean}`);
    }
  }
  // 4 layers of 12·C² + 13·C, embeddings (256 + 64)·C, ln_f 2·C: nanoGPT's count for this config.
  assert.is(layout.size, 4 * (12 * 128 * 128 + 13 * 128) + (256 + 64) * 128 + 2 * 128);
  const random = rng(6);
  const B = 2;
  const { loss } = gptForward(c, params, tokens(B * 64, 256, random), tokens(B * 64, 256, random), B, 64);
  // Near-uniform predictions: ln 256 plus a few hundredths from the logits' spread (std 0.02·√C ≈ 0.23).
  assert.ok(loss > Math.log(256) - 0.05 && loss < Math.log(256) + 0.15, `initial loss ${loss}, ln 256 = ${Math.log(256)}`);
});

test('the layout has nanoGPT\'s names and shapes (Linear weights [out, in]) and decays exactly the 2-D weights', () => {
  const layout = gptLayout(TINY);
  const byName = Object.fromEntries(layout.entries.map((e) => [e.name, e.shape]));
  assert.equal(byName['transformer.wte.weight'], [7, 8]);
  assert.equal(byName['transformer.wpe.weight'], [5, 8]);
  assert.equal(byName['transformer.h.1.attn.c_attn.weight'], [24, 8]);
  assert.equal(byName['transformer.h.1.attn.c_attn.bias'], [24]);
  assert.equal(byName['transformer.h.0.attn.c_proj.weight'], [8, 8]);
  assert.equal(byName['transformer.h.0.mlp.c_fc.weight'], [32, 8]);
  assert.equal(byName['transformer.h.0.mlp.c_proj.weight'], [8, 32]);
  assert.equal(byName['transformer.ln_f.bias'], [8]);
  assert.not.ok('lm_head.weight' in byName, 'the head is tied to wte, not stored');
  assert.is(layout.entries.length, 2 + 12 * 2 + 2);
  const decayed = layout.entries.filter((e) => e.decay).map((e) => e.name);
  assert.equal(decayed, layout.entries.filter((e) => e.name.endsWith('.weight') && !/\.ln_\w+\./.test(e.name)).map((e) => e.name));
});

test('AdamW: two steps equal torch\'s update per tensor, with weight decay on 2-D weights only', () => {
  const random = rng(7);
  const c = TINY;
  const layout = gptLayout(c);
  const params = randomGptParams(c, random);
  const m = new Float64Array(layout.size);
  const v = new Float64Array(layout.size);
  const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
  const expected = layout.entries.map((e) => ({ e, p: params.slice(e.offset, e.offset + e.size), m: new Float64Array(e.size), v: new Float64Array(e.size) }));
  for (let step = 1; step <= 2; step++) {
    const grads = Float64Array.from({ length: layout.size }, () => random() * 2 - 1);
    gptAdamWStep(c, params, grads, m, v, { ...hyper, step });
    for (const x of expected) {
      adamwStepRef(x.p, x.m, x.v, grads.subarray(x.e.offset, x.e.offset + x.e.size), { ...hyper, weightDecay: x.e.decay ? hyper.weightDecay : 0, step });
    }
  }
  for (const x of expected) {
    const got = params.subarray(x.e.offset, x.e.offset + x.e.size);
    got.forEach((val, i) => assert.ok(Math.abs(val - x.p[i]!) <= 1e-15 * Math.max(1, Math.abs(x.p[i]!)), `${x.e.name}[${i}]: ${val} vs ${x.p[i]}`));
  }
  // With zero gradients only the decay moves anything: 2-D weights shrink by 1 − lr·wd, the rest stay.
  const before = params.slice();
  gptAdamWStep(c, params, new Float64Array(layout.size), new Float64Array(layout.size), new Float64Array(layout.size), { ...hyper, step: 1 });
  for (const e of layout.entries) {
    for (let i = e.offset; i < e.offset + e.size; i++) assert.is(params[i], e.decay ? before[i]! * (1 - hyper.lr * hyper.weightDecay) : before[i], e.name);
  }
});

test('gradient clipping scales by max_norm / (‖g‖ + 1e-6) when the norm is larger, and returns the norm before clipping', () => {
  const g = Float64Array.from([3, 4]);
  assert.is(clipGradNorm(g, 1), 5);
  assert.ok(Math.abs(g[0]! - 3 / (5 + 1e-6)) < 1e-16 && Math.abs(g[1]! - 4 / (5 + 1e-6)) < 1e-16);
  const small = Float64Array.from([0.3, 0.4]);
  assert.ok(Math.abs(clipGradNorm(small, 1) - 0.5) < 1e-16);
  assert.equal(Array.from(small), [0.3, 0.4], 'a norm below max_norm leaves the gradients alone');
});

test('erf matches known values to 1e-15 and the exact GELU\'s derivative matches finite differences', () => {
  const known: Array<[number, number]> = [
    [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [1.5, 0.9661051464753108],
    [2, 0.9953222650189527], [3, 0.9999779095030014], [4, 0.9999999845827421], [5.9, 0.9999999999999999],
  ];
  for (const [x, e] of known) {
    assert.ok(Math.abs(erf(x) - e) <= 1e-15, `erf(${x}) = ${erf(x)}, expected ${e}`);
    assert.ok(Math.abs(erf(-x) + e) <= 1e-15, `erf(${-x})`);
  }
  assert.is(erf(0), 0);
  assert.is(erf(7), 1);
  for (const x of [-5, -2.5, -1, -0.3, 0, 0.2, 1, 3.7]) {
    const fd = (geluExact(x + 1e-6) - geluExact(x - 1e-6)) / 2e-6;
    assert.ok(Math.abs(geluExactGrad(x) - fd) < 1e-8, `GELU'(${x}): ${geluExactGrad(x)} vs ${fd}`);
  }
  assert.ok(Math.abs(geluExact(1) - 0.8413447460685429) < 1e-15, 'GELU(1) = Φ(1)');
});

test('bad shapes and tokens are refused with the numbers', () => {
  const params = initGptParams(TINY, 0);
  assert.throws(() => gptForward(TINY, params, [0, 1, 2, 3, 4, 5], undefined, 1, 6), /T 6 must be .* T ≤ block_size 5/);
  assert.throws(() => gptForward(TINY, params, [0, 7], undefined, 1, 2), /inputs\[1\] = 7 is not a token id below 7/);
  assert.throws(() => gptForward(TINY, params.subarray(1), [0], undefined, 1, 1), /parameters, the config needs/);
  assert.throws(() => gptLayout({ ...TINY, nHead: 3 }), /n_embd 8 is not a multiple of n_head 3/);
});

test.run();
