// GB/s of the GPT's element-wise and row kernels (LayerNorm, exact GELU, residual add) at the baby
// GPT's shapes (B=12, T=64, C=128: 768 rows of 128; the MLP's hidden layer 768 × 512).
// The machine is shared: run it when the load is low, and read the numbers as medians of 5.
// Run: node build.mjs && node dist/bench/gpt-norm-kernels.js
import { formatAdapter, openGpu, type GpuContext } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { timeGpu } from './lib/gpu-timing.js';
import { prepareActivationForward } from '../src/kernels/activation.js';
import { prepareGeluErfBackward, prepareGeluErfForward } from '../src/kernels/gelu-erf.js';
import { prepareLayerNormBackward, prepareLayerNormForward } from '../src/kernels/layernorm.js';
import { prepareResidualAdd, prepareResidualBackward } from '../src/kernels/residual.js';

const [ROWS, C, HIDDEN] = [12 * 64, 128, 4 * 128];

function random(ctx: GpuContext, label: string, n: number): GPUBuffer {
  return createStorageFrom(ctx, label, Float32Array.from({ length: n }, () => Math.random() * 2 - 1));
}

/** Median seconds per dispatch list (bench/lib/gpu-timing.ts). */
async function time(ctx: GpuContext, dispatches: Dispatch[]): Promise<number> {
  return (await timeGpu(ctx, dispatches, 5, 300)) / 1000;
}

const ctx = await openGpu();
console.log(`adapter: ${formatAdapter(ctx.info)}`);
const x = random(ctx, 'x', ROWS * C);
const [w, b] = [random(ctx, 'w', C), random(ctx, 'b', C)];
const [y, dy, dx] = [createStorage(ctx, 'y', ROWS * C * 4), random(ctx, 'dy', ROWS * C), createStorage(ctx, 'dx', ROWS * C * 4)];
const [mean, rstd] = [createStorage(ctx, 'mean', ROWS * 4), createStorage(ctx, 'rstd', ROWS * 4)];
const [dw, db] = [createStorage(ctx, 'dw', C * 4), createStorage(ctx, 'db', C * 4)];
const [z, h, dh, dz] = [random(ctx, 'z', ROWS * HIDDEN), createStorage(ctx, 'h', ROWS * HIDDEN * 4), random(ctx, 'dh', ROWS * HIDDEN), createStorage(ctx, 'dz', ROWS * HIDDEN * 4)];
const [a2, y2] = [random(ctx, 'a', ROWS * C), createStorage(ctx, 'y2', ROWS * C * 4)];

const lnFwd = await prepareLayerNormForward(ctx, { x, weight: w, bias: b, y, mean, rstd, rows: ROWS, cols: C });
const [lnDx, lnDw] = await prepareLayerNormBackward(ctx, {
  x, weight: w, mean, rstd, dy, dx, dweight: dw, dbias: db, rows: ROWS, cols: C, accumulateDx: true, accumulateParams: true,
});
const nc = ROWS * C * 4;
const cases: [string, Dispatch[], number][] = [
  [`layernorm forward ${ROWS}×${C}`, [lnFwd], 2 * nc + 2 * C * 4 + 2 * ROWS * 4],
  [`layernorm backward dx (accumulate) ${ROWS}×${C}`, [lnDx], 4 * nc + C * 4 + 2 * ROWS * 4],
  [`layernorm backward dweight+dbias ${ROWS}×${C}`, [lnDw], 2 * nc + 2 * ROWS * 4 + 4 * C * 4],
  [`gelu_erf forward ${ROWS}×${HIDDEN}`, [await prepareGeluErfForward(ctx, { z, h, count: ROWS * HIDDEN })], 2 * ROWS * HIDDEN * 4],
  [`gelu_erf backward ${ROWS}×${HIDDEN}`, [await prepareGeluErfBackward(ctx, { z, dh, dz, count: ROWS * HIDDEN, accumulate: false })], 3 * ROWS * HIDDEN * 4],
  [`(for comparison) tanh gelu forward ${ROWS}×${HIDDEN}`, [await prepareActivationForward(ctx, { z, h, count: ROWS * HIDDEN, activation: 'gelu' })], 2 * ROWS * HIDDEN * 4],
  [`residual add ${ROWS}×${C}`, [await prepareResidualAdd(ctx, { a: a2, b: x, y: y2, count: ROWS * C })], 3 * nc],
  [`residual backward (accumulate both) ${ROWS}×${C}`, [await prepareResidualBackward(ctx, { dy, da: dx, db: y2, count: ROWS * C, accumulateA: true, accumulateB: true })], 5 * nc],
];
for (const [name, dispatches, bytes] of cases) {
  const s = await time(ctx, dispatches);
  console.log(`${name.padEnd(48)} ${(s * 1e6).toFixed(1).padStart(8)} µs  ${(bytes / s / 1e9).toFixed(2).padStart(6)} GB/s`);
}
ctx.close();
