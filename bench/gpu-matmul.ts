// Matmul on a real GPU against cuBLAS (issue 16 part 4): every matmul candidate autotune knows for
// this adapter, at large squares in the three forms, next to PyTorch's fp32 cuBLAS on the same
// device (bench/cublas_anchor.py, TF32 off) when python3 with a CUDA torch is there. Meant for the
// lent GPU machine (bench/gpu-check.sh); on lavapipe use --sizes 256 (a 4096³ product takes ~10 s there).
// Run: node dist/bench/gpu-matmul.js [--sizes 1024,4096] [--out FILE.json]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { formatAdapter, openGpu } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import { MATMUL_CANDIDATES, matmulCandidateName, prepareMatmul } from '../src/kernels/matmul.js';
import { timeGpu } from './lib/gpu-timing.js';
import { benchScript, findTorchPython } from './lib/pytorch-anchor.js';

const FORMS = [
  { form: 'Y=X·Wᵀ', transA: false, transB: true },
  { form: 'dX=dY·W', transA: false, transB: false },
  { form: 'dW=dYᵀ·X', transA: true, transB: false },
] as const;

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}
const sizes = (flag('--sizes') ?? '1024,4096').split(',').map(Number);
if (sizes.some((s) => !Number.isInteger(s) || s < 1)) {
  console.error(`--sizes takes whole numbers separated by commas (got ${flag('--sizes')})`);
  process.exit(2);
}

const ctx = await openGpu();
const adapter = formatAdapter(ctx.info);
console.log(adapter);
const candidates = MATMUL_CANDIDATES.filter((c) => c.adapters === (ctx.isCpuAdapter ? 'cpu' : 'gpu') && c.variant !== 'narrow');
const ours: Array<{ size: number; form: string; candidate: string; ms: number; gflops: number }> = [];
for (const size of sizes) {
  const n = size * size;
  const random = () => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const a = createStorageFrom(ctx, 'A', random()), b = createStorageFrom(ctx, 'B', random()), c = createStorage(ctx, 'C', n * 4);
  for (const { form, transA, transB } of FORMS) {
    for (const cand of candidates) {
      const d = await prepareMatmul(ctx, { a, b, c, M: size, N: size, K: size, transA, transB, variant: cand.variant, workgroup: cand.workgroup });
      const ms = await timeGpu(ctx, [d], 5, 200);
      const gflops = (2 * size ** 3) / ms / 1e6;
      ours.push({ size, form, candidate: matmulCandidateName(cand), ms, gflops });
      console.log(`${String(size).padStart(5)}³ ${form.padEnd(9)} ${matmulCandidateName(cand).padEnd(16)} ${gflops.toFixed(0).padStart(7)} GFLOP/s`);
    }
  }
  a.destroy(); b.destroy(); c.destroy();
}
ctx.close();

const python = findTorchPython();
const cublas = python
  ? JSON.parse(spawnSync(python, [benchScript('cublas_anchor.py'), ...sizes.map(String)], { encoding: 'utf8' }).stdout || '{"available":false,"why":"cublas_anchor.py printed nothing"}')
  : { available: false, why: 'python3 with torch not found' };
if (cublas.available) {
  console.log(`cuBLAS fp32 (TF32 off), ${cublas.device}, torch ${cublas.torch}:`);
  for (const r of cublas.results as Array<{ size: number; form: string; gflops: number }>) {
    const best = ours.filter((o) => o.size === r.size && o.form === r.form).reduce((x, y) => (y.gflops > x.gflops ? y : x));
    console.log(`${String(r.size).padStart(5)}³ ${r.form.padEnd(9)} cuBLAS ${r.gflops.toFixed(0)} GFLOP/s; ours best ${best.candidate} ${best.gflops.toFixed(0)} = ${(best.gflops / r.gflops * 100).toFixed(1)} % (goal ≥ 40 % at 4096³)`);
  }
} else {
  console.log(`no cuBLAS anchor: ${cublas.why}`);
}
const out = flag('--out');
if (out) writeFileSync(out, JSON.stringify({ adapter, ours, cublas }, null, 1));
