// How fast are the GPT's embedding, vocabulary cross-entropy, gradient-norm clipping and masked
// AdamW kernels at the baby GPT's shapes (B=12, T=64, C=128, V=256, ~0.83M parameters)?
// GB/s of the bytes each must move at least (ideal traffic), and ms per dispatch.
// Run: node dist/bench/gpt-embed-kernels.js
import { formatAdapter, openGpu, type GpuContext } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { timeGpu } from './lib/gpu-timing.js';
import { prepareEmbeddingBackward, prepareEmbeddingForward } from '../src/kernels/embedding.js';
import { prepareGradNormClip } from '../src/kernels/grad-norm.js';
import { prepareAdamW, weightDecayMask } from '../src/kernels/optimizers.js';
import { prepareVocabCrossEntropy } from '../src/kernels/vocab-cross-entropy.js';
import { prepareSoftmaxCrossEntropy } from '../src/kernels/cross-entropy.js';


const ctx = await openGpu();
const [B, T, C, V] = [12, 64, 128, 256];
const N = B * T;
const PARAMS = V * C + T * C + 4 * (2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + C * 4 * C + C) + 2 * C;
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const storage = (label: string, data: Float32Array | Uint32Array) => createStorageFrom(ctx, label, data);
const idx = storage('idx', Uint32Array.from({ length: N }, () => Math.floor(Math.random() * V)));
const x = createStorage(ctx, 'x', N * C * 4);
const dx = storage('dx', rand(N * C));
const wte = storage('wte', rand(V * C));
const wpe = storage('wpe', rand(T * C));
const dwte = createStorage(ctx, 'dwte', V * C * 4);
const dwpe = createStorage(ctx, 'dwpe', T * C * 4);
const [bwdSort, bwdWte, bwdWpe] = await prepareEmbeddingBackward(ctx, { batch: B, seqLen: T, channels: C, vocab: V, idx, dx, dwte, dwpe, accumulateWte: true, accumulateWpe: false });
const logits = storage('logits', rand(N * V).map((v) => 4 * v));
const losses = createStorage(ctx, 'losses', N * 4);
const dlogits = createStorage(ctx, 'dlogits', N * V * 4);
const grads = storage('grads', rand(PARAMS).map((v) => 0.01 * v));
const clip = createStorage(ctx, 'clip', 8);
const clipper = await prepareGradNormClip(ctx, { tensors: [{ grads, count: PARAMS }], maxNorm: 1, clip });
const params = storage('params', rand(PARAMS));
const m = storage('m', new Float32Array(PARAMS));
const v = storage('v', new Float32Array(PARAMS));
const mask = storage('mask', weightDecayMask(PARAMS, [{ offset: 0, count: PARAMS, decays: true }]));
const adamw = await prepareAdamW(ctx, { params, grads, m, v, count: PARAMS });
const adamwMasked = await prepareAdamW(ctx, { params, grads, m, v, count: PARAMS, decayMask: mask });
for (const a of [adamw, adamwMasked]) a.setHyper({ lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: 1 });

const only = process.argv[2];
const cases: [string, Dispatch[], number][] = [
  [`embedding forward [${B}×${T}]→[${N}×${C}]`, [await prepareEmbeddingForward(ctx, { batch: B, seqLen: T, channels: C, vocab: V, idx, wte, wpe, x })], (3 * N * C + N) * 4],
  [`embedding backward: sort positions by token [${N}]`, [bwdSort!], (2 * N + 2 * V) * 4],
  [`embedding backward dwte [${V}×${C}] (accumulate)`, [bwdWte!], (N * C + N + 2 * V * C) * 4],
  [`embedding backward dwpe [${T}×${C}]`, [bwdWpe!], (N * C + T * C) * 4],
  [`vocab cross-entropy [${N}×${V}]`, [await prepareVocabCrossEntropy(ctx, { logits, targets: idx, dlogits, losses, rows: N, vocab: V, gradScale: 1 / N, accumulateLoss: false })], (2 * N * V + 2 * N) * 4],
  [`MLP's cross-entropy (one invocation per row) [${N}×${V}], for comparison`, [await prepareSoftmaxCrossEntropy(ctx, { logits, labels: idx, dlogits, stats: createStorage(ctx, 'stats', 2 * N * 4), rows: N, classes: V, gradScale: 1 / N, accumulateStats: false })], (2 * N * V + 2 * N) * 4],
  [`grad norm (2 passes) over ${PARAMS} floats`, clipper.norm, PARAMS * 4],
  [`clip (scale in place) ${PARAMS} floats`, clipper.scale, PARAMS * 8],
  [`AdamW ${PARAMS} floats, no mask`, [adamw.dispatch], PARAMS * 7 * 4],
  [`AdamW ${PARAMS} floats, decay mask`, [adamwMasked.dispatch], PARAMS * 7 * 4 + PARAMS / 8],
];
console.log(`adapter: ${formatAdapter(ctx.info)}`);
console.log('| kernel | ms | GB/s (ideal bytes) |\n|---|---|---|');
for (const [name, ds, bytes] of cases.filter(([name]) => !only || name.includes(only))) {
  const ms = await timeGpu(ctx, ds, 5, 300);
  console.log(`| ${name} | ${ms.toFixed(3)} | ${(bytes / ms / 1e6).toFixed(2)} |`);
}
ctx.close();
