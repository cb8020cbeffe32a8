// Optimizers over the flat parameter buffer: one dispatch per step, state in flat buffers of the
// same layout (so checkpoints save them with the same table). Weight decay is decided by tensor
// role; the tensors it applies to and those it does not form runs of the layout, one dispatch each
// (one in all when it applies to every tensor, or to none).
import type { GpuContext } from '../gpu/device.js';
import { createStorage, readFloat32, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch, TensorRef } from '../gpu/dispatch.js';
import { prepareAdamW, prepareSgd } from '../kernels/optimizers.js';
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

export async function createOptimizer(ctx: GpuContext, model: OptimizedParameters, config: OptimizerConfig): Promise<Optimizer> {
  const count = model.layout.totalFloats;
  for (const [what, buffer] of [['parameters', model.params], ['gradients', model.grads]] as const) {
    if (buffer.size !== count * 4) throw new RangeError(`optimizer ${config.kind}: the ${what} buffer holds ${buffer.size} bytes, the layout ${count} floats (${count * 4} bytes)`);
  }
  const buffer = (label: string) => createStorage(ctx, label, count * 4);
  const runs = weightDecayRuns(model.layout, config.weightDecayRoles);
  const slice = (b: GPUBuffer, run: DecayRun): TensorRef => ({ buffer: b, offset: run.offset * 4, size: run.count * 4 });
  const label = (run: DecayRun) => `${config.kind}${runs.length > 1 ? ` floats ${run.offset}..${run.offset + run.count}${run.decays ? '' : ' (no weight decay)'}` : ''}`;
  const decay = (run: DecayRun) => (run.decays ? config.weightDecay : 0);
  if (config.kind === 'sgd') {
    const momentumBuffer = buffer('sgd momentum');
    const kernels = await Promise.all(runs.map(async (run) => ({
      run,
      kernel: await prepareSgd(ctx, { params: slice(model.params, run), grads: slice(model.grads, run), momentumBuffer: slice(momentumBuffer, run), count: run.count, label: label(run) }),
    })));
    return new FlatOptimizer(ctx, 'sgd', { momentum: momentumBuffer }, count, (lr, step) => kernels.map(({ run, kernel }) => {
      kernel.setHyper({ lr, momentum: config.momentum, weightDecay: decay(run), nesterov: config.nesterov, firstStep: step === 0 });
      return kernel.dispatch;
    }));
  }
  const m = buffer('adamw m');
  const v = buffer('adamw v');
  const kernels = await Promise.all(runs.map(async (run) => ({
    run,
    kernel: await prepareAdamW(ctx, { params: slice(model.params, run), grads: slice(model.grads, run), m: slice(m, run), v: slice(v, run), count: run.count, label: label(run) }),
  })));
  return new FlatOptimizer(ctx, 'adamw', { exp_avg: m, exp_avg_sq: v }, count, (lr, step) => kernels.map(({ run, kernel }) => {
    kernel.setHyper({ lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps, weightDecay: decay(run), step: step + 1 });
    return kernel.dispatch;
  }));
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
