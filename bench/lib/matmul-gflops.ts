// One matmul measurement that runs unchanged in Node (Dawn) and in a browser page (navigator.gpu),
// for bench/browser-matmul.ts: Y = X·Wᵀ (the layers' forward form) on square sizes, the fast kernel
// that prepareMatmul picks, timed as bench:kernels times it (bench/lib/gpu-timing.ts).
import type { GpuContext } from '../../src/gpu/context.js';
import { createStorage, createStorageFrom } from '../../src/gpu/buffers.js';
import { prepareMatmul } from '../../src/kernels/matmul.js';
import { timeGpu } from './gpu-timing.js';

export interface MatmulMeasurement {
  size: number;
  gflops: number;
  /** Milliseconds per matmul (median). */
  ms: number;
  /** The WGSL entry point that ran. */
  entry: string;
}

export async function measureMatmul(ctx: GpuContext, size: number, reps: number): Promise<MatmulMeasurement> {
  const n = size * size;
  const random = () => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const a = createStorageFrom(ctx, 'X', random());
  const b = createStorageFrom(ctx, 'W', random());
  const c = createStorage(ctx, 'Y', n * 4);
  try {
    const shape = { M: size, N: size, K: size, transA: false, transB: true };
    const d = await prepareMatmul(ctx, { a, b, c, ...shape, variant: 'blocked', label: `matmul ${size}³` });
    const ms = await timeGpu(ctx, [d], reps, 200);
    return { size, gflops: (2 * size ** 3) / ms / 1e6, ms, entry: d.matmul?.entry ?? 'unknown' };
  } finally {
    a.destroy(); b.destroy(); c.destroy();
  }
}
