// Optimizers over the flat parameter buffer: one dispatch per step, state in flat buffers of the
// same layout (so checkpoints save them with the same table). Weight decay is decided by tensor
// role; when some tensors decay and others do not, a bitmask uploaded once (one bit per float)
// tells the shader which, so the step is still one dispatch (it was one per run of tensors with
// the same decision, 34 for the GPT: measured in bench/README.md). Optionally the step reads
// clip_grad_norm_'s scale and applies it to the gradients as it reads them.
import type { GpuContext } from '../gpu/device.js';
import { createStorage, createStorageFrom, readFloat32, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch, TensorRef } from '../gpu/dispatch.js';
import { prepareAdamW, prepareSgd, weightDecayMask } from '../kernels/optimizers.js';
import type { ParameterLayout, TensorRole } from './layout.js';

export type OptimizerKind = 'sgd' | 'adamw';

export interface OptimizerConfig {
  kind: OptimizerKind;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  /** The roles `weightDecay` applies to; every role when absent (PyTorch's default). */
  weightDecayRoles?: readonly TensorRole[] | undefined;
}

/** What an optimizer needs of a model: its flat parameters and gradients, and their layout. */
export interface OptimizedParameters {
  readonly layout: ParameterLayout;
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Optimizer steps taken so far. */
  stepCount: number;
  /** Names of the state tensors (`momentum`; `exp_avg`, `exp_avg_sq`), as PyTorch calls them. */
  readonly stateNames: readonly string[];
  /** Writes this step's hyper-parameters and returns the dispatches to encode after the backward pass. */
  prepareStep(lr: number): Dispatch[];
  /** Named state tensors (flat, same layout as the parameters) for checkpoints. */
  readState(): Promise<Map<string, Float32Array>>;
  loadState(state: Map<string, Float32Array>, stepCount: number): void;
}

/** Inputs an optimizer reads besides the model's buffers. */
export interface OptimizerInputs {
  /**
   * clip_grad_norm_'s (norm, scale) pair (prepareGradNormClip's `clip`): the step multiplies each
   * gradient by the scale as it reads it, so encode only the clip's `norm` dispatches before it.
   */
  gradScale?: TensorRef | undefined;
}

/** A contiguous range of the flat buffers, in floats, whose tensors all do or all do not decay. */
interface DecayRun {
  offset: number;
  count: number;
  decays: boolean;
}

/** Runs of tensors with the same decay decision; the alignment padding after a tensor goes with it. */
export function weightDecayRuns(layout: ParameterLayout, roles: readonly TensorRole[] | undefined): DecayRun[] {
  const runs: DecayRun[] = [];
  for (const [i, t] of layout.tensors.entries()) {
    const decays = roles === undefined || roles.includes(t.role);
    const last = runs.at(-1);
    if (last && last.decays === decays) continue;
    if (last) last.count = t.offset - last.offset;
    runs.push({ offset: i === 0 ? 0 : t.offset, count: 0, decays });
  }
  if (runs.length === 0) runs.push({ offset: 0, count: 0, decays: true });
  runs.at(-1)!.count = layout.totalFloats - runs.at(-1)!.offset;
  return runs;
}

export async function createOptimizer(ctx: GpuContext, model: OptimizedParameters, config: OptimizerConfig, inputs: OptimizerInputs = {}): Promise<Optimizer> {
  const count = model.layout.totalFloats;
  for (const [what, buffer] of [['parameters', model.params], ['gradients', model.grads]] as const) {
    if (buffer.size !== count * 4) throw new RangeError(`optimizer ${config.kind}: the ${what} buffer holds ${buffer.size} bytes, the layout ${count} floats (${count * 4} bytes)`);
  }
  const buffer = (label: string) => createStorage(ctx, label, count * 4);
  const runs = weightDecayRuns(model.layout, config.weightDecayRoles);
  // One run: every tensor decays, or none does (then weightDecay 0 everywhere); no mask to read.
  const decayMask = runs.length > 1 ? createStorageFrom(ctx, `${config.kind} weight-decay mask`, weightDecayMask(count, runs)) : undefined;
  const weightDecay = runs.length === 1 && !runs[0]!.decays ? 0 : config.weightDecay;
  const common = { params: model.params, grads: model.grads, count, decayMask, gradScale: inputs.gradScale, label: config.kind };
  if (config.kind === 'sgd') {
    const momentumBuffer = buffer('sgd momentum');
    const kernel = await prepareSgd(ctx, { ...common, momentumBuffer });
    return new FlatOptimizer(ctx, 'sgd', { momentum: momentumBuffer }, count, (lr, step) => {
      kernel.setHyper({ lr, momentum: config.momentum, weightDecay, nesterov: config.nesterov, firstStep: step === 0 });
      return [kernel.dispatch];
    });
  }
  const m = buffer('adamw m');
  const v = buffer('adamw v');
  const kernel = await prepareAdamW(ctx, { ...common, m, v });
  return new FlatOptimizer(ctx, 'adamw', { exp_avg: m, exp_avg_sq: v }, count, (lr, step) => {
    kernel.setHyper({ lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps, weightDecay, step: step + 1 });
    return [kernel.dispatch];
  });
}

class FlatOptimizer implements Optimizer {
  stepCount = 0;
  readonly stateNames: readonly string[];

  constructor(
    private readonly ctx: GpuContext,
    readonly kind: OptimizerKind,
    private readonly state: Record<string, GPUBuffer>,
    private readonly count: number,
    private readonly prepare: (lr: number, step: number) => Dispatch[],
  ) {
    this.stateNames = Object.keys(state);
  }

  prepareStep(lr: number): Dispatch[] {
    const dispatches = this.prepare(lr, this.stepCount);
    this.stepCount++;
    return dispatches;
  }

  async readState(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, buffer] of Object.entries(this.state)) out.set(name, await readFloat32(this.ctx, buffer));
    return out;
  }

  loadState(state: Map<string, Float32Array>, stepCount: number): void {
    for (const [name, buffer] of Object.entries(this.state)) {
      const data = state.get(name);
      if (!data) throw new Error(`optimizer ${this.kind}: checkpoint has no state "${name}"`);
      if (data.length !== this.count) throw new Error(`optimizer ${this.kind}: state "${name}" holds ${data.length} floats, expected ${this.count}`);
      writeBuffer(this.ctx, buffer, data);
    }
    this.stepCount = stepCount;
  }
}
