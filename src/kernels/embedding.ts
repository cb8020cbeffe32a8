// Token + position embedding (nanoGPT's wte, wpe): forward, and a deterministic backward that
// needs no atomics although many positions share a vocabulary row. See shaders/embedding.wgsl.
import code from '../../shaders/embedding.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createStorage } from '../gpu/buffers.js';
import { createBindGroup, ceilDiv, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'embedding.wgsl', code };
const WORKGROUP = 64;
/** Columns per backward_wte invocation, the shader's COLS. */
const WTE_COLS = 4;

export interface EmbeddingShape {
  /** B: sequences in the batch. */
  batch: number;
  /** T: positions per sequence (at most the model's block size; wpe may hold more rows). */
  seqLen: number;
  /** C: embedding width. */
  channels: number;
  /** V: vocabulary size (256 for bytes). */
  vocab: number;
}

export interface EmbeddingForwardArgs extends EmbeddingShape {
  /** [B, T] u32 token ids; an id >= V makes that row of x NaN. */
  idx: TensorRef;
  /** [V, C]. */
  wte: TensorRef;
  /** [T, C] (or more rows: only the first T are read). */
  wpe: TensorRef;
  /** [B, T, C], overwritten. */
  x: TensorRef;
  label?: string;
}

export interface EmbeddingBackwardArgs extends EmbeddingShape {
  idx: TensorRef;
  /** [B, T, C]: the gradient of the loss with respect to x. */
  dx: TensorRef;
  /** [V, C]. */
  dwte: TensorRef;
  /** [T, C]; rows past T of a larger buffer are not touched. */
  dwpe: TensorRef;
  /**
   * Add into dwte instead of overwriting it: later micro-batches, and always when the tied output
   * head's weight gradient was written into dwte earlier in the same backward pass.
   */
  accumulateWte: boolean;
  /** Add into dwpe instead of overwriting it (micro-batches after the first). */
  accumulateWpe: boolean;
  label?: string;
}

function checkShape(name: string, s: EmbeddingShape): string {
  assertWholeNumber(name, 'batch', s.batch, 1);
  assertWholeNumber(name, 'seqLen', s.seqLen, 1);
  assertWholeNumber(name, 'channels', s.channels, 1);
  assertWholeNumber(name, 'vocab', s.vocab, 1);
  return `B=${s.batch} T=${s.seqLen} C=${s.channels} V=${s.vocab}`;
}

function params(ctx: GpuContext, name: string, s: EmbeddingShape, accumulate: boolean): GPUBuffer {
  return uniformBuffer(ctx, `${name} params`, [
    { u32: s.batch * s.seqLen }, { u32: s.seqLen }, { u32: s.channels }, { u32: s.vocab }, { u32: accumulate ? 1 : 0 },
  ]);
}

export async function prepareEmbeddingForward(ctx: GpuContext, args: EmbeddingForwardArgs): Promise<Dispatch> {
  const name = args.label ?? 'embedding_forward';
  const shape = checkShape(name, args);
  const { batch: B, seqLen: T, channels: C, vocab: V } = args;
  const need = (what: string, ref: TensorRef, elements: number, unit = 'floats') => assertHolds(name, what, ref, elements, shape, unit);
  need('idx', args.idx, B * T, 'u32 token ids');
  need('wte', args.wte, V * C);
  need('wpe', args.wpe, T * C);
  need('x', args.x, B * T * C);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'forward', constants: { WG: WORKGROUP } });
  const bindGroup = createBindGroup(ctx, name, pipeline, [params(ctx, name, args, false), args.idx, args.wte, args.wpe, args.x]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(B * T * C, WORKGROUP) };
}

/**
 * Three dispatches: the positions sorted by token (into scratch buffers this call allocates), dwte
 * from them, and dwpe. Encode them in this order, all three every backward pass.
 */
export async function prepareEmbeddingBackward(ctx: GpuContext, args: EmbeddingBackwardArgs): Promise<Dispatch[]> {
  const name = args.label ?? 'embedding_backward';
  const shape = checkShape(name, args);
  const { batch: B, seqLen: T, channels: C, vocab: V } = args;
  const need = (what: string, ref: TensorRef, elements: number, unit = 'floats') => assertHolds(name, what, ref, elements, shape, unit);
  need('idx', args.idx, B * T, 'u32 token ids');
  need('dx', args.dx, B * T * C);
  need('dwte', args.dwte, V * C);
  need('dwpe', args.dwpe, T * C);
  const [sort, wte, wpe] = await Promise.all([
    ctx.pipelines.get({ shader: SHADER, entry: 'token_rows', constants: { WG: WORKGROUP } }),
    ctx.pipelines.get({ shader: SHADER, entry: 'backward_wte', constants: { WG: WORKGROUP } }),
    ctx.pipelines.get({ shader: SHADER, entry: 'backward_wpe', constants: { WG: WORKGROUP } }),
  ]);
  const rows = createStorage(ctx, `${name} token rows`, 2 * V * 4);
  const order = createStorage(ctx, `${name} positions by token`, B * T * 4);
  return [
    {
      label: `${name} sort positions by token`,
      pipeline: sort,
      bindGroup: createBindGroup(ctx, `${name} sort`, sort, [params(ctx, `${name} sort`, args, false), args.idx, rows, order]),
      workgroups: grid1d(V, WORKGROUP),
    },
    {
      label: `${name} dwte`,
      pipeline: wte,
      bindGroup: createBindGroup(ctx, `${name} dwte`, wte, [params(ctx, `${name} dwte`, args, args.accumulateWte), order, args.dx, args.dwte, rows]),
      workgroups: grid1d(V * ceilDiv(C, WTE_COLS), WORKGROUP),
    },
    {
      label: `${name} dwpe`,
      pipeline: wpe,
      bindGroup: createBindGroup(ctx, `${name} dwpe`, wpe, [params(ctx, `${name} dwpe`, args, args.accumulateWpe), args.dx, args.dwpe]),
      workgroups: grid1d(T * C, WORKGROUP),
    },
  ];
}
