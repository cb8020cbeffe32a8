// The MLP on the GPU: one flat buffer each for parameters and gradients (layout in layout.ts), and,
// per batch size, a prepared graph of dispatches for forward, loss and backward.
import type { GpuContext } from '../gpu/device.js';
import { createStorage, readFloat32, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch, TensorRef } from '../gpu/dispatch.js';
import { prepareMatmul } from '../kernels/matmul.js';
import { prepareActivationBackward, prepareActivationForward, type Activation } from '../kernels/activation.js';
import { prepareBiasGrad } from '../kernels/bias-grad.js';
import { prepareSoftmaxCrossEntropy } from '../kernels/cross-entropy.js';
import { mlpLayout, tensorNamed, type ParameterLayout, type TensorLayout } from './layout.js';

export interface MlpConfig {
  inputs: number;
  hidden: readonly number[];
  classes: number;
  activation: Activation;
}

export class Mlp {
  readonly layout: ParameterLayout;
  readonly sizes: readonly number[];
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;

  constructor(readonly ctx: GpuContext, readonly config: MlpConfig) {
    this.sizes = [config.inputs, ...config.hidden, config.classes];
    this.layout = mlpLayout(this.sizes);
    const bytes = this.layout.totalFloats * 4;
    this.params = createStorage(ctx, 'parameters', bytes);
    this.grads = createStorage(ctx, 'gradients', bytes);
  }

  get layerCount(): number {
    return this.sizes.length - 1;
  }

  /** A byte slice of a flat buffer holding one tensor. */
  slice(buffer: GPUBuffer, tensor: TensorLayout): TensorRef {
    return { buffer, offset: tensor.offset * 4, size: tensor.size * 4 };
  }

  weight(buffer: GPUBuffer, layer: number): TensorRef {
    return this.slice(buffer, tensorNamed(this.layout, `layers.${layer}.weight`));
  }

  bias(buffer: GPUBuffer, layer: number): TensorRef {
    return this.slice(buffer, tensorNamed(this.layout, `layers.${layer}.bias`));
  }

  setParameters(flat: Float32Array): void {
    if (flat.length !== this.layout.totalFloats) {
      throw new RangeError(`parameters: got ${flat.length} floats, the model's flat layout holds ${this.layout.totalFloats}`);
    }
    writeBuffer(this.ctx, this.params, flat);
  }

  /** Reads the flat parameters back (stalls until the GPU is done). */
  getParameters(): Promise<Float32Array> {
    return readFloat32(this.ctx, this.params);
  }

  /** Buffers and dispatches for batches of `batchSize` rows; build one per batch size in use. */
  async graph(batchSize: number, gradAccum: number, options: { training: boolean } = { training: true }): Promise<MlpGraph> {
    return MlpGraph.create(this, batchSize, gradAccum, options.training);
  }
}

/**
 * Activations and prepared dispatches for one batch size. Uploading a batch fills `x` and `labels`;
 * `trainStep(first)` is forward + loss + backward, where `first` overwrites the gradient buffer and
 * later micro-batches add into it in-kernel.
 */
export class MlpGraph {
  readonly x: GPUBuffer;
  readonly labels: GPUBuffer;
  /** Per row: [loss, correct] summed over every batch since the last `clearStats`. */
  readonly stats: GPUBuffer;
  readonly forward: Dispatch[];
  private readonly loss: { fresh: Dispatch[] };
  private readonly backwardFirst: Dispatch[];
  private readonly backwardAccumulate: Dispatch[];

  private constructor(
    readonly model: Mlp,
    readonly batchSize: number,
    parts: { x: GPUBuffer; labels: GPUBuffer; stats: GPUBuffer; forward: Dispatch[]; loss: Dispatch[]; backwardFirst: Dispatch[]; backwardAccumulate: Dispatch[] },
  ) {
    this.x = parts.x;
    this.labels = parts.labels;
    this.stats = parts.stats;
    this.forward = parts.forward;
    this.loss = { fresh: parts.loss };
    this.backwardFirst = parts.backwardFirst;
    this.backwardAccumulate = parts.backwardAccumulate;
  }

  static async create(model: Mlp, batchSize: number, gradAccum: number, training: boolean): Promise<MlpGraph> {
    const { ctx, sizes } = model;
    const B = batchSize;
    const L = model.layerCount;
    const activation = model.config.activation;
    const f32 = (label: string, n: number) => createStorage(ctx, label, n * 4);
    const x = f32(`x [${B}×${sizes[0]}]`, B * sizes[0]!);
    const labels = createStorage(ctx, `labels [${B}]`, B * 4);
    const stats = f32(`loss stats [${B}×2]`, B * 2);
    // z[l]: pre-activation output of layer l; h[l]: its activation (input of layer l+1).
    const z: GPUBuffer[] = [];
    const h: GPUBuffer[] = [x];
    const dz: GPUBuffer[] = [];
    const dh: GPUBuffer[] = [];
    for (let l = 0; l < L; l++) {
      const n = B * sizes[l + 1]!;
      z.push(f32(`z${l}`, n));
      dz.push(f32(`dz${l}`, n));
      if (l < L - 1) {
        h.push(f32(`h${l + 1}`, n));
        dh.push(f32(`dh${l + 1}`, n));
      }
    }

    const forward: Dispatch[] = [];
    for (let l = 0; l < L; l++) {
      forward.push(await prepareMatmul(ctx, {
        a: h[l]!, b: model.weight(model.params, l), bias: model.bias(model.params, l), c: z[l]!,
        M: B, N: sizes[l + 1]!, K: sizes[l]!, transB: true, label: `layer ${l} forward`,
      }));
      if (l < L - 1) {
        forward.push(await prepareActivationForward(ctx, { z: z[l]!, h: h[l + 1]!, count: B * sizes[l + 1]!, activation, label: `layer ${l} ${activation}` }));
      }
    }
    // Stats always accumulate; the trainer clears them after reading (encoder.clearBuffer).
    const loss = [await prepareSoftmaxCrossEntropy(ctx, {
      logits: z[L - 1]!, labels, dlogits: dz[L - 1]!, stats, rows: B, classes: sizes[L]!,
      gradScale: 1 / (B * gradAccum), accumulateStats: true, label: 'softmax cross-entropy',
    })];

    const backward = async (accumulate: boolean): Promise<Dispatch[]> => {
      const out: Dispatch[] = [];
      for (let l = L - 1; l >= 0; l--) {
        const tag = `layer ${l} ${accumulate ? 'accumulate' : 'first'}`;
        if (l < L - 1) {
          out.push(await prepareActivationBackward(ctx, { z: z[l]!, dh: dh[l]!, dz: dz[l]!, count: B * sizes[l + 1]!, activation, label: `${tag} ${activation} backward` }));
        }
        // dW [out, in] = dZᵀ · H, summed over the batch.
        out.push(await prepareMatmul(ctx, {
          a: dz[l]!, b: h[l]!, c: model.weight(model.grads, l), M: sizes[l + 1]!, N: sizes[l]!, K: B,
          transA: true, accumulate, label: `${tag} dW`,
        }));
        out.push(await prepareBiasGrad(ctx, { dy: dz[l]!, db: model.bias(model.grads, l), rows: B, cols: sizes[l + 1]!, accumulate, label: `${tag} db` }));
        if (l > 0) {
          // dH [B, in] = dZ · W; the input layer needs no dX.
          out.push(await prepareMatmul(ctx, {
            a: dz[l]!, b: model.weight(model.params, l), c: dh[l - 1]!, M: B, N: sizes[l]!, K: sizes[l + 1]!, label: `${tag} dX`,
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

  upload(x: Float32Array, labels: Uint32Array): void {
    const ctx = this.model.ctx;
    writeBuffer(ctx, this.x, x);
    writeBuffer(ctx, this.labels, labels);
  }

  /** Forward, loss and backward of one micro-batch; `first` overwrites the gradients, later ones add. */
  trainDispatches(first: boolean): Dispatch[] {
    if (this.backwardFirst.length === 0) throw new Error('this graph was built for evaluation only');
    if (!first && this.backwardAccumulate.length === 0) {
      throw new Error('this graph was built for gradAccum = 1; build it with the real accumulation count');
    }
    return [...this.forward, ...this.loss.fresh, ...(first ? this.backwardFirst : this.backwardAccumulate)];
  }

  evalDispatches(): Dispatch[] {
    return [...this.forward, ...this.loss.fresh];
  }

  /** Zeroes the loss statistics (a queue write, ordered after everything submitted before it). */
  clearStats(): void {
    writeBuffer(this.model.ctx, this.stats, new Float32Array(this.batchSize * 2));
  }

  /** Sums of per-row loss and correct counts over the first `rows` rows (stalls on the GPU). */
  async readStats(rows = this.batchSize): Promise<{ lossSum: number; correct: number }> {
    const data = await readFloat32(this.model.ctx, this.stats);
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < rows; i++) {
      lossSum += data[2 * i]!;
      correct += data[2 * i + 1]!;
    }
    return { lossSum, correct };
  }
}
