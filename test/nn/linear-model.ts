// A second model, defined outside src/ to show what a new model needs: this file, registered with
// createModel's registry. A linear classifier (logits = x·Wᵀ + b, softmax cross-entropy) with
// PyTorch nn.Linear names at the top level (`weight`, `bias`), normal(0, 0.02) weights, and weight
// decay on the weight only.
import { z } from 'zod';
import type { GpuContext } from '../../src/gpu/device.js';
import { createStorage, writeBuffer } from '../../src/gpu/buffers.js';
import type { Dispatch } from '../../src/gpu/dispatch.js';
import { prepareMatmul } from '../../src/kernels/matmul.js';
import { prepareBiasGrad } from '../../src/kernels/bias-grad.js';
import { prepareSoftmaxCrossEntropy } from '../../src/kernels/cross-entropy.js';
import { isFeatureBatch, type Batch } from '../../src/data/batch.js';
import { FlatParameters } from '../../src/nn/flat-parameters.js';
import { initParameters, zeros, type InitScheme } from '../../src/nn/init.js';
import { buildLayout, type ParameterLayout, type TensorRole } from '../../src/nn/layout.js';
import { LossStats } from '../../src/nn/loss-stats.js';
import { registerModel, type DataShape, type Model, type ModelGraph } from '../../src/nn/model.js';

export const linearConfigSchema = z.object({ kind: z.literal('linear') }).strict();
export type LinearConfig = z.infer<typeof linearConfigSchema>;

declare module '../../src/nn/model.js' {
  interface ModelConfigs {
    linear: LinearConfig;
  }
}

export const LINEAR_INIT: InitScheme = { weight: { kind: 'normal', std: 0.02 }, bias: zeros };

export function linearLayout(features: number, classes: number): ParameterLayout {
  return buildLayout([
    { name: 'weight', shape: [classes, features], role: 'weight' },
    { name: 'bias', shape: [classes], role: 'bias' },
  ]);
}

class LinearClassifier extends FlatParameters implements Model {
  readonly kind = 'linear';
  readonly weightDecayRoles: readonly TensorRole[] = ['weight'];

  constructor(ctx: GpuContext, readonly data: DataShape) {
    super(ctx, linearLayout(data.features, data.classes));
  }

  get description(): string {
    return `linear classifier ${this.data.features}→${this.data.classes}`;
  }

  initialParameters(seed: number): Float32Array {
    return initParameters(this.layout, seed, LINEAR_INIT);
  }

  async graph(batchSize: number, gradAccum: number, options = { training: true }): Promise<ModelGraph> {
    const { ctx } = this;
    const { features, classes } = this.data;
    const B = batchSize;
    const x = createStorage(ctx, `x [${B}×${features}]`, B * features * 4);
    const labels = createStorage(ctx, `labels [${B}]`, B * 4);
    const logits = createStorage(ctx, 'logits', B * classes * 4);
    const dlogits = createStorage(ctx, 'dlogits', B * classes * 4);
    const stats = new LossStats(ctx, B);
    const forward = [
      await prepareMatmul(ctx, { a: x, b: this.slice(this.params, 'weight'), bias: this.slice(this.params, 'bias'), c: logits, M: B, N: classes, K: features, transB: true, label: 'linear forward' }),
      await prepareSoftmaxCrossEntropy(ctx, {
        logits, labels, dlogits, stats: stats.buffer, rows: B, classes, gradScale: 1 / (B * gradAccum), accumulateStats: true, label: 'linear loss',
      }),
    ];
    const backward = async (accumulate: boolean): Promise<Dispatch[]> => [
      await prepareMatmul(ctx, { a: dlogits, b: x, c: this.slice(this.grads, 'weight'), M: classes, N: features, K: B, transA: true, accumulate, label: 'linear dW' }),
      await prepareBiasGrad(ctx, { dy: dlogits, db: this.slice(this.grads, 'bias'), rows: B, cols: classes, accumulate, label: 'linear db' }),
    ];
    const first = options.training ? await backward(false) : [];
    const later = options.training && gradAccum > 1 ? await backward(true) : [];
    return {
      batchSize: B,
      predictionsPerSample: 1,
      upload: (batch: Batch) => {
        if (!isFeatureBatch(batch)) throw new Error('the linear classifier reads float features');
        writeBuffer(ctx, x, batch.x);
        writeBuffer(ctx, labels, batch.y);
      },
      trainDispatches: (isFirst: boolean) => [...forward, ...(isFirst ? first : later)],
      evalDispatches: () => forward,
      clearStats: () => stats.clear(),
      readStats: (rows?: number) => stats.read(rows),
    };
  }
}

registerModel('linear', { schema: linearConfigSchema, create: (ctx, _config, data) => new LinearClassifier(ctx, data) });
