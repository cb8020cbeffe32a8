// Where a training step's time goes (issue 16 part 2): the MNIST MLP at batch 64 and 512 and one step
// of the baby GPT, built and recorded as the trainer builds them (createModel → graph →
// trainDispatches, createOptimizer, the --grad-clip norm dispatches), timed as a whole and kernel by
// kernel, beside the fixed costs around a step and OpenBLAS sgemm at each matmul's shape.
// Run: npm run bench:profile [-- --quick] [-- --models mlp64,gpt] [-- --mode submit]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseTrainArgs } from '../src/cli/config.js';
import { createStorage } from '../src/gpu/buffers.js';
import { formatAdapter, openGpu, type GpuContext } from '../src/gpu/device.js';
import type { Dispatch, MatmulWork } from '../src/gpu/dispatch.js';
import type { Batch } from '../src/data/batch.js';
import { prepareGradNormClip } from '../src/kernels/grad-norm.js';
import { createModel, type DataShape } from '../src/nn/model.js';
import { createOptimizer } from '../src/nn/optimizer.js';
import type { TrainConfig } from '../src/train/config.js';
import { commaSubset, readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { setUpPytorchAnchor, type PytorchAnchor } from './lib/pytorch-anchor.js';
import { sgemmMs } from './lib/sgemm.js';
import { describeMachine, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';
import { profileStep, timeAction, timeEmptySubmit, type KernelTiming, type RecordStep } from './lib/step-timing.js';

const MODELS = ['mlp64', 'mlp512', 'gpt'] as const;
type ModelName = (typeof MODELS)[number];
/** The trainer's flags for each profiled step; everything else is the trainer's default. */
const TRAIN_ARGS: Record<ModelName, string[]> = {
  mlp64: ['--batch-size', '64'],
  mlp512: ['--batch-size', '512'],
  gpt: ['--model', 'gpt'],
};
/** The byte-level text data's vocabulary (src/data/text.ts). */
const GPT_VOCAB = 256;
const MNIST_SHAPE: DataShape = { features: 784, classes: 10 };

const FLAGS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: 'the MLP at batch 64 only, few repetitions (a smoke test, seconds)' },
  { flag: '--models', kind: 'value', help: `comma-separated subset of ${MODELS.join(',')} (default: all; --quick: mlp64)` },
  { flag: '--mode', kind: 'value', help: 'per-kernel timing: auto (timestamps where the adapter offers them), timestamp, submit (one submit per kernel)' },
  { flag: '--reps', kind: 'value', help: 'timed repetitions of each measurement (default 15; --quick 4)' },
  { flag: '--out', kind: 'value', help: 'directory for profile.json and profile.md (default bench/results)' },
  { flag: '--help', kind: 'boolean', help: 'this text' },
];
const ABOUT = `Profiles one training step per model on this machine's WebGPU adapter: the whole step as the
trainer submits it (one encoder, one submit; median after warm-up), each kernel (timestamp queries
where the adapter offers 'timestamp-query', else each dispatch in its own submit minus an empty
submit), an empty submit, the loss read-back, a batch upload and the JavaScript of encoding, and each
matmul against PyTorch's OpenBLAS sgemm at the same shape (one thread, configured as bench:train does).`;

const Flags = z.object({
  quick: z.boolean().default(false),
  models: commaSubset(MODELS, '--models'),
  mode: z.enum(['auto', 'timestamp', 'submit'], { errorMap: () => ({ message: '--mode takes auto, timestamp or submit' }) }).default('auto'),
  reps: z.coerce.number({ invalid_type_error: '--reps takes a whole number from 2 to 1000' }).int().min(2).max(1000).optional(),
  out: z.string().default('bench/results'),
  help: z.boolean().default(false),
}).strict();

export interface KernelRow {
  label: string;
  /** "M×N×K" (×batch products) for a matmul, else empty. */
  shape: string;
  ms: number;
  /** Of the whole step's time. */
  percentOfStep: number;
  gflops: number | null;
  sgemmMs: number | null;
  /** ms / sgemmMs: how many times slower than OpenBLAS on one core. */
  timesSgemm: number | null;
}

export interface ModelProfile {
  name: ModelName;
  model: string;
  settings: string;
  batchSize: number;
  kernelTiming: 'timestamp-query' | 'submit per kernel';
  /** ms: submit … onSubmittedWorkDone, as the trainer waits; gpuMs: its one pass on the GPU's clock (timestamps only). */
  step: { ms: number; gpuMs: number | null; jsMs: number; encodeMs: number; samples: number };
  kernels: KernelRow[];
  /** Timestamps only: first kernel's start to last kernel's end of the timestamped step, on the GPU's clock. */
  timestampedSpanMs: number | null;
  /** Timestamps only: the kernels summed within each timestamped step (median); at most timestampedSpanMs. */
  timestampedKernelSumMs: number | null;
  kernelSumMs: number;
  /** step.ms − kernelSumMs: submit, waits, uploads and JavaScript. */
  notKernelsMs: number;
  overheads: { emptySubmitMs: number; readStatsMs: number; readStatsBytes: number; uploadMs: number; uploadBytes: number };
  matmulMs: number;
  matmulSgemmMs: number | null;
  /** The kernels summed by kind, the GPT's layers folded together (transformer.h.N → h.*). */
  groups: KernelGroup[];
}

export interface KernelGroup {
  kind: string;
  count: number;
  ms: number;
  percentOfStep: number;
  /** Matmul kinds only: their FLOPs over their time, and the same shapes in sgemm. */
  gflops: number | null;
  sgemmMs: number | null;
}

export interface ProfileReport {
  adapter: string;
  machine: MachineInfo;
  anchor: string;
  anchorProper: boolean;
  reps: number;
  models: ModelProfile[];
}

async function main(): Promise<void> {
  const raw = readFlags(process.argv.slice(2), FLAGS);
  const parsed = Flags.safeParse(raw);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('npm run bench:profile --', ABOUT, FLAGS));
    return;
  }
  const names = (flags.models ?? (flags.quick ? ['mlp64'] : [...MODELS])) as ModelName[];
  const reps = flags.reps ?? (flags.quick ? 4 : 15);
  const ctx = await openGpu({ features: ['timestamp-query'], exactTimestamps: true });
  try {
    const hasTimestamps = ctx.device.features.has('timestamp-query');
    if (flags.mode === 'timestamp' && !hasTimestamps) {
      throw new UsageError(`--mode timestamp: the adapter ${formatAdapter(ctx.info)} does not offer 'timestamp-query'; use --mode submit (or auto)`);
    }
    const useTimestamps = flags.mode === 'timestamp' || (flags.mode === 'auto' && hasTimestamps);
    const adapter = formatAdapter(ctx.info);
    console.log(`adapter: ${adapter}; per-kernel timing: ${useTimestamps ? 'timestamp-query' : 'one submit per kernel'}`);
    const found = setUpPytorchAnchor();
    const anchor = 'anchor' in found ? found.anchor : undefined;
    const anchorText = anchor ? `${anchor.label}, OPENBLAS_NUM_THREADS=1` : `no sgemm comparison: ${'missing' in found ? found.missing : ''}`;
    console.log(`sgemm: ${anchorText}`);
    const models: ModelProfile[] = [];
    for (const name of names) {
      const profile = await profileModel(ctx, name, reps, useTimestamps, anchor, flags.quick);
      models.push(profile);
      console.log(`\n${heading(profile)}\n${profile.kernels.length > 30 ? groupTable(profile) : kernelTable(profile)}\n\n${summaryTable(profile)}`);
    }
    const report: ProfileReport = { adapter, machine: machineInfo(), anchor: anchorText, anchorProper: anchor?.proper ?? false, reps, models };
    mkdirSync(flags.out, { recursive: true });
    writeFileSync(join(flags.out, 'profile.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(flags.out, 'profile.md'), markdown(report));
    console.log(`\nwrote ${join(flags.out, 'profile.json')} and profile.md`);
  } finally {
    ctx.close();
  }
}

/** The trainer's config for `name`, parsed from its flags as `train.js` would. */
function trainConfig(name: ModelName): TrainConfig {
  return parseTrainArgs(['--procs', '1', ...TRAIN_ARGS[name]]);
}

function randomBatch(config: TrainConfig, shape: DataShape): Batch {
  const B = config.batchSize;
  const ints = (n: number, below: number) => Uint32Array.from({ length: n }, () => Math.floor(Math.random() * below));
  if (config.model.kind === 'gpt') return { tokens: ints(B * shape.features, shape.classes), targets: ints(B * shape.features, shape.classes), size: B };
  return { x: Float32Array.from({ length: B * shape.features }, () => Math.random()), y: ints(B, shape.classes), size: B };
}

async function profileModel(ctx: GpuContext, name: ModelName, reps: number, useTimestamps: boolean, anchor: PytorchAnchor | undefined, quick: boolean): Promise<ModelProfile> {
  const config = trainConfig(name);
  const shape: DataShape = config.model.kind === 'gpt' ? { features: config.model.blockSize, classes: GPT_VOCAB } : MNIST_SHAPE;
  // As train-worker.ts's setUp builds them.
  const model = await createModel(ctx, config.model, shape);
  model.setParameters(model.initialParameters(config.seed));
  const clip = config.gradClip > 0 ? createStorage(ctx, 'gradient norm and clip scale', 8) : undefined;
  const optimizer = await createOptimizer(ctx, model, { ...config, kind: config.optimizer, weightDecayRoles: model.weightDecayRoles }, { gradScale: clip });
  const graph = await model.graph(config.batchSize, config.gradAccum);
  const clipping = clip ? await prepareGradNormClip(ctx, {
    tensors: [{ grads: model.grads, count: model.layout.totalFloats }], maxNorm: config.gradClip,
    clip, label: `clip_grad_norm_ ${config.gradClip}`,
  }) : undefined;
  const batch = randomBatch(config, shape);
  // One step as the trainer's loop records it: each micro-batch's upload and forward/loss/backward,
  // the clip, the optimizer. (The trainer submits between micro-batches; the default gradAccum is 1.)
  const record: RecordStep = () => {
    const dispatches: Dispatch[] = [];
    for (let micro = 0; micro < config.gradAccum; micro++) {
      graph.upload(batch);
      dispatches.push(...graph.trainDispatches(micro === 0));
    }
    if (clipping) dispatches.push(...clipping.norm); // the optimizer step applies the scale
    dispatches.push(...optimizer.prepareStep(config.lr));
    return dispatches;
  };

  const emptySubmitMs = await timeEmptySubmit(ctx, Math.max(reps, 20));
  const profile = await profileStep(ctx, record, { warmup: 2, reps, mode: useTimestamps ? 'timestamp' : 'submit', emptySubmitMs });
  const { step, kernels: timings } = profile;
  const readStatsMs = await timeAction(ctx, () => graph.readStats(), reps);
  const uploadMs = await timeAction(ctx, () => graph.upload(batch), reps);
  graph.clearStats();
  const sgemm = anchor ? sgemmTimes(anchor, timings, quick ? 0.05 : 0.3) : undefined;

  const kernels = timings.map((t, i): KernelRow => {
    const mm = t.dispatch.matmul;
    const flops = mm ? 2 * mm.M * mm.N * mm.K * mm.batch : 0;
    const sgemmMs = sgemm?.[i] ?? null;
    return {
      label: t.label, shape: mm ? matmulShape(mm) : '', ms: t.ms, percentOfStep: (100 * t.ms) / step.stepMs,
      gflops: mm && t.ms > 0 ? flops / t.ms / 1e6 : null, sgemmMs, timesSgemm: sgemmMs ? t.ms / sgemmMs : null,
    };
  });
  const kernelSumMs = kernels.reduce((s, k) => s + k.ms, 0);
  const groups = groupKernels(kernels, timings, step.stepMs);
  const matmuls = kernels.filter((k) => k.shape);
  const bytes = 'x' in batch ? batch.x.byteLength + batch.y.byteLength : batch.tokens.byteLength + batch.targets.byteLength;
  const optimizerText = config.optimizer === 'sgd' ? `SGD momentum ${config.momentum}` : `AdamW`;
  return {
    name, model: model.description, batchSize: config.batchSize,
    settings: `batch ${config.batchSize}${config.gradAccum > 1 ? ` × ${config.gradAccum} micro-batches` : ''}, ${optimizerText}${config.gradClip > 0 ? `, clip ${config.gradClip}` : ''}`,
    kernelTiming: useTimestamps ? 'timestamp-query' : 'submit per kernel',
    step: { ms: step.stepMs, gpuMs: step.gpuMs, jsMs: step.jsMs, encodeMs: step.encodeMs, samples: step.samples },
    timestampedSpanMs: profile.gpuSpanMs,
    timestampedKernelSumMs: profile.kernelSumPerStepMs,
    kernels, kernelSumMs, notKernelsMs: step.stepMs - kernelSumMs,
    overheads: { emptySubmitMs, readStatsMs, readStatsBytes: graph.batchSize * 8, uploadMs, uploadBytes: bytes },
    matmulMs: matmuls.reduce((s, k) => s + k.ms, 0),
    matmulSgemmMs: sgemm ? matmuls.reduce((s, k) => s + (k.sgemmMs ?? 0), 0) : null,
    groups,
  };
}

/** Kernels of the same kind summed, largest first: the GPT's layers, micro-batch tags and optimizer runs folded. */
function groupKernels(rows: readonly KernelRow[], timings: readonly KernelTiming[], stepMs: number): KernelGroup[] {
  const groups = new Map<string, KernelGroup & { flops: number }>();
  rows.forEach((k, i) => {
    const kind = k.label.replace(/^transformer\.h\.\d+/, 'h.*').replace(/^clip_grad_norm_ [\d.]+/, 'clip_grad_norm_').replace(/ (first|accumulate)\b/, '').replace(/ \[\d+\]$/, '');
    const mm = timings[i]!.dispatch.matmul;
    const g = groups.get(kind) ?? { kind, count: 0, ms: 0, percentOfStep: 0, gflops: null, sgemmMs: null, flops: 0 };
    g.count++;
    g.ms += k.ms;
    g.percentOfStep = (100 * g.ms) / stepMs;
    if (mm) {
      g.flops += 2 * mm.M * mm.N * mm.K * mm.batch;
      g.gflops = g.ms > 0 ? g.flops / g.ms / 1e6 : null;
      if (k.sgemmMs !== null) g.sgemmMs = (g.sgemmMs ?? 0) + k.sgemmMs;
    }
    groups.set(kind, g);
  });
  return [...groups.values()].sort((a, b) => b.ms - a.ms).map(({ flops: _, ...g }) => g);
}

function matmulShape(mm: MatmulWork): string {
  const t = `${mm.transA ? 'ᵀ' : ''}${mm.transB ? '·Bᵀ' : ''}`;
  return `${mm.M}×${mm.N}×${mm.K}${mm.batch > 1 ? ` ×${mm.batch}` : ''}${t ? ` (${mm.transA ? 'Aᵀ' : 'A'}·${mm.transB ? 'Bᵀ' : 'B'})` : ''}`;
}

/** sgemm milliseconds at each matmul kernel's shape (null for other kernels), one BLAS thread. */
function sgemmTimes(anchor: PytorchAnchor, timings: readonly KernelTiming[], seconds: number): (number | null)[] {
  const shapes = [...new Map(timings.flatMap((t) => (t.dispatch.matmul ? [[JSON.stringify(t.dispatch.matmul), t.dispatch.matmul] as const] : []))).values()];
  const ms = sgemmMs(anchor, shapes, seconds);
  const byShape = new Map(shapes.map((s, i) => [JSON.stringify(s), ms[i]!]));
  return timings.map((t) => (t.dispatch.matmul ? byShape.get(JSON.stringify(t.dispatch.matmul)) ?? null : null));
}

const f = (x: number | null, digits = 3) => (x === null ? '' : x.toFixed(digits));

function heading(p: ModelProfile): string {
  return `${p.model}, ${p.settings} — step ${f(p.step.ms, 2)} ms (median of ${p.step.samples}); kernels by ${p.kernelTiming}`;
}

function kernelTable(p: ModelProfile): string {
  return markdownTable(
    ['kernel', 'shape M×N×K', 'ms', '% of step', 'GFLOP/s', 'sgemm ms', 'ours ÷ sgemm'],
    p.kernels.map((k) => [k.label, k.shape, f(k.ms), f(k.percentOfStep, 1), f(k.gflops, 1), f(k.sgemmMs, 3), k.timesSgemm === null ? '' : `${k.timesSgemm.toFixed(1)}×`]),
  );
}

function groupTable(p: ModelProfile): string {
  return markdownTable(
    ['kernel kind', 'kernels', 'ms', '% of step', 'GFLOP/s', 'sgemm ms', 'ours ÷ sgemm'],
    p.groups.map((g) => [g.kind, String(g.count), f(g.ms), f(g.percentOfStep, 1), f(g.gflops, 1), f(g.sgemmMs), g.sgemmMs ? `${(g.ms / g.sgemmMs).toFixed(1)}×` : '']),
  );
}

function summaryTable(p: ModelProfile): string {
  const o = p.overheads;
  const rows: string[][] = [
    ['whole step (one encoder, one submit, awaited)', f(p.step.ms), '100.0'],
    ...(p.step.gpuMs === null ? [] : [['  of which its one compute pass on the GPU (timestamps)', f(p.step.gpuMs), f((100 * p.step.gpuMs) / p.step.ms, 1)]]),
    ...(p.timestampedSpanMs === null ? [] : [['the timestamped step, first kernel start to last kernel end (one pass per kernel)', f(p.timestampedSpanMs), f((100 * p.timestampedSpanMs) / p.step.ms, 1)]]),
    ...(p.timestampedKernelSumMs === null ? [] : [['  of which its kernels (summed within each step)', f(p.timestampedKernelSumMs), f((100 * p.timestampedKernelSumMs) / p.step.ms, 1)]]),
    ['sum of the per-kernel medians', f(p.kernelSumMs), f((100 * p.kernelSumMs) / p.step.ms, 1)],
    ['  of which matmuls', f(p.matmulMs), f((100 * p.matmulMs) / p.step.ms, 1)],
    ['  the same matmuls in OpenBLAS sgemm (1 thread)', f(p.matmulSgemmMs), ''],
    ['not kernels (step − sum: submit, wait, upload, JS)', f(p.notKernelsMs), f((100 * p.notKernelsMs) / p.step.ms, 1)],
    ['JavaScript before submit (uploads, dispatch lists, uniforms, encoding)', f(p.step.jsMs), f((100 * p.step.jsMs) / p.step.ms, 1)],
    ['  of which encoding (createCommandEncoder … finish)', f(p.step.encodeMs), f((100 * p.step.encodeMs) / p.step.ms, 1)],
    ['empty submit + onSubmittedWorkDone', f(o.emptySubmitMs), ''],
    [`loss read-back (readStats, mapAsync of ${o.readStatsBytes} B)`, f(o.readStatsMs), ''],
    [`batch upload (writeBuffer, ${o.uploadBytes} B)`, f(o.uploadMs), ''],
  ];
  return markdownTable(['where', 'ms', '% of step'], rows);
}

function markdown(r: ProfileReport): string {
  const parts = [
    '# Where a training step\'s time goes (`npm run bench:profile`)', '',
    `Adapter: ${r.adapter}. Machine: ${describeMachine(r.machine)}.`, `sgemm: ${r.anchor}. Medians of ${r.reps} repetitions.`,
  ];
  for (const p of r.models) parts.push('', `## ${heading(p)}`, '', summaryTable(p), '', 'By kind:', '', groupTable(p), '', 'Every kernel, in step order:', '', kernelTable(p));
  return `${parts.join('\n')}\n`;
}

runMain(main);
