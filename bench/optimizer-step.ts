// What the fused optimizer step saves on the baby GPT's flat buffer (issue 16 part 3): the clip's
// norm, then AdamW, timed as one submit of many repetitions (bench/lib/gpu-timing.ts), variants
// alternated round by round so that all see the same load on a shared machine.
//   per-run   the step before fusion: one AdamW dispatch per run of tensors with or without weight
//             decay (34 for this layout), after clip_grad_norm_'s separate scaling pass
//   fused     createOptimizer today: one dispatch, weight-decay bitmask, clip scale read in the step
//   no mask   the same one dispatch with every tensor decayed: what reading the bitmask costs
// Run: node dist/bench/optimizer-step.js [rounds, default 5]
import { formatAdapter, openGpu } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { prepareGradNormClip } from '../src/kernels/grad-norm.js';
import { prepareAdamW } from '../src/kernels/optimizers.js';
import { gptLayout } from '../src/nn/gpt.js';
import { createOptimizer, weightDecayRuns, type OptimizerConfig } from '../src/nn/optimizer.js';
import { median, timeGpu } from './lib/gpu-timing.js';

const rounds = Number(process.argv[2] ?? 5);
const ctx = await openGpu();
const layout = gptLayout({ vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 });
const count = layout.totalFloats;
const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * (Math.random() * 2 - 1));
const model = { layout, params: createStorageFrom(ctx, 'params', random(count, 1)), grads: createStorageFrom(ctx, 'grads', random(count, 0.01)) };
const config: OptimizerConfig = { kind: 'adamw', momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, weightDecayRoles: ['weight', 'embedding'] };
const clip = createStorage(ctx, 'clip', 8);
// maxNorm above the norm: the scale is 1, so repeated steps keep the same gradients.
const clipping = await prepareGradNormClip(ctx, { tensors: [{ grads: model.grads, count }], maxNorm: 1e9, clip });

const fused = await createOptimizer(ctx, model, config, { gradScale: clip });
const noMask = await createOptimizer(ctx, model, { ...config, weightDecayRoles: undefined }, { gradScale: clip });
const state = () => createStorage(ctx, 'state', count * 4);
const [m, v] = [state(), state()];
const runs = weightDecayRuns(layout, config.weightDecayRoles);
const perRun = await Promise.all(runs.map(async (r) => {
  const slice = (buffer: GPUBuffer) => ({ buffer, offset: r.offset * 4, size: r.count * 4 });
  const k = await prepareAdamW(ctx, { params: slice(model.params), grads: slice(model.grads), m: slice(m), v: slice(v), count: r.count });
  k.setHyper({ lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: r.decays ? 0.1 : 0, step: 1 });
  return k.dispatch;
}));
const variants: [string, Dispatch[]][] = [
  [`per-run: clip norm (${clipping.norm.length}) + clip scale (${clipping.scale.length}) + AdamW (${perRun.length})`, [...clipping.dispatches, ...perRun]],
  ['fused: clip norm + AdamW (1, decay bitmask, clip scale)', [...clipping.norm, ...fused.prepareStep(1e-4)]],
  ['no mask: clip norm + AdamW (1, every tensor decays, clip scale)', [...clipping.norm, ...noMask.prepareStep(1e-4)]],
];

console.log(`adapter: ${formatAdapter(ctx.info)}; ${count} floats, ${runs.length} decay runs; ${rounds} rounds, variants alternated`);
const samples = variants.map((): number[] => []);
for (let round = 0; round < rounds; round++) {
  for (const [i, [, dispatches]] of variants.entries()) samples[i]!.push(await timeGpu(ctx, dispatches, 3, 200));
}
console.log('| variant | dispatches | ms per step (median of rounds) | rounds |\n| --- | ---: | ---: | --- |');
for (const [i, [name, dispatches]] of variants.entries()) {
  console.log(`| ${name} | ${dispatches.length} | ${median(samples[i]!).toFixed(3)} | ${samples[i]!.map((x) => x.toFixed(2)).join(' ')} |`);
}
ctx.close();
