// nanoGPT's GPT (model.py, no dropout) behind the Model interface, for byte-level language
// modelling: token + position embedding, n_layer pre-LayerNorm blocks (causal self-attention, then
// an exact-GELU MLP, each added to the residual stream), a final LayerNorm and a head tied to the
// token embedding. The flat layout carries nanoGPT's names and shapes, so a checkpoint loads into
// nanoGPT's GPT; weight decay falls on 2-D tensors only, as nanoGPT's configure_optimizers does.
import { z } from 'zod';
import type { GpuContext } from '../gpu/device.js';
import { createStorage, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch, TensorRef } from '../gpu/dispatch.js';
import { createRng } from '../data/prng.js';
import { isFeatureBatch, type Batch } from '../data/batch.js';
import { prepareEmbeddingBackward, prepareEmbeddingForward } from '../kernels/embedding.js';
import { prepareLayerNormBackward, prepareLayerNormForward } from '../kernels/layernorm.js';
import { prepareMatmul } from '../kernels/matmul.js';
import { attentionVariantFor, prepareAttentionBackward, prepareAttentionForward } from '../kernels/attention.js';
import { prepareResidualAdd } from '../kernels/residual.js';
import { prepareGeluErfBackward, prepareGeluErfForward } from '../kernels/gelu-erf.js';
import { prepareBiasGrad } from '../kernels/bias-grad.js';
import { prepareVocabCrossEntropy } from '../kernels/vocab-cross-entropy.js';
import { prepareTokenStats } from '../kernels/token-stats.js';
import { FlatParameters } from './flat-parameters.js';
import { buildLayout, type ParameterLayout, type TensorRole, type TensorSpec } from './layout.js';
import { LossStats } from './loss-stats.js';
import type { DataShape, Model, ModelDefinition, ModelGraph } from './model.js';

const size = (flag: string, max: number) => z.coerce.number().refine((n) => Number.isInteger(n) && n >= 1 && n <= max, {
  message: `${flag} must be a whole number from 1 to ${max}`,
});

/** The config's `model` field for `--model gpt`; the defaults are nanoGPT's CPU "baby" recipe. */
export const gptConfigSchema = z.object({
  kind: z.literal('gpt'),
  nLayer: size('--n-layer', 256).default(4),
  nHead: size('--n-head', 1024).default(4),
  nEmbd: size('--n-embd', 65536).default(128),
  blockSize: size('--block-size', 65536).default(64),
}).strict();

export type GptConfig = z.infer<typeof gptConfigSchema>;

/** One GPT's sizes: the config's plus the vocabulary, from the data. */
export interface GptOptions {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

/** nanoGPT's named_parameters() order and shapes; lm_head.weight is wte (tied) and not stored. */
export function gptLayout(o: GptOptions): ParameterLayout {
  const C = o.nEmbd;
  const tensors: TensorSpec[] = [
    { name: 'transformer.wte.weight', shape: [o.vocabSize, C], role: 'embedding' },
    { name: 'transformer.wpe.weight', shape: [o.blockSize, C], role: 'embedding' },
  ];
  const linear = (name: string, out: number, inputs: number) => [
    { name: `${name}.weight`, shape: [out, inputs], role: 'weight' as const },
    { name: `${name}.bias`, shape: [out], role: 'bias' as const },
  ];
  const norm = (name: string) => [
    { name: `${name}.weight`, shape: [C], role: 'norm-weight' as const },
    { name: `${name}.bias`, shape: [C], role: 'norm-bias' as const },
  ];
  for (let l = 0; l < o.nLayer; l++) {
    const h = `transformer.h.${l}`;
    tensors.push(
      ...norm(`${h}.ln_1`), ...linear(`${h}.attn.c_attn`, 3 * C, C), ...linear(`${h}.attn.c_proj`, C, C),
      ...norm(`${h}.ln_2`), ...linear(`${h}.mlp.c_fc`, 4 * C, C), ...linear(`${h}.mlp.c_proj`, C, 4 * C),
    );
  }
  tensors.push(...norm('transformer.ln_f'));
  return buildLayout(tensors);
}

/**
 * nanoGPT's _init_weights and its c_proj rule: weights and embeddings N(0, 0.02²), the residual
 * projections (attn.c_proj, mlp.c_proj) N(0, (0.02/√(2·n_layer))²), biases 0, LayerNorm weights 1.
 * One generator draws in layout order; constants draw nothing.
 */
export function gptInitialParameters(layout: ParameterLayout, nLayer: number, seed: number): Float32Array {
  const params = new Float32Array(layout.totalFloats);
  const rng = createRng(seed);
  for (const t of layout.tensors) {
    const values = params.subarray(t.offset, t.offset + t.size);
    if (t.role === 'norm-weight') values.fill(1);
    else if (t.role === 'bias' || t.role === 'norm-bias') values.fill(0);
    else {
      const std = t.name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * nLayer) : 0.02;
      for (let i = 0; i < t.size; i++) values[i] = std * rng.normal();
    }
  }
  return params;
}

/**
 * nanoGPT's training recipe for its CPU "baby" model (config/train_shakespeare_char.py with the
 * README's CPU overrides): batch 12, AdamW lr 1e-3, betas 0.9/0.99, weight decay 0.1 on 2-D tensors,
 * gradients clipped to norm 1, 100 warmup steps, then cosine decay to lr/10 over 2,000 iterations.
 */
export function gptTrainingDefaults(given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const lr = Number(given.lr ?? 1e-3);
  const defaults: Record<string, unknown> = {
    batchSize: 12, lr: 1e-3, optimizer: 'adamw', beta1: 0.9, beta2: 0.99, weightDecay: 0.1, gradClip: 1,
    schedule: 'cosine', warmupSteps: 100, evalEvery: 250,
    // nanoGPT's min_lr is learning_rate/10 (an unreadable --lr is reported as such, not twice).
    minLr: Number.isFinite(lr) ? lr / 10 : undefined,
  };
  // --epochs alone sets the run's length; --max-steps would override it.
  if (given.epochs === undefined) defaults.maxSteps = 2000;
  return defaults;
}

export const gptDefinition: ModelDefinition<'gpt'> = {
  schema: gptConfigSchema,
  trainingDefaults: gptTrainingDefaults,
  // nanoGPT's GPTConfig fields, so a loader can build the model before reading a tensor; the vocabulary is wte's rows.
  checkpointMetadata: (config: GptConfig, layout: ParameterLayout) => ({
    n_layer: String(config.nLayer), n_head: String(config.nHead), n_embd: String(config.nEmbd), block_size: String(config.blockSize),
    vocab_size: String(layout.tensors.find((t) => t.name === 'transformer.wte.weight')?.shape[0] ?? ''),
  }),
  create: (ctx: GpuContext, config: GptConfig, data: DataShape) => {
    if (config.nEmbd % config.nHead !== 0) {
      throw new Error(`--model gpt: --n-embd must be a multiple of --n-head, each head being n_embd/n_head wide (got --n-embd ${config.nEmbd} --n-head ${config.nHead})`);
    }
    if (data.features !== config.blockSize) {
      throw new Error(`--model gpt: the data gives ${data.features} positions per sample, the model's block size is ${config.blockSize}; cut the text into windows of --block-size ${config.blockSize}`);
    }
    return new Gpt(ctx, { vocabSize: data.classes, blockSize: config.blockSize, nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd });
  },
};

export class Gpt extends FlatParameters implements Model {
  readonly kind = 'gpt';
  /** nanoGPT: decay every 2-D tensor (linear weights and embeddings), never biases or LayerNorms. */
  readonly weightDecayRoles: readonly TensorRole[] = ['weight', 'embedding'];

  constructor(ctx: GpuContext, readonly options: GptOptions) {
    for (const key of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new RangeError(`GPT: ${key} must be a whole number >= 1 (got ${options[key]})`);
    }
    if (options.nEmbd % options.nHead !== 0) {
      throw new RangeError(`GPT: n_embd ${options.nEmbd} must be a multiple of n_head ${options.nHead}`);
    }
    super(ctx, gptLayout(options));
  }

  get description(): string {
    const o = this.options;
    // The parameter count is the reporter's to print, beside this (as for the MLP).
    return `GPT ${o.nLayer} layers, ${o.nHead} heads, ${o.nEmbd} wide, block ${o.blockSize}, vocab ${o.vocabSize}`;
  }

  initialParameters(seed: number): Float32Array {
    return gptInitialParameters(this.layout, this.options.nLayer, seed);
  }

  async graph(batchSize: number, gradAccum: number, options: { training: boolean } = { training: true }): Promise<GptGraph> {
    return GptGraph.create(this, batchSize, gradAccum, options.training);
  }
}

/** One block's activations, as the forward writes them and the backward reads them. */
interface BlockActivations {
  ln1: GPUBuffer; ln1Mean: GPUBuffer; ln1Rstd: GPUBuffer;
  qkv: GPUBuffer; atty: GPUBuffer; lse: GPUBuffer; att: GPUBuffer | undefined; attnOut: GPUBuffer; res2: GPUBuffer;
  ln2: GPUBuffer; ln2Mean: GPUBuffer; ln2Rstd: GPUBuffer;
  fch: GPUBuffer; fchGelu: GPUBuffer; mlpOut: GPUBuffer; res3: GPUBuffer;
}

/**
 * Activations and prepared dispatches for batches of `batchSize` sequences of block_size bytes.
 * `trainDispatches(first)`: forward, cross-entropy at every position (scaled by
 * 1/(batch·T·gradAccum)) and the whole backward; `first` overwrites the gradients, later
 * micro-batches add to them in-kernel.
 */
export class GptGraph implements ModelGraph {
  /** A language model scores every position's next byte. */
  readonly predictionsPerSample: number;
  private constructor(
    readonly model: Gpt,
    readonly batchSize: number,
    /** [batch, T] u32 input ids and next-byte targets. */
    readonly tokens: GPUBuffer,
    readonly targets: GPUBuffer,
    /** [batch·T, vocab]: the last forward's logits (tests and sampling read them). */
    readonly logits: GPUBuffer,
    readonly stats: LossStats,
    private readonly forward: Dispatch[],
    private readonly backwardFirst: Dispatch[],
    private readonly backwardAccumulate: Dispatch[],
  ) {
    this.predictionsPerSample = model.options.blockSize;
  }

  static async create(model: Gpt, batchSize: number, gradAccum: number, training: boolean): Promise<GptGraph> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`GPT graph: batch size must be a whole number >= 1 (got ${batchSize})`);
    if (!Number.isInteger(gradAccum) || gradAccum < 1) throw new RangeError(`GPT graph: gradAccum must be a whole number >= 1 (got ${gradAccum})`);
    const { ctx } = model;
    const { vocabSize: V, blockSize: T, nLayer: L, nHead, nEmbd: C } = model.options;
    const B = batchSize;
    const BT = B * T;
    const f32 = (label: string, n: number) => createStorage(ctx, `${label} [${n}]`, n * 4);
    const P = (name: string): TensorRef => model.slice(model.params, name);
    const G = (name: string): TensorRef => model.slice(model.grads, name);

    const tokens = createStorage(ctx, `tokens [${B}×${T}]`, BT * 4);
    const targets = createStorage(ctx, `targets [${B}×${T}]`, BT * 4);
    const x0 = f32('embedding', BT * C);
    // Attention as batched per-head products saves each layer's [B, nHead, T, T] probabilities;
    // long blocks take the fused kernel, which saves only the softmax statistics.
    const attention = { batch: B, T, C, nHead, variant: attentionVariantFor({ batch: B, T, C, nHead }) };
    const blocks: BlockActivations[] = [];
    for (let l = 0; l < L; l++) {
      const a = (what: string, n: number) => f32(`h.${l} ${what}`, n);
      blocks.push({
        ln1: a('ln_1', BT * C), ln1Mean: a('ln_1 mean', BT), ln1Rstd: a('ln_1 rstd', BT),
        qkv: a('qkv', BT * 3 * C), atty: a('attention y', BT * C), lse: a('attention lse', B * nHead * T),
        att: attention.variant === 'batched' ? a('attention probabilities', B * nHead * T * T) : undefined,
        attnOut: a('attn.c_proj out', BT * C), res2: a('residual 2', BT * C),
        ln2: a('ln_2', BT * C), ln2Mean: a('ln_2 mean', BT), ln2Rstd: a('ln_2 rstd', BT),
        fch: a('c_fc out', BT * 4 * C), fchGelu: a('gelu out', BT * 4 * C), mlpOut: a('mlp.c_proj out', BT * C), res3: a('residual 3', BT * C),
      });
    }
    const blockInput = (l: number): GPUBuffer => (l === 0 ? x0 : blocks[l - 1]!.res3);
    const last = blockInput(L);
    const lnf = f32('ln_f', BT * C);
    const lnfMean = f32('ln_f mean', BT);
    const lnfRstd = f32('ln_f rstd', BT);
    const logits = f32('logits', BT * V);
    const dlogits = f32('dlogits', BT * V);
    const losses = f32('position losses', BT);
    const stats = new LossStats(ctx, B);

    // Forward: y = x·Wᵀ + b for every nn.Linear ([out, in] weights, transB).
    const linear = (name: string, x: GPUBuffer, y: GPUBuffer, inputs: number, outputs: number) => prepareMatmul(ctx, {
      a: x, b: P(`${name}.weight`), bias: P(`${name}.bias`), c: y, M: BT, N: outputs, K: inputs, transB: true, label: `${name} forward`,
    });
    const forward: Dispatch[] = [await prepareEmbeddingForward(ctx, {
      idx: tokens, wte: P('transformer.wte.weight'), wpe: P('transformer.wpe.weight'), x: x0, batch: B, seqLen: T, channels: C, vocab: V,
    })];
    for (let l = 0; l < L; l++) {
      const h = `transformer.h.${l}`;
      const a = blocks[l]!;
      const x = blockInput(l);
      forward.push(
        await prepareLayerNormForward(ctx, { x, weight: P(`${h}.ln_1.weight`), bias: P(`${h}.ln_1.bias`), y: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, rows: BT, cols: C, label: `${h}.ln_1` }),
        await linear(`${h}.attn.c_attn`, a.ln1, a.qkv, C, 3 * C),
        ...await prepareAttentionForward(ctx, { ...attention, qkv: a.qkv, y: a.atty, lse: a.lse, att: a.att, label: `${h}.attn` }),
        await linear(`${h}.attn.c_proj`, a.atty, a.attnOut, C, C),
        await prepareResidualAdd(ctx, { a: x, b: a.attnOut, y: a.res2, count: BT * C, label: `${h} residual 1` }),
        await prepareLayerNormForward(ctx, { x: a.res2, weight: P(`${h}.ln_2.weight`), bias: P(`${h}.ln_2.bias`), y: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, rows: BT, cols: C, label: `${h}.ln_2` }),
        await linear(`${h}.mlp.c_fc`, a.ln2, a.fch, C, 4 * C),
        await prepareGeluErfForward(ctx, { z: a.fch, h: a.fchGelu, count: BT * 4 * C, label: `${h}.mlp.gelu` }),
        await linear(`${h}.mlp.c_proj`, a.fchGelu, a.mlpOut, 4 * C, C),
        await prepareResidualAdd(ctx, { a: a.res2, b: a.mlpOut, y: a.res3, count: BT * C, label: `${h} residual 2` }),
      );
    }
    forward.push(
      await prepareLayerNormForward(ctx, { x: last, weight: P('transformer.ln_f.weight'), bias: P('transformer.ln_f.bias'), y: lnf, mean: lnfMean, rstd: lnfRstd, rows: BT, cols: C, label: 'transformer.ln_f' }),
      // The head tied to wte: logits = ln_f(x) · wteᵀ.
      await prepareMatmul(ctx, { a: lnf, b: P('transformer.wte.weight'), c: logits, M: BT, N: V, K: C, transB: true, label: 'lm_head (wte) forward' }),
      await prepareVocabCrossEntropy(ctx, { logits, targets, dlogits, losses, rows: BT, vocab: V, gradScale: 1 / (BT * gradAccum), accumulateLoss: false, label: 'cross-entropy' }),
      // Stats always add; the trainer clears them after reading.
      await prepareTokenStats(ctx, { logits, targets, losses, stats: stats.buffer, rows: B, positions: T, vocab: V, label: 'loss and accuracy sums' }),
    );

    // The residual stream's gradient lives in one buffer, `dres`: each LayerNorm backward adds its
    // input gradient to it in place (the skip connection passes the rest through unchanged), so
    // the residual adds need no backward dispatch of their own.
    // An evaluation graph allocates none of the backward's buffers.
    const grad = (label: string, n: number) => (training ? f32(label, n) : f32(label, 1));
    const dres = grad('residual stream gradient', BT * C);
    const dlnf = grad('d ln_f', BT * C);
    const dProj = grad('d attention y / d gelu out', BT * 4 * C); // reused: datty [BT, C], then dgelu [BT, 4C]
    const dfch = grad('d c_fc out', BT * 4 * C);
    const dqkv = grad('d qkv', BT * 3 * C);
    const dln = grad('d ln_1 / d ln_2', BT * C);
    const backward = async (accumulate: boolean): Promise<Dispatch[]> => {
      const tag = accumulate ? 'accumulate' : 'first';
      const out: Dispatch[] = [];
      // d(linear): dW (+)= dyᵀ·x, db (+)= Σ dy, dx = dy·W.
      const linearBackward = async (name: string, x: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, inputs: number, outputs: number) => [
        await prepareMatmul(ctx, { a: dy, b: x, c: G(`${name}.weight`), M: outputs, N: inputs, K: BT, transA: true, accumulate, label: `${name} dW ${tag}` }),
        await prepareBiasGrad(ctx, { dy, db: G(`${name}.bias`), rows: BT, cols: outputs, accumulate, label: `${name} db ${tag}` }),
        await prepareMatmul(ctx, { a: dy, b: P(`${name}.weight`), c: dx, M: BT, N: inputs, K: outputs, label: `${name} dx ${tag}` }),
      ];
      const normBackward = async (name: string, x: GPUBuffer, mean: GPUBuffer, rstd: GPUBuffer, dy: GPUBuffer, accumulateDx: boolean) =>
        prepareLayerNormBackward(ctx, {
          x, weight: P(`${name}.weight`), mean, rstd, dy, dx: dres, dweight: G(`${name}.weight`), dbias: G(`${name}.bias`),
          rows: BT, cols: C, accumulateDx, accumulateParams: accumulate, label: `${name} backward ${tag}`,
        });
      // The tied head: its weight gradient lands in dwte first; the embedding's adds to it below.
      out.push(
        await prepareMatmul(ctx, { a: dlogits, b: lnf, c: G('transformer.wte.weight'), M: V, N: C, K: BT, transA: true, accumulate, label: `lm_head (wte) dW ${tag}` }),
        await prepareMatmul(ctx, { a: dlogits, b: P('transformer.wte.weight'), c: dlnf, M: BT, N: C, K: V, label: `lm_head dx ${tag}` }),
        ...await normBackward('transformer.ln_f', last, lnfMean, lnfRstd, dlnf, false),
      );
      for (let l = L - 1; l >= 0; l--) {
        const h = `transformer.h.${l}`;
        const a = blocks[l]!;
        out.push(
          ...await linearBackward(`${h}.mlp.c_proj`, a.fchGelu, dres, dProj, 4 * C, C),
          await prepareGeluErfBackward(ctx, { z: a.fch, dh: dProj, dz: dfch, count: BT * 4 * C, accumulate: false, label: `${h}.mlp.gelu backward ${tag}` }),
          ...await linearBackward(`${h}.mlp.c_fc`, a.ln2, dfch, dln, C, 4 * C),
          ...await normBackward(`${h}.ln_2`, a.res2, a.ln2Mean, a.ln2Rstd, dln, true),
          ...await linearBackward(`${h}.attn.c_proj`, a.atty, dres, dProj, C, C),
          ...await prepareAttentionBackward(ctx, { ...attention, qkv: a.qkv, y: a.atty, lse: a.lse, att: a.att, dy: dProj, dqkv, accumulate: false, label: `${h}.attn backward ${tag}` }),
          ...await linearBackward(`${h}.attn.c_attn`, a.ln1, dqkv, dln, C, 3 * C),
          ...await normBackward(`${h}.ln_1`, blockInput(l), a.ln1Mean, a.ln1Rstd, dln, true),
        );
      }
      out.push(...await prepareEmbeddingBackward(ctx, {
        idx: tokens, dx: dres, dwte: G('transformer.wte.weight'), dwpe: G('transformer.wpe.weight'), batch: B, seqLen: T, channels: C, vocab: V,
        accumulateWte: true, accumulateWpe: accumulate, label: `embedding backward ${tag}`,
      }));
      return out;
    };
    return new GptGraph(
      model, B, tokens, targets, logits, stats, forward,
      training ? await backward(false) : [],
      training && gradAccum > 1 ? await backward(true) : [],
    );
  }

  upload(batch: Batch): void {
    const { description, options: { blockSize: T, vocabSize: V } } = this.model;
    if (isFeatureBatch(batch)) {
      throw new Error(`${description} reads token ids ([rows, ${T}] inputs and next-token targets), but this batch holds float features; give it a text data set`);
    }
    const n = this.batchSize * T;
    if (batch.tokens.length !== n || batch.targets.length !== n) {
      throw new RangeError(`${description}: a batch of ${this.batchSize} rows needs ${this.batchSize} × ${T} = ${n} token ids and as many targets (got ${batch.tokens.length} and ${batch.targets.length})`);
    }
    for (const [what, ids] of [['token', batch.tokens], ['target', batch.targets]] as const) {
      for (let i = 0; i < n; i++) {
        if (ids[i]! >= V) throw new RangeError(`${description}: ${what} [${i}] is ${ids[i]}, not an id below the vocabulary's ${V}`);
      }
    }
    writeBuffer(this.model.ctx, this.tokens, batch.tokens);
    writeBuffer(this.model.ctx, this.targets, batch.targets);
  }

  trainDispatches(first: boolean): Dispatch[] {
    if (this.backwardFirst.length === 0) throw new Error('this graph was built for evaluation only');
    if (!first && this.backwardAccumulate.length === 0) {
      throw new Error('this graph was built for gradAccum = 1; build it with the real accumulation count');
    }
    return [...this.forward, ...(first ? this.backwardFirst : this.backwardAccumulate)];
  }

  evalDispatches(): Dispatch[] {
    return this.forward;
  }

  clearStats(): void {
    this.stats.clear();
  }

  /** Loss sum and correct next-token predictions over the first `rows` sequences' rows·T targets. */
  readStats(rows = this.batchSize): Promise<{ lossSum: number; correct: number }> {
    return this.stats.read(rows);
  }
}
