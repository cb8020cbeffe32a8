// Measuring one training step on the GPU for bench/profile.ts: the whole step as the trainer submits
// it, each kernel of it (timestamp queries where the device has them, else one submit per kernel),
// and the fixed costs around a step (an empty submit, the loss read-back, a batch upload, encoding).
import type { GpuContext } from '../../src/gpu/device.js';
import { encodeDispatches, submitDispatches, type Dispatch } from '../../src/gpu/dispatch.js';
import { awaitGpu } from '../../src/gpu/gpu-wait.js';
import { median } from './gpu-timing.js';

/** What one step does on the CPU before its submit: upload batches, collect dispatches, write uniforms. */
export type RecordStep = () => Dispatch[];

export interface StepTiming {
  /** Submit to onSubmittedWorkDone of the whole step, including its JavaScript (median). */
  stepMs: number;
  /** CPU time from the first upload to submit() returning (median). */
  jsMs: number;
  /** CPU time of createCommandEncoder … finish() alone (median). */
  encodeMs: number;
  /** Timestamps only: the step's one compute pass from its start to its end on the GPU's clock (median). */
  gpuMs: number | null;
  samples: number;
}

export interface KernelTiming {
  label: string;
  /** Median milliseconds. */
  ms: number;
  dispatch: Dispatch;
}

export interface StepProfile {
  step: StepTiming;
  kernels: KernelTiming[];
  /** Timestamps only: first kernel's start to last kernel's end of the timestamped step (median). */
  gpuSpanMs: number | null;
  /**
   * Timestamps only: the kernels' times summed within each timestamped step (median), which the same
   * step's span bounds; the sum of per-kernel medians need not be.
   */
  kernelSumPerStepMs: number | null;
}

export interface ProfileOptions {
  warmup: number;
  reps: number;
  /** 'timestamp' needs a device with 'timestamp-query'. */
  mode: 'timestamp' | 'submit';
  /** Subtracted from each kernel's time in 'submit' mode. */
  emptySubmitMs: number;
}

/**
 * Times the step as the trainer runs it and kernel by kernel, alternating the two in each repetition
 * so that both see the same load (on a shared machine the load moves more than the kernels do).
 */
export async function profileStep(ctx: GpuContext, record: RecordStep, options: ProfileOptions): Promise<StepProfile> {
  const live = (dispatches: Dispatch[]) => dispatches.filter((d) => !d.workgroups.some((n) => n === 0));
  const first = live(record());
  const steps: number[] = [];
  const js: number[] = [];
  const encode: number[] = [];
  const spans: number[] = [];
  const gpu: number[] = [];
  const sums: number[] = [];
  const perKernel: number[][] = first.map(() => []);
  const timestamps = options.mode === 'timestamp' ? new TimestampedStep(ctx, first.length) : undefined;
  const passTimestamps = options.mode === 'timestamp' ? new TimestampedStep(ctx, 1) : undefined;
  try {
    for (let i = 0; i < options.warmup + options.reps; i++) {
      const whole = await wholeStep(ctx, record, passTimestamps);
      const dispatches = live(record());
      if (dispatches.length !== first.length) throw new Error(`the step recorded ${dispatches.length} dispatches, earlier ${first.length}: a profile needs the same step each time`);
      const kernels = timestamps ? await timestamps.run(dispatches) : { ms: await submitEach(ctx, dispatches, options.emptySubmitMs), spanMs: null };
      if (i < options.warmup) continue;
      steps.push(whole.stepMs);
      js.push(whole.jsMs);
      encode.push(whole.encodeMs);
      if (whole.gpuMs !== null) gpu.push(whole.gpuMs);
      kernels.ms.forEach((ms, k) => perKernel[k]!.push(ms));
      if (kernels.spanMs !== null) {
        spans.push(kernels.spanMs);
        sums.push(kernels.ms.reduce((a, b) => a + b, 0));
      }
    }
  } finally {
    timestamps?.destroy();
    passTimestamps?.destroy();
  }
  return {
    step: { stepMs: median(steps), jsMs: median(js), encodeMs: median(encode), gpuMs: gpu.length ? median(gpu) : null, samples: options.reps },
    kernels: first.map((d, k) => ({ label: d.label, ms: median(perKernel[k]!), dispatch: d })),
    gpuSpanMs: spans.length ? median(spans) : null,
    kernelSumPerStepMs: sums.length ? median(sums) : null,
  };
}

/**
 * One step as the trainer runs it: uploads and dispatches recorded, one encoder, one compute pass, one
 * submit; then onSubmittedWorkDone awaited as StepRecorder awaits it (awaitGpu: without Dawn's
 * busy-poll, WEBGPU-NOTES hazard 2).
 */
async function wholeStep(ctx: GpuContext, record: RecordStep, timestamps: TimestampedStep | undefined): Promise<StepTiming> {
  const t0 = performance.now();
  const dispatches = record();
  const e0 = performance.now();
  const encoder = ctx.device.createCommandEncoder({ label: 'training step' });
  const pass = encoder.beginComputePass({ label: 'training step', ...(timestamps ? { timestampWrites: timestamps.writes(0) } : {}) });
  encodeDispatches(pass, dispatches);
  pass.end();
  timestamps?.resolveInto(encoder);
  const commands = encoder.finish();
  const e1 = performance.now();
  ctx.device.queue.submit([commands]);
  const submitted = performance.now();
  await awaitGpu(() => ctx.device.queue.onSubmittedWorkDone());
  const end = performance.now();
  ctx.check('the profiled training step');
  const gpuMs = timestamps ? (await timestamps.read())[1]! : null;
  return { stepMs: end - t0, jsMs: submitted - t0, encodeMs: e1 - e0, gpuMs, samples: 1 };
}

/** Each dispatch in its own compute pass with timestamp writes at its start and end, all in one submit. */
class TimestampedStep {
  private readonly querySet: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly readback: GPUBuffer;

  constructor(private readonly ctx: GpuContext, private readonly count: number) {
    const bytes = count * 2 * 8;
    this.querySet = ctx.device.createQuerySet({ label: 'kernel timestamps', type: 'timestamp', count: count * 2 });
    this.resolve = ctx.device.createBuffer({ label: 'kernel timestamps resolved', size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readback = ctx.device.createBuffer({ label: 'kernel timestamps read-back', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Pass `i`'s start and end timestamps. */
  writes(i: number): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolveInto(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, this.count * 2, this.resolve, 0);
    encoder.copyBufferToBuffer(this.resolve, 0, this.readback, 0, this.count * 2 * 8);
  }

  /** Milliseconds since the first pass's start: each pass's start and end, in order. */
  async read(): Promise<number[]> {
    await awaitGpu(() => this.readback.mapAsync(GPUMapMode.READ));
    const ns = new BigUint64Array(this.readback.getMappedRange().slice(0));
    this.readback.unmap();
    this.ctx.check('reading timestamps');
    return [...ns].map((t) => Number(t - ns[0]!) / 1e6);
  }

  async run(dispatches: readonly Dispatch[]): Promise<{ ms: number[]; spanMs: number }> {
    const encoder = this.ctx.device.createCommandEncoder({ label: 'timestamped step' });
    dispatches.forEach((d, i) => {
      const pass = encoder.beginComputePass({ label: d.label, timestampWrites: this.writes(i) });
      encodeDispatches(pass, [d]);
      pass.end();
    });
    this.resolveInto(encoder);
    this.ctx.device.queue.submit([encoder.finish()]);
    const at = await this.read();
    return { ms: dispatches.map((_, i) => at[2 * i + 1]! - at[2 * i]!), spanMs: at[2 * this.count - 1]! };
  }

  destroy(): void {
    this.querySet.destroy(); this.resolve.destroy(); this.readback.destroy();
  }
}

/**
 * Without timestamp queries: each dispatch in its own submit, in step order so that each kernel reads
 * what the step would have given it, timed to onSubmittedWorkDone through awaitGpu (most are short
 * enough to finish while it still spins), minus the empty submit's cost.
 */
async function submitEach(ctx: GpuContext, dispatches: readonly Dispatch[], emptySubmitMs: number): Promise<number[]> {
  const ms: number[] = [];
  for (const d of dispatches) {
    const t0 = performance.now();
    submitDispatches(ctx, d.label, [d]);
    await awaitGpu(() => ctx.device.queue.onSubmittedWorkDone());
    ms.push(Math.max(0, performance.now() - t0 - emptySubmitMs));
  }
  ctx.check('the step submitted kernel by kernel');
  return ms;
}

/** An encoder with nothing in it, submitted and awaited: the floor under every submit (median). */
export async function timeEmptySubmit(ctx: GpuContext, reps: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const t0 = performance.now();
    ctx.device.queue.submit([ctx.device.createCommandEncoder({ label: 'empty' }).finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
    if (i >= 2) samples.push(performance.now() - t0);
  }
  return median(samples);
}

/** Median milliseconds of an async (or sync) action, after one warm-up; the GPU is drained first. */
export async function timeAction(ctx: GpuContext, action: () => unknown, reps: number): Promise<number> {
  await ctx.device.queue.onSubmittedWorkDone();
  const samples: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    await action();
    if (i > 0) samples.push(performance.now() - t0);
  }
  return median(samples);
}
