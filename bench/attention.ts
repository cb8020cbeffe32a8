// How fast is causal self-attention at the baby GPT's shape: the fused kernel saving the softmax
// statistics (lse, P recomputed) or the attention matrix, against the batched-matmul form? Wall
// time and the shader threads' CPU time (steadier on a shared machine), variants interleaved.
// Run: node build.mjs && node dist/bench/attention.js [--reps N]
import { formatAdapter, openGpu, type GpuContext } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { timeOnce } from './lib/cpu-time.js';
import { prepareAttentionBackward, prepareAttentionForward } from '../src/kernels/attention.js';

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const cpuSamples = new Map<string, number[]>();

/** Milliseconds per repetition of `ds`, many repetitions in one submit. */
async function timeGpu(ctx: GpuContext, ds: Dispatch[], count: number, key?: string): Promise<number> {
  const t = await timeOnce(ctx, ds, count);
  if (key && t.cpuMs !== null) cpuSamples.set(key, [...(cpuSamples.get(key) ?? []), t.cpuMs]);
  return t.wallMs;
}

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 7;
const shape = { batch: 12, T: 64, C: 128, nHead: 4 };
const { batch: B, T, C, nHead } = shape;
const hs = C / nHead;
const pairs = B * nHead * (T * (T + 1)) / 2; // (query, key) pairs the causal mask keeps
const flops = { forward: 4 * hs * pairs, backward: 8 * hs * pairs }; // multiply-adds × 2, exps not counted

const ctx = await openGpu();
console.log(`adapter: ${formatAdapter(ctx.info)}`);
console.log(`shape: B=${B} T=${T} C=${C} nHead=${nHead} (hs=${hs}); useful work: forward ${(flops.forward / 1e6).toFixed(1)} MFLOP, backward ${(flops.backward / 1e6).toFixed(1)} MFLOP; median of ${reps}`);
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const qkv = createStorageFrom(ctx, 'qkv', random(B * T * 3 * C));
const dy = createStorageFrom(ctx, 'dy', random(B * T * C));
const y = createStorage(ctx, 'y', B * T * C * 4);
const lse = createStorage(ctx, 'lse', B * nHead * T * 4);
const attBuffer = createStorage(ctx, 'att', B * nHead * T * T * 4);
const dqkv = createStorage(ctx, 'dqkv', B * T * 3 * C * 4);

const variants = await Promise.all((['lse', 'att', 'batched'] as const).map(async (saved) => {
  const att = saved !== 'lse' ? attBuffer : undefined;
  const variant = saved === 'batched' ? 'batched' as const : 'fused' as const;
  const forward = await prepareAttentionForward(ctx, { ...shape, qkv, y, lse, att, variant });
  const backward = await prepareAttentionBackward(ctx, { ...shape, qkv, y, lse, att, dy, dqkv, accumulate: true, variant });
  return { saved, forward, backward, step: [...forward, ...backward] };
}));
const parts = ['forward', 'backward', 'step'] as const;
const samples = new Map<string, number[]>();
for (const v of variants) for (const part of parts) await timeGpu(ctx, v[part], 2); // warm-up, compile
// Interleave the variants so that load from other processes hits both alike.
for (let r = 0; r < reps; r++) {
  for (const v of variants) {
    for (const part of parts) {
      const key = `${v.saved} ${part}`;
      const expected = samples.has(key) ? median(samples.get(key)!) : 1;
      const ms = await timeGpu(ctx, v[part], Math.max(5, Math.round(40 / expected)), key);
      samples.set(key, [...(samples.get(key) ?? []), ms]);
    }
  }
}
const rows = [];
for (const v of variants) {
  for (const part of parts) {
    const ms = median(samples.get(`${v.saved} ${part}`)!);
    const work = part === 'step' ? flops.forward + flops.backward : flops[part];
    const cpuMs = cpuSamples.has(`${v.saved} ${part}`) ? median(cpuSamples.get(`${v.saved} ${part}`)!) : null;
    rows.push({ saved: v.saved, part, ms: +ms.toFixed(3), gflops: +(work / ms / 1e6).toFixed(2), cpuMs: cpuMs === null ? null : +cpuMs.toFixed(3) });
  }
}
console.table(rows);
console.log(JSON.stringify({ adapter: formatAdapter(ctx.info), shape, rows }));
ctx.close();
