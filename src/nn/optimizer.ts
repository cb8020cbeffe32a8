// Optimizers over the flat parameter buffer: one dispatch per step, state in flat buffers of the
// same layout (so checkpoints save them with the same table).
import type { GpuContext } from '../gpu/device.js';
import { createStorage, readFloat32, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { prepareAdamW, prepareSgd, type PreparedAdamW, type PreparedSgd } from '../kernels/optimizers.js';
import type { Mlp } from './mlp.js';

export type OptimizerKind = 'sgd' | 'adamw';

export interface OptimizerConfig {
  kind: OptimizerKind;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Optimizer steps taken so far. */
  stepCount: number;
  /** Names of the state tensors (`momentum`; `exp_avg`, `exp_avg_sq`), as PyTorch calls them. */
  readonly stateNames: readonly string[];
  /** Writes this step's hyper-parameters and returns the dispatch to encode after the backward pass. */
  prepareStep(lr: number): Dispatch;
  /** Named state tensors (flat, same layout as the parameters) for checkpoints. */
  readState(): Promise<Map<string, Float32Array>>;
  loadState(state: Map<string, Float32Array>, stepCount: number): void;
}

export async function createOptimizer(ctx: GpuContext, model: Mlp, config: OptimizerConfig): Promise<Optimizer> {
  const count = model.layout.totalFloats;
  const buffer = (label: string) => createStorage(ctx, label, count * 4);
  if (config.kind === 'sgd') {
    const momentumBuffer = buffer('sgd momentum');
    const kernel = await prepareSgd(ctx, { params: model.params, grads: model.grads, momentumBuffer, count });
    return new FlatOptimizer(ctx, 'sgd', { momentum: momentumBuffer }, count, (lr, step) => {
      setSgd(kernel, config, lr, step);
      return kernel.dispatch;
    });
  }
  const m = buffer('adamw m');
  const v = buffer('adamw v');
  const kernel = await prepareAdamW(ctx, { params: model.params, grads: model.grads, m, v, count });
  return new FlatOptimizer(ctx, 'adamw', { exp_avg: m, exp_avg_sq: v }, count, (lr, step) => {
    setAdamW(kernel, config, lr, step);
    return kernel.dispatch;
  });
}

function setSgd(kernel: PreparedSgd, c: OptimizerConfig, lr: number, step: number): void {
  kernel.setHyper({ lr, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov, firstStep: step === 0 });
}

function setAdamW(kernel: PreparedAdamW, c: OptimizerConfig, lr: number, step: number): void {
  kernel.setHyper({ lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, step: step + 1 });
}

class FlatOptimizer implements Optimizer {
  stepCount = 0;
  readonly stateNames: readonly string[];

  constructor(
    private readonly ctx: GpuContext,
    readonly kind: OptimizerKind,
    private readonly state: Record<string, GPUBuffer>,
    private readonly count: number,
    private readonly prepare: (lr: number, step: number) => Dispatch,
  ) {
    this.stateNames = Object.keys(state);
  }

  prepareStep(lr: number): Dispatch {
    const dispatch = this.prepare(lr, this.stepCount);
    this.stepCount++;
    return dispatch;
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
