// Which matmul entry and workgroup width for the baby GPT's shapes (and the MNIST MLP's)? Each
// shape's variants interleaved, 5 samples of 10 dispatches; prints GFLOP/s per second of shader-thread
// CPU time ("c", the median: steadier than wall time on a shared machine) and per wall second
// ("w", the best). src/kernels/matmul.ts's matmulTuning was chosen from this.
// Run: node dist/bench/gpt-matmul.js [VARIANT[:WG],...] [SHAPE-PREFIX]
//   e.g. node dist/bench/gpt-matmul.js blocked-scalar:32,blocked-scalar:16,blocked-scalar:8,blocked-vec4:8 fwd
//   or   node dist/bench/gpt-matmul.js blocked-scalar:16,tiled 1024   (WG omitted: the entry's default;
//   'tiled' has a fixed 16×16 workgroup). A variant that refuses the shape prints '-'.
import { formatAdapter, openGpu } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import { median } from './lib/gpu-timing.js';
import { timeOnce } from './lib/cpu-time.js';
import { prepareMatmul, type MatmulVariant } from '../src/kernels/matmul.js';

const ctx = await openGpu();
console.log(formatAdapter(ctx.info));
const shapes: [string, number, number, number, boolean, boolean][] = [
  ['fwd c_attn', 768, 384, 128, false, true],
  ['fwd c_proj', 768, 128, 128, false, true],
  ['fwd c_fc', 768, 512, 128, false, true],
  ['fwd mlp.c_proj', 768, 128, 512, false, true],
  ['dW c_attn', 384, 128, 768, true, false],
  ['dW c_fc', 512, 128, 768, true, false],
  ['dW mlp.c_proj', 128, 512, 768, true, false],
  ['dx c_attn', 768, 128, 384, false, false],
  ['dx mlp.c_proj', 768, 512, 128, false, false],
  ['dx c_fc', 768, 128, 512, false, false],
  ['mlp fwd', 64, 256, 784, false, true],
  ['mlp dW', 256, 784, 64, true, false],
  ['mlp dx', 64, 784, 256, false, false],
  ['1024³ Y=X·Wᵀ', 1024, 1024, 1024, false, true],
  ['1024³ dX=dY·W', 1024, 1024, 1024, false, false],
  ['1024³ dW=dYᵀ·X', 1024, 1024, 1024, true, false],
];
const rand = (n: number) => createStorageFrom(ctx, 'r', Float32Array.from({ length: n }, () => Math.random() - 0.5));
const variants: [MatmulVariant, number | undefined][] = (process.argv[2] ?? 'blocked:32,blocked:16,blocked:8,blocked-vec4:16').split(',').map((s) => { const [v, w] = s.split(':'); return [v as MatmulVariant, w === undefined ? undefined : Number(w)]; });
const only = process.argv[3];
for (const [name, M, N, K, transA, transB] of shapes) {
  if (only && !name.startsWith(only)) continue;
  const a = rand(M * K), b = rand(K * N), c = createStorage(ctx, 'c', M * N * 4);
  const ds = [];
  for (const [variant, wg] of variants) {
    try { ds.push(await prepareMatmul(ctx, { a, b, c, M, N, K, transA, transB, variant, ...(wg === undefined ? {} : { workgroup: wg }) })); } catch { ds.push(undefined); }
  }
  for (const d of ds) if (d) await timeOnce(ctx, [d], 1);
  const cpu = ds.map(() => [] as number[]);
  const wall = ds.map(() => [] as number[]);
  for (let r = 0; r < 5; r++) for (let i = 0; i < ds.length; i++) if (ds[i]) {
    const t = await timeOnce(ctx, [ds[i]!], 10);
    cpu[i]!.push(t.cpuMs!); wall[i]!.push(t.wallMs);
  }
  const gf = (ms: number) => (2 * M * N * K / ms / 1e6).toFixed(2);
  const label = (i: number) => variants[i]!.filter((x) => x !== undefined).join(':');
  const line = cpu.map((s, i) => s.length ? `${label(i)} ${gf(median(s))}c/${gf(Math.min(...wall[i]!))}w` : `${label(i)} -`);
  console.log(`${name.padEnd(16)} ${line.join('  ')}`);
}
ctx.close();
