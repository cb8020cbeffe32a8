// The one interface the rest of the trainer knows a network by, and createModel, which builds the
// network a run's config names. The training loop, evaluation, optimizers, checkpoints and the
// coordinator see only a model's flat parameters, their layout (names, shapes, roles, offsets) and
// a graph of dispatches per batch size; a new model is one file (and its kernels) plus a line here.
import { z } from 'zod';
import type { GpuContext } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import type { Batch } from '../data/batch.js';
import type { ParameterLayout, TensorRole } from './layout.js';
import { mlpDefinition, type MlpConfig } from './mlp.js';
import { gptDefinition, type GptConfig } from './gpt.js';

/** What a model is built for, from the data set. */
export interface DataShape {
  /** Values per sample: float features, or token positions. */
  features: number;
  /** Values a label takes: classes, or the vocabulary's size. */
  classes: number;
}

export interface Model {
  /** The config's `model.kind`. */
  readonly kind: string;
  /** For people, e.g. "MLP 784-256-10". */
  readonly description: string;
  readonly layout: ParameterLayout;
  /** Flat buffers of `layout.totalFloats` floats. */
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
  /** The roles weight decay applies to (nanoGPT: 2-D weights and embeddings; PyTorch's default: all). */
  readonly weightDecayRoles: readonly TensorRole[];
  /** The flat parameters a run starts from; every rank draws the same for the same seed. */
  initialParameters(seed: number): Float32Array;
  setParameters(flat: Float32Array): void;
  /** Reads the flat parameters back (stalls until the GPU is done). */
  getParameters(): Promise<Float32Array>;
  /** Buffers and dispatches for batches of `batchSize` rows; build one per batch size in use. */
  graph(batchSize: number, gradAccum: number, options?: { training: boolean }): Promise<ModelGraph>;
}

/**
 * A model's dispatches for one batch size. A step uploads a batch and records
 * `trainDispatches(first)` (forward, loss and backward: `first` overwrites the gradients, later
 * micro-batches add to them in-kernel, so the loss is scaled by 1 / (batch × gradAccum)); the loss
 * kernel also sums each row's loss and correct predictions on the GPU until `clearStats`.
 */
export interface ModelGraph {
  readonly batchSize: number;
  /** Targets scored per sample: 1 for a classifier, the sequence's positions for a language model. */
  readonly predictionsPerSample: number;
  upload(batch: Batch): void;
  trainDispatches(first: boolean): Dispatch[];
  evalDispatches(): Dispatch[];
  clearStats(): void;
  /** Sums over the first `rows` rows (default all) since the last clearStats; stalls on the GPU. */
  readStats(rows?: number): Promise<{ lossSum: number; correct: number }>;
}

/**
 * Each model's config by kind. A model defined elsewhere (a test's, say) adds its own with
 * `declare module '.../nn/model.js' { interface ModelConfigs { linear: LinearConfig } }`.
 */
export interface ModelConfigs {
  mlp: MlpConfig;
  gpt: GptConfig;
}
export type ModelKind = keyof ModelConfigs;
export type ModelConfig = ModelConfigs[ModelKind];

export interface ModelDefinition<K extends ModelKind> {
  /**
   * A strict z.object whose `kind` is z.literal(K) and whose output is ModelConfigs[K]: one option of
   * the config's discriminated union (registerModel checks the literal).
   */
  schema: z.ZodDiscriminatedUnionOption<'kind'>;
  create(ctx: GpuContext, config: ModelConfigs[K], data: DataShape): Model | Promise<Model>;
  /** Keys a checkpoint's `__metadata__` carries for other programs (nanoGPT's n_layer, …), from the config and the saved layout. */
  checkpointMetadata?(config: ModelConfigs[K], layout: ParameterLayout): Record<string, string>;
  /**
   * Training settings (keys of the run's config, as flags give them) this model's runs default to
   * when the run leaves them out: nanoGPT's recipe for the GPT. `given` is the run's raw config.
   */
  trainingDefaults?(given: Readonly<Record<string, unknown>>): Record<string, unknown>;
}

export const DEFAULT_MODEL: ModelKind = 'mlp';

const definitions = new Map<string, ModelDefinition<ModelKind>>([
  ['mlp', mlpDefinition as ModelDefinition<ModelKind>],
  ['gpt', gptDefinition as ModelDefinition<ModelKind>],
]);
let unionSchema: z.ZodType<ModelConfig, z.ZodTypeDef, unknown> | undefined;

/** The model's own checkpoint metadata (ModelDefinition.checkpointMetadata) for a run's config, or none. */
export function modelCheckpointMetadata(config: unknown, layout: ParameterLayout): Record<string, string> {
  const model = (config as { model?: { kind?: unknown } } | undefined)?.model;
  const definition = typeof model?.kind === 'string' ? definitions.get(model.kind) : undefined;
  return definition?.checkpointMetadata?.(model as ModelConfig, layout) ?? {};
}

/** The training defaults of the model a raw (unvalidated) config names, or none. */
export function modelTrainingDefaults(raw: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const kind = (raw.model as { kind?: unknown } | undefined)?.kind;
  const definition = typeof kind === 'string' ? definitions.get(kind) : undefined;
  return definition?.trainingDefaults?.(raw) ?? {};
}

/**
 * Makes a model defined outside src/ (a test's, a user's) known to createModel and to the config
 * schema, in this process. A worker process must register it too before it parses its config.
 */
export function registerModel<K extends ModelKind>(kind: K, definition: ModelDefinition<K>): void {
  if (definitions.has(kind)) throw new Error(`model "${kind}" is already registered; give the new model another kind`);
  const literal = definition.schema.shape.kind;
  if (!(literal instanceof z.ZodLiteral) || literal.value !== kind) {
    throw new Error(`model "${kind}": its config schema's kind must be z.literal('${kind}')`);
  }
  definitions.set(kind, definition);
  unionSchema = undefined;
}

export function modelKinds(): string[] {
  return [...definitions.keys()];
}

/** The config's `model` field: a zod discriminated union on `kind` of every registered model's schema. */
export function modelConfigSchema(): z.ZodType<ModelConfig, z.ZodTypeDef, unknown> {
  if (!unionSchema) {
    const [first, ...rest] = [...definitions.values()].map((d) => d.schema);
    unionSchema = z.discriminatedUnion('kind', [first!, ...rest]) as unknown as z.ZodType<ModelConfig, z.ZodTypeDef, unknown>;
  }
  return unionSchema;
}

/** Builds the model a config names, sized for the data (its parameters are not initialised yet). */
export async function createModel(ctx: GpuContext, config: ModelConfig, data: DataShape): Promise<Model> {
  const definition = definitions.get(config.kind);
  if (!definition) throw new Error(`no model "${config.kind}" (known: ${modelKinds().join(', ')}); register it with registerModel before creating it`);
  return definition.create(ctx, config, data);
}
