// train.js --model gpt with clipping, the warmup + cosine schedule with nanoGPT's floor, and AdamW's
// weight-decay groups, against the float64 reference stepping through the same --no-shuffle windows:
// the trainer must clip before every optimizer step and follow nanoGPT's get_lr.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { ByteWindowLoader, splitTrainVal } from '../../src/data/text.js';
import { createRng } from '../../src/data/prng.js';
import { clipGradNorm, gptAdamWStep, gptLayout, gptLossAndGrads, initGptParams, type GptConfig } from '../helpers/gpt-reference.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('--model gpt: clipping, schedule and optimizer groups in the training loop');
const dir = tempDir();
const TINY: GptConfig = { vocabSize: 256, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 };
const BATCH = 4;
const STEPS = 4;
const SEED = 3;
const MODEL = ['--model', 'gpt', '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '8', '--batch-size', String(BATCH)];

const TEXT = dir.file('words.txt');
const rng = createRng(11);
const WORDS = 'a man a plan a canal panama and the rain in spain stays mainly in the plain'.split(' ');
writeFileSync(TEXT, Array.from({ length: 800 }, () => WORDS[rng.int(WORDS.length)]).join(' '));
const train = splitTrainVal(new Uint8Array(readFileSync(TEXT)), 'words').train;

/** nanoGPT's get_lr, with this project's warmup ((it + 1)/warmup, Hugging Face's) before it. */
function nanoGptLr(it: number, lr: number, minLr: number, warmup: number, decayIters: number): number {
  if (it < warmup) return (lr * (it + 1)) / warmup;
  const ratio = (it - warmup) / (decayIters - warmup);
  return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (lr - minLr);
}

interface Reference { losses: number[]; norms: number[]; params: Float64Array }

const startingWeights = () => Float64Array.from(Float32Array.from(initGptParams(TINY, SEED)));
const loader = () => new ByteWindowLoader(train, { rank: 0, worldSize: 1, batchSize: BATCH, blockSize: TINY.blockSize, shuffle: false, seed: SEED });

/**
 * STEPS float64 steps from the run's float32 initial weights over rank 0's --no-shuffle windows;
 * `step` updates the weights in place and returns the gradient norm before clipping, if it clips.
 */
function reference(step: (it: number, params: Float64Array, grads: Float64Array) => number | void): Reference {
  const params = startingWeights();
  const windows = loader();
  const out: Reference = { losses: [], norms: [], params };
  for (let it = 0; it < STEPS; it++) {
    const b = windows.batch(it);
    const { loss, grads } = gptLossAndGrads(TINY, params, b.inputs, b.targets, BATCH, TINY.blockSize);
    out.losses.push(loss);
    const norm = step(it, params, grads);
    if (norm !== undefined) out.norms.push(norm);
  }
  return out;
}

async function trainRun(name: string, flags: string[]): Promise<{ losses: number[]; lrs: number[]; params: Float64Array }> {
  const save = dir.file(`${name}.safetensors`);
  const log = dir.file(`${name}.jsonl`);
  const r = await runTrain([...MODEL, '--procs', '1', '--text', TEXT, '--no-shuffle', '--seed', String(SEED), '--max-steps', String(STEPS),
    '--log-every', '1', '--save', save, '--metrics', log, '--quiet', ...flags]);
  assert.is(r.code, 0, r.stderr);
  const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; loss: number; lr: number });
  const steps = records.filter((x) => x.kind === 'train');
  const { byName } = readWeights(save);
  const layout = gptLayout(TINY);
  const params = new Float64Array(layout.size);
  for (const e of layout.entries) params.set(byName.get(e.name)!, e.offset);
  return { losses: steps.map((x) => x.loss), lrs: steps.map((x) => x.lr), params };
}

function assertWeightsClose(got: Float64Array, want: Float64Array, bound: number, what: string): void {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += (got[i]! - want[i]!) ** 2;
    norm += want[i]! ** 2;
  }
  const relative = Math.sqrt(diff / norm);
  assert.ok(relative <= bound, `${what}: relative distance ${relative.toExponential(2)} > ${bound}`);
}

test('SGD with --grad-clip: every step is the clipped gradient\'s, and without clipping the weights land elsewhere', async () => {
  const lr = 2;
  const unclipped = reference((_, p, g) => { for (let i = 0; i < p.length; i++) p[i]! -= lr * g[i]!; });
  // Well under the first step's norm, so that clipping acts (checked on every step below).
  const first = loader().batch(0);
  const firstNorm = Math.hypot(...gptLossAndGrads(TINY, startingWeights(), first.inputs, first.targets, BATCH, TINY.blockSize).grads);
  const maxNorm = Number((0.4 * firstNorm).toPrecision(3));
  const clipped = reference((_, p, g) => {
    const norm = clipGradNorm(g, maxNorm);
    for (let i = 0; i < p.length; i++) p[i]! -= lr * g[i]!;
    return norm;
  });
  assert.ok(clipped.norms.every((n) => n > maxNorm), `clipping acts on every step: norms ${clipped.norms.map((n) => n.toFixed(3)).join(', ')} vs max ${maxNorm}`);

  const run = await trainRun('sgd-clip', ['--optimizer', 'sgd', '--momentum', '0', '--lr', String(lr), '--schedule', 'constant', '--warmup-steps', '0', '--weight-decay', '0', '--grad-clip', String(maxNorm)]);
  assert.ok(Math.abs(run.losses[0]! - clipped.losses[0]!) <= 1e-5 * clipped.losses[0]!, `first loss ${run.losses[0]} vs reference ${clipped.losses[0]}: the same start and batch`);
  for (let i = 0; i < STEPS; i++) assert.ok(Math.abs(run.losses[i]! - clipped.losses[i]!) <= 1e-4 * clipped.losses[i]!, `step ${i + 1} loss ${run.losses[i]} vs ${clipped.losses[i]}`);
  assertWeightsClose(run.params, clipped.params, 1e-5, 'weights after clipped SGD steps');
  // The test can tell: unclipped steps end far from the clipped ones.
  let apart = 0;
  for (let i = 0; i < unclipped.params.length; i++) apart = Math.max(apart, Math.abs(unclipped.params[i]! - clipped.params[i]!));
  assert.ok(apart > 1e-3, `clipping changes the weights (max difference ${apart})`);
});

test('the default GPT recipe (AdamW, clipping, warmup, cosine to lr/10, decay on 2-D tensors only) follows nanoGPT step by step', async () => {
  const [lr, warmup, gradClip] = [1e-2, 2, 0.05];
  const minLr = lr / 10;
  const ref = { m: new Float64Array(gptLayout(TINY).size), v: new Float64Array(gptLayout(TINY).size) };
  const lrs: number[] = [];
  const recipe = reference((it, p, g) => {
    const norm = clipGradNorm(g, gradClip);
    const stepLr = nanoGptLr(it, lr, minLr, warmup, STEPS);
    lrs.push(stepLr);
    gptAdamWStep(TINY, p, g, ref.m, ref.v, { lr: stepLr, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: it + 1 });
    return norm;
  });
  assert.ok(recipe.norms.every((n) => n > gradClip), `clipping acts: ${recipe.norms.join(', ')}`);
  // Only the flags this test needs to be small and short; optimizer, betas, decay, schedule and floor are the defaults.
  const run = await trainRun('recipe', ['--lr', String(lr), '--warmup-steps', String(warmup), '--grad-clip', String(gradClip)]);
  for (let i = 0; i < STEPS; i++) {
    assert.ok(Math.abs(run.lrs[i]! - lrs[i]!) <= 1e-12, `step ${i + 1} lr ${run.lrs[i]} vs nanoGPT's ${lrs[i]}`);
    assert.ok(Math.abs(run.losses[i]! - recipe.losses[i]!) <= 1e-4 * recipe.losses[i]!, `step ${i + 1} loss ${run.losses[i]} vs ${recipe.losses[i]}`);
  }
  // AdamW normalises each element's step, so elements whose gradient is float32 noise can differ by ~lr; the bulk agrees closely.
  assertWeightsClose(run.params, recipe.params, 2e-3, 'weights after the recipe\'s steps');
});

test.after(() => dir.remove());
test.run();
