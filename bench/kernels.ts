// How fast are the kernels? GFLOP/s of the matmul entries against the naive kernel, a plain
// JavaScript loop and one-thread OpenBLAS sgemm at the same shape, on square sizes and the MNIST
// MLP's shapes, and the parameter average against a JavaScript loop.
// Run: npm run bench:kernels [-- --quick] [-- --json]
import { z } from 'zod';
import { formatAdapter, openGpu, type GpuContext } from '../src/gpu/device.js';
import { createStorage, createStorageFrom } from '../src/gpu/buffers.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { median, timeGpu } from './lib/gpu-timing.js';
import { blockedWorkgroup, matmulTuning, prepareMatmul } from '../src/kernels/matmul.js';
import { setUpPytorchAnchor } from './lib/pytorch-anchor.js';
import { sgemmMs } from './lib/sgemm.js';
import { prepareStackedMean } from '../src/kernels/stacked-mean.js';

const HELP = `Usage: node dist/bench/kernels.js [--quick] [--json] [--help]

  --quick  a small subset (256³ in every form and the MLP forward shape), a few seconds
  --json   print only a JSON array of records {kernel, shape, variant, gflops, ...} on stdout
  --help   this text

Matmul GFLOP/s of the fast kernel (variant 'blocked': the entry prepareMatmul's fixed table runs),
'main' (the blocked entry with scalar loads, the fast kernel before the subgroup entries), the
naive kernel, the workgroup-memory 'tiled' kernel (for discrete GPUs) and a plain-JavaScript
Float32Array loop, side by side, and PyTorch's OpenBLAS sgemm at the same shape on one thread
(bench/sgemm_shapes.py, configured as bench:train configures PyTorch; the column is empty, and the
header says why, where python3 with torch is missing). Then the parameter average (mean of 4
stacked vectors) against a JavaScript loop.
GPU timing: many dispatches in one submit, warm-up first, median of several repetitions, awaited
without Dawn's busy-poll (awaitGpu).`;

const Flags = z
  .array(z.enum(['--quick', '--json', '--help'], {
    errorMap: (_issue, ctx) => ({ message: `unknown flag "${String(ctx.data)}"; the flags are --quick, --json, --help` }),
  }))
  .transform((flags) => ({ quick: flags.includes('--quick'), json: flags.includes('--json'), help: flags.includes('--help') }));
type Flags = z.output<typeof Flags>;

type Form = 'Y=X·Wᵀ' | 'dX=dY·W' | 'dW=dYᵀ·X';
const FORMS: Record<Form, { transA: boolean; transB: boolean }> = {
  'Y=X·Wᵀ': { transA: false, transB: true },
  'dX=dY·W': { transA: false, transB: false },
  'dW=dYᵀ·X': { transA: true, transB: false },
};

interface MatmulCase { form: Form; M: number; N: number; K: number; note?: string }

function matmulCases(quick: boolean): MatmulCase[] {
  const forms = Object.keys(FORMS) as Form[];
  const squares = quick ? [256] : [256, 512, 1024];
  const cases: MatmulCase[] = [];
  for (const form of forms) for (const s of squares) cases.push({ form, M: s, N: s, K: s });
  cases.push({ form: 'Y=X·Wᵀ', M: 64, N: 256, K: 784, note: 'MLP forward 64×784→256' });
  if (quick) return cases;
  cases.push(
    { form: 'dW=dYᵀ·X', M: 256, N: 784, K: 64, note: 'MLP backward dW [256×784]' },
    { form: 'dX=dY·W', M: 64, N: 784, K: 256, note: 'MLP backward dX [64×784]' },
    { form: 'Y=X·Wᵀ', M: 64, N: 10, K: 256, note: 'MLP output 64×256→10' },
  );
  return cases;
}

export interface BenchRecord {
  kernel: 'matmul' | 'average';
  /** "M×N×K" for matmul (op(A) M×K, op(B) K×N), "n×count" for average. */
  shape: string;
  variant: string;
  gflops: number;
  form?: string;
  /** Milliseconds per call (median). */
  ms: number;
  /** gflops ÷ one-thread OpenBLAS sgemm's GFLOP/s at the same shape (matmul only; absent without PyTorch). */
  ofLimit?: number;
  /** GB/s of memory traffic (average only). */
  gbps?: number;
  /** The WGSL entry point the fast variant ran, or how a JS figure was measured. */
  detail?: string;
  adapter: string;
}

function timeJs(body: () => void, reps: number): number {
  body(); // JIT warm-up
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    body();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

/** C = op(A)·op(B), plain loops ordered so that the inner loop walks memory contiguously. */
function jsMatmul(form: Form, a: Float32Array, b: Float32Array, c: Float32Array, M: number, N: number, K: number): void {
  c.fill(0);
  if (form === 'Y=X·Wᵀ') {
    // A [M,K], B [N,K]: both rows contiguous in k, so a dot product per output.
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += a[i * K + k]! * b[j * K + k]!;
        c[i * N + j] = sum;
      }
    }
  } else if (form === 'dX=dY·W') {
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const s = a[i * K + k]!;
        for (let j = 0; j < N; j++) c[i * N + j] += s * b[k * N + j]!;
      }
    }
  } else {
    // A stored [K,M]: k outermost so that both A's and B's rows are read in order.
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < M; i++) {
        const s = a[k * M + i]!;
        for (let j = 0; j < N; j++) c[i * N + j] += s * b[k * N + j]!;
      }
    }
  }
}

function randomFloats(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() * 2 - 1;
  return out;
}

/** Largest K for the JS loop: at 1024³ the full loop takes seconds, so it runs a K slice. */
const JS_MAX_FLOPS = 2 * 1024 * 1024 * 128;

async function benchMatmul(ctx: GpuContext, adapter: string, c: MatmulCase, reps: number, sgemm: number | null, log: (line: string) => void): Promise<BenchRecord[]> {
  const { transA, transB } = FORMS[c.form];
  const { M, N, K } = c;
  const flops = 2 * M * N * K;
  const a = randomFloats(M * K);
  const b = randomFloats(K * N);
  const bufA = createStorageFrom(ctx, 'A', a);
  const bufB = createStorageFrom(ctx, 'B', b);
  const bufC = createStorage(ctx, 'C', M * N * 4);
  const shape = `${M}×${N}×${K}`;
  const records: BenchRecord[] = [];
  const base = { kernel: 'matmul' as const, shape, form: c.form, adapter };
  const sgemmGflops = sgemm === null ? null : flops / sgemm / 1e6;
  const ofLimit = (gflops: number) => (sgemmGflops === null ? {} : { ofLimit: gflops / sgemmGflops });
  try {
    const tuning = matmulTuning(ctx);
    for (const variant of ['blocked', 'blocked-scalar', 'naive', 'tiled'] as const) {
      const d = await prepareMatmul(ctx, {
        a: bufA, b: bufB, c: bufC, M, N, K, transA, transB, variant, label: `matmul ${variant}`,
        ...(variant === 'blocked-scalar' ? { workgroup: blockedWorkgroup(tuning, N) } : {}),
      });
      const ms = await timeGpu(ctx, [d], reps, variant === 'blocked' ? 200 : 100);
      const gflops = flops / ms / 1e6;
      const name = variant === 'blocked' ? 'fast' : variant === 'blocked-scalar' ? 'main' : variant;
      records.push({ ...base, variant: name, gflops, ms, ...ofLimit(gflops), detail: variant === 'blocked' ? d.matmul?.entry ?? 'unknown' : variant });
    }
    if (sgemm !== null) records.push({ ...base, variant: 'sgemm', gflops: sgemmGflops!, ms: sgemm, ofLimit: 1, detail: 'PyTorch OpenBLAS sgemm, one thread' });
  } finally {
    bufA.destroy(); bufB.destroy(); bufC.destroy();
  }
  // The JS loop on a K slice when the whole product would take seconds; GFLOP/s barely depend on K.
  const kJs = Math.max(1, Math.min(K, Math.floor(JS_MAX_FLOPS / (2 * M * N))));
  const aJs = c.form === 'dW=dYᵀ·X' ? a.subarray(0, kJs * M) : kJs === K ? a : sliceColumns(a, M, K, kJs);
  const bJs = c.form === 'Y=X·Wᵀ' ? (kJs === K ? b : sliceColumns(b, N, K, kJs)) : b.subarray(0, kJs * N);
  const cJs = new Float32Array(M * N);
  const jsMs = timeJs(() => jsMatmul(c.form, aJs, bJs, cJs, M, N, kJs), Math.max(1, Math.min(reps, 3)));
  const jsGflops = (2 * M * N * kJs) / jsMs / 1e6;
  records.push({
    ...base, variant: 'js', gflops: jsGflops, ms: (jsMs * K) / kJs, ...ofLimit(jsGflops),
    detail: kJs === K ? 'full product' : `measured on K=${kJs} (shrunk to keep the run short), ms scaled to K=${K}`,
  });
  const at = (variant: string) => records.find((r) => r.variant === variant)!;
  const [fast, main, naive, tiled, js] = ['fast', 'main', 'naive', 'tiled', 'js'].map(at) as [BenchRecord, BenchRecord, BenchRecord, BenchRecord, BenchRecord];
  log(
    `${(c.note ?? c.form).padEnd(26)} ${c.form.padEnd(10)} ${shape.padEnd(15)} ` +
      `${fmt(fast.gflops)} ${fmt(main.gflops)} ${fmt(naive.gflops)} ${fmt(tiled.gflops)} ${fmt(js.gflops)}${kJs === K ? ' ' : '*'}` +
      `${sgemmGflops === null ? '      -' : fmt(sgemmGflops)}  ` +
      `${(fast.gflops / main.gflops).toFixed(1).padStart(5)}× ${fast.ofLimit === undefined ? '      -' : ratio(fast.ofLimit)}  ${fast.detail}`,
  );
  return records;
}

/** The first `k` columns of a row-major [rows, cols] matrix. */
function sliceColumns(m: Float32Array, rows: number, cols: number, k: number): Float32Array {
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * cols, r * cols + k), r * k);
  return out;
}

const fmt = (g: number) => g.toFixed(2).padStart(7);
const ratio = (f: number) => `${f.toFixed(3)}×`.padStart(7);

async function benchAverage(ctx: GpuContext, adapter: string, count: number, n: number, reps: number, log: (line: string) => void): Promise<BenchRecord[]> {
  const shape = `${n}×${count}`;
  const bytes = (n + 1) * count * 4;
  if (n * count * 4 > ctx.device.limits.maxStorageBufferBindingSize) {
    log(`average ${shape}: skipped, ${n * count * 4} bytes of inputs exceed this device's storage binding limit (${ctx.device.limits.maxStorageBufferBindingSize}); prepareStackedMean binds all n vectors at once`);
    return [];
  }
  const inputs = randomFloats(n * count);
  const bufIn = createStorageFrom(ctx, 'average inputs', inputs);
  const bufOut = createStorage(ctx, 'average output', count * 4);
  const records: BenchRecord[] = [];
  const base = { kernel: 'average' as const, shape, adapter };
  try {
    const d = await prepareStackedMean(ctx, { inputs: bufIn, output: bufOut, count, n });
    const ms = await timeGpu(ctx, [d], reps, 200);
    records.push({ ...base, variant: 'fast', ms, gflops: (n * count) / ms / 1e6, gbps: bytes / ms / 1e6, detail: 'prepareStackedMean' });
  } finally {
    bufIn.destroy(); bufOut.destroy();
  }
  const out = new Float32Array(count);
  const jsMs = timeJs(() => {
    out.set(inputs.subarray(0, count));
    for (let r = 1; r < n; r++) {
      const v = inputs.subarray(r * count, (r + 1) * count);
      for (let i = 0; i < count; i++) out[i] += v[i]!;
    }
    const scale = 1 / n;
    for (let i = 0; i < count; i++) out[i] *= scale;
  }, reps);
  records.push({ ...base, variant: 'js', ms: jsMs, gflops: (n * count) / jsMs / 1e6, gbps: bytes / jsMs / 1e6, detail: 'Float32Array loop' });
  const [gpu, js] = records;
  log(`average of ${n} vectors of ${count.toLocaleString('en-US')} floats`.padEnd(46) +
    `gpu ${gpu!.ms.toFixed(2).padStart(7)} ms (${gpu!.gbps!.toFixed(1)} GB/s)   js ${js!.ms.toFixed(2).padStart(7)} ms (${js!.gbps!.toFixed(1)} GB/s)`);
  return records;
}

async function run(flags: Flags): Promise<void> {
  const log = flags.json ? () => {} : (line: string) => console.log(line);
  const ctx = await openGpu();
  try {
    const adapter = formatAdapter(ctx.info);
    const reps = flags.quick ? 2 : 5;
    log(`adapter: ${adapter}`);
    log(`settings: ${flags.quick ? 'quick' : 'full'}, median of ${reps} repetitions; matmul tuning ${JSON.stringify(matmulTuning(ctx))}`);
    const cases = matmulCases(flags.quick);
    const found = setUpPytorchAnchor();
    let sgemm: (number | null)[] = cases.map(() => null);
    if ('anchor' in found) {
      log(`machine limit: ${found.anchor.label}, sgemm at each shape on one thread (OPENBLAS_NUM_THREADS=1)`);
      sgemm = sgemmMs(found.anchor, cases.map((c) => ({ M: c.M, N: c.N, K: c.K, batch: 1, ...FORMS[c.form] })), flags.quick ? 0.05 : 0.3);
    } else {
      log(`machine limit: not measured (${found.missing})`);
    }
    log('');
    log(`${'case'.padEnd(26)} ${'form'.padEnd(10)} ${'M×N×K'.padEnd(15)} ${'fast'.padStart(7)} ${'main'.padStart(7)} ${'naive'.padStart(7)} ${'tiled'.padStart(7)} ${'js'.padStart(7)} ${'sgemm1'.padStart(7)}  ` +
      `${'f/main'.padStart(6)} ${'f/sgemm1'.padStart(7)}  entry`);
    log(`${''.padEnd(53)} GFLOP/s`);
    const records: BenchRecord[] = [];
    for (const [i, c] of cases.entries()) records.push(...(await benchMatmul(ctx, adapter, c, reps, sgemm[i] ?? null, log)));
    if (records.some((r) => r.detail?.startsWith('measured on K='))) log('* JS loop measured on a K slice (shrunk to keep the run short); GFLOP/s barely depend on K.');
    log('');
    // Local SGD's parameter average: the MNIST MLP (203,530 floats) and a 10M-float model, 4 workers.
    records.push(...(await benchAverage(ctx, adapter, 203_530, 4, reps, log)));
    if (!flags.quick) records.push(...(await benchAverage(ctx, adapter, 10_000_000, 4, 3, log)));
    if (flags.json) console.log(JSON.stringify(records, null, 1));
  } finally {
    ctx.close();
  }
}

const parsed = Flags.safeParse(process.argv.slice(2));
if (!parsed.success) {
  console.error(`${parsed.error.issues.map((i) => i.message).join('\n')}\n\n${HELP}`);
  process.exitCode = 2;
} else if (parsed.data.help) {
  console.log(HELP);
} else {
  run(parsed.data).catch((e: unknown) => {
    console.error(`bench/kernels: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
