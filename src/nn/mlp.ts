// The MLP (PyTorch's nn.Sequential of nn.Linear layers and activations, softmax cross-entropy on
// top) behind the Model interface: a flat parameter layout of `layers.{i}.weight` [out, in] and
// `layers.{i}.bias` [out], and, per batch size, a prepared graph of dispatches for forward, loss
// and backward.
import { z } from 'zod';
import type { GpuContext } from '../gpu/device.js';
import { createStorage, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch, TensorRef } from '../gpu/dispatch.js';
import { prepareMatmul } from '../kernels/matmul.js';
import { prepareActivationBackward, prepareActivationForward, type Activation } from '../kernels/activation.js';
import { prepareBiasGrad } from '../kernels/bias-grad.js';
import { prepareSoftmaxCrossEntropy } from '../kernels/cross-entropy.js';
import { isFeatureBatch, type Batch } from '../data/batch.js';
import { FlatParameters } from './flat-parameters.js';
import { initParameters, zeros, type InitScheme } from './init.js';
import { buildLayout, type ParameterLayout, type TensorRole, type TensorSpec } from './layout.js';
import { LossStats } from './loss-stats.js';
import type { DataShape, Model, ModelDefinition, ModelGraph } from './model.js';

// Accepts the parsed form too (an array), so a config can travel to workers as JSON and be re-validated.
const hiddenList = z.preprocess((v) => (Array.isArray(v) ? v.join(',') : v), z.string()).transform((s, ctx) => {
  if (s.trim() === '' || s === 'none') return [] as number[];
  const parts = s.split(',').map((p) => Number(p.trim()));
  if (parts.some((n) => !Number.isInteger(n) || n < 1 || n > 65536)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `--hidden must be comma-separated layer widths from 1 to 65536, e.g. 256,128 (got "${s}")` });
    return z.NEVER;
  }
  return parts;
});

/** The config's `model` field for `--model mlp`; strict, so a setting of another model is an error, not ignored. */
export const mlpConfigSchema = z.object({
  kind: z.literal('mlp'),
  hidden: hiddenList.default('256'),
  activation: z.enum(['relu', 'gelu']).default('relu'),
}).strict();

export type MlpConfig = z.infer<typeof mlpConfigSchema>;

/** The layer widths and activation of one MLP: the config's settings plus the data's shape. */
export interface MlpOptions {
  inputs: number;
  hidden: readonly number[];
  classes: number;
  activation: Activation;
}

/** He/Kaiming uniform weights and zero biases: what PyTorch's nn.Linear with ReLU is commonly given. */
export const MLP_INIT: InitScheme = { weight: { kind: 'kaiming-uniform' }, bias: zeros };

/** nn.Linear layers `layers.{i}.weight` [out, in] and `layers.{i}.bias` [out]. */
export function mlpLayout(sizes: readonly number[]): ParameterLayout {
  const tensors: TensorSpec[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    tensors.push({ name: `layers.${i}.weight`, shape: [sizes[i + 1]!, sizes[i]!], role: 'weight' });
    tensors.push({ name: `layers.${i}.bias`, shape: [sizes[i + 1]!], role: 'bias' });
  }
  return buildLayout(tensors);
}

export const mlpDefinition: ModelDefinition<'mlp'> = {
  schema: mlpConfigSchema,
  create: (ctx: GpuContext, config: MlpConfig, data: DataShape) =>
    new Mlp(ctx, { inputs: data.features, hidden: config.hidden, classes: data.classes, activation: config.activation }),
};

export class Mlp extends FlatParameters implements Model {
  readonly kind = 'mlp';
  readonly sizes: readonly number[];
  /** PyTorch's default: weight decay, when asked for, applies to every parameter. */
  readonly weightDecayRoles: readonly TensorRole[] = ['weight', 'bias'];

  constructor(ctx: GpuContext, readonly options: MlpOptions) {
    const sizes = [options.inputs, ...options.hidden, options.classes];
    super(ctx, mlpLayout(sizes));
    this.sizes = sizes;
  }

  get description(): string {
    return `MLP ${this.sizes.join('-')}`;
  }

  get layerCount(): number {
    return this.sizes.length - 1;
  }

  initialParameters(seed: number): Float32Array {
    return initParameters(this.layout, seed, MLP_INIT);
  }

  weight(buffer: GPUBuffer, layer: number): TensorRef {
    return this.slice(buffer, `layers.${layer}.weight`);
  }

  bias(buffer: GPUBuffer, layer: number): TensorRef {
    return this.slice(buffer, `layers.${layer}.bias`);
  }

  /** Buffers and dispatches for batches of `batchSize` rows; build one per batch size in use. */
  async graph(batchSize: number, gradAccum: number, options: { training: boolean } = { training: true }): Promise<MlpGraph> {
    return MlpGraph.create(this, batchSize, gradAccum, options.training);
  }
}

/**
 * Activations and prepared dispatches for one batch size. Uploading a batch fills `x` and `labels`;
 * `trainDispatches(first)` is forward + loss + backward, where `first` overwrites the gradient
 * buffer and later micro-batches add into it in-kernel.
 */
export class MlpGraph implements ModelGraph {
  readonly x: GPUBuffer;
  readonly labels: GPUBuffer;
  /** Per row: [loss, correct] summed over every batch since the last `clearStats`. */
  readonly stats: LossStats;
  readonly forward: Dispatch[];
  /** A classifier scores one label per sample. */
  readonly predictionsPerSample = 1;
  private readonly loss: Dispatch[];
  private readonly backwardFirst: Dispatch[];
  private readonly backwardAccumulate: Dispatch[];

  private constructor(
    readonly model: Mlp,
    readonly batchSize: number,
    parts: { x: GPUBuffer; labels: GPUBuffer; stats: LossStats; forward: Dispatch[]; loss: Dispatch[]; backwardFirst: Dispatch[]; backwardAccumulate: Dispatch[] },
  ) {
    this.x = parts.x;
    this.labels = parts.labels;
    this.stats = parts.stats;
    this.forward = parts.forward;
    this.loss = parts.loss;
    this.backwardFirst = parts.backwardFirst;
    this.backwardAccumulate = parts.backwardAccumulate;
  }

  static async create(model: Mlp, batchSize: number, gradAccum: number, training: boolean): Promise<MlpGraph> {
    const { ctx, sizes } = model;
    const B = batchSize;
    const L = model.layerCount;
    const activation = model.options.activation;
    const f32 = (label: string, n: number) => createStorage(ctx, label, n * 4);
    const x = f32(`x [${B}×${sizes[0]}]`, B * sizes[0]!);
    const labels = createStorage(ctx, `labels [${B}]`, B * 4);
    const stats = new LossStats(ctx, B);
    // ReLU runs in the matmuls' epilogue (forward: max(z, 0) as it is stored; backward: the dX product
    // masked by h > 0), so its layers keep no z or dh and take no activation passes: same bits.
    const fused = activation === 'relu';
    // z[l]: pre-activation output of layer l; h[l]: its activation (input of layer l+1).
    const z: (GPUBuffer | undefined)[] = [];
    const h: GPUBuffer[] = [x];
    const dz: GPUBuffer[] = [];
    const dh: (GPUBuffer | undefined)[] = [];
    for (let l = 0; l < L; l++) {
      const n = B * sizes[l + 1]!;
      const hidden = l < L - 1;
      z.push(hidden && fused ? undefined : f32(`z${l}`, n));
      dz.push(f32(`dz${l}`, n));
      if (hidden) {
        h.push(f32(`h${l + 1}`, n));
        dh.push(fused ? undefined : f32(`dh${l + 1}`, n));
      }
    }

    const forward: Dispatch[] = [];
    for (let l = 0; l < L; l++) {
      const hidden = l < L - 1;
      const reluInEpilogue = hidden && fused;
      forward.push(await prepareMatmul(ctx, {
        a: h[l]!, b: model.weight(model.params, l), bias: model.bias(model.params, l), c: reluInEpilogue ? h[l + 1]! : z[l]!,
        M: B, N: sizes[l + 1]!, K: sizes[l]!, transB: true, ...(reluInEpilogue ? { epilogue: 'relu' as const } : {}),
        label: `layer ${l} forward${reluInEpilogue ? ' + relu' : ''}`,
      }));
      if (hidden && !fused) {
        forward.push(await prepareActivationForward(ctx, { z: z[l]!, h: h[l + 1]!, count: B * sizes[l + 1]!, activation, label: `layer ${l} ${activation}` }));
      }
    }
    // Stats always accumulate; the trainer clears them after reading.
    const loss = [await prepareSoftmaxCrossEntropy(ctx, {
      logits: z[L - 1]!, labels, dlogits: dz[L - 1]!, stats: stats.buffer, rows: B, classes: sizes[L]!,
      gradScale: 1 / (B * gradAccum), accumulateStats: true, label: 'softmax cross-entropy',
    })];

    const backward = async (accumulate: boolean): Promise<Dispatch[]> => {
      const out: Dispatch[] = [];
      for (let l = L - 1; l >= 0; l--) {
        const tag = `layer ${l} ${accumulate ? 'accumulate' : 'first'}`;
        if (l < L - 1 && !fused) {
          out.push(await prepareActivationBackward(ctx, { z: z[l]!, dh: dh[l]!, dz: dz[l]!, count: B * sizes[l + 1]!, activation, label: `${tag} ${activation} backward` }));
        }
        // dW [out, in] = dZᵀ · H, summed over the batch.
        out.push(await prepareMatmul(ctx, {
          a: dz[l]!, b: h[l]!, c: model.weight(model.grads, l), M: sizes[l + 1]!, N: sizes[l]!, K: B,
          transA: true, accumulate, label: `${tag} dW`,
        }));
        out.push(await prepareBiasGrad(ctx, { dy: dz[l]!, db: model.bias(model.grads, l), rows: B, cols: sizes[l + 1]!, accumulate, label: `${tag} db` }));
        if (l > 0) {
          // dH [B, in] = dZ · W; the input layer needs no dX. Fused: dZ of the layer below = dH · (h > 0).
          out.push(await prepareMatmul(ctx, {
            a: dz[l]!, b: model.weight(model.params, l), c: fused ? dz[l - 1]! : dh[l - 1]!, M: B, N: sizes[l]!, K: sizes[l + 1]!,
            ...(fused ? { epilogue: { reluMask: h[l]! } } : {}), label: `${tag} dX${fused ? ' + relu backward' : ''}`,
          }));
        }
      }
      return out;
    };
    return new MlpGraph(model, B, {
      x, labels, stats, forward, loss,
      backwardFirst: training ? await backward(false) : [],
      backwardAccumulate: training && gradAccum > 1 ? await backward(true) : [],
    });
  }

  upload(batch: Batch): void {
    if (!isFeatureBatch(batch)) {
      throw new Error(`${this.model.description} reads float features (x [rows, features]), but this batch holds token ids; give it a feature data set`);
    }
    const features = this.model.sizes[0]!;
    if (batch.x.length !== this.batchSize * features || batch.y.length !== this.batchSize) {
      throw new RangeError(`${this.model.description}: a batch of ${this.batchSize} rows needs x of ${this.batchSize} × ${features} floats and ${this.batchSize} labels (got ${batch.x.length} and ${batch.y.length})`);
    }
    writeBuffer(this.model.ctx, this.x, batch.x);
    writeBuffer(this.model.ctx, this.labels, batch.y);
  }

  /** Forward, loss and backward of one micro-batch; `first` overwrites the gradients, later ones add. */
  trainDispatches(first: boolean): Dispatch[] {
    if (this.backwardFirst.length === 0) throw new Error('this graph was built for evaluation only');
    if (!first && this.backwardAccumulate.length === 0) {
      throw new Error('this graph was built for gradAccum = 1; build it with the real accumulation count');
    }
    return [...this.forward, ...this.loss, ...(first ? this.backwardFirst : this.backwardAccumulate)];
  }

  evalDispatches(): Dispatch[] {
    return [...this.forward, ...this.loss];
  }

  clearStats(): void {
    this.stats.clear();
  }

  readStats(rows = this.batchSize): Promise<{ lossSum: number; correct: number }> {
    return this.stats.read(rows);
  }
}
