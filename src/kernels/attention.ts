// Causal multi-head self-attention from c_attn's output qkv [B, T, 3C], forward and backward, as
// nanoGPT computes it. See shaders/attention.wgsl for the math, layouts and work split.
import code from '../../shaders/attention.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createStorage } from '../gpu/buffers.js';
import { bindingResource, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { dummy } from './matmul.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'attention.wgsl', code };
const FLAG_ACCUMULATE = 1;
const FLAG_ATT = 2;

export interface AttentionShape {
  batch: number;
  /** Sequence length (block size or shorter). */
  T: number;
  /** Model width; a multiple of nHead. */
  C: number;
  nHead: number;
}

export interface AttentionForwardArgs extends AttentionShape {
  /** [B, T, 3C]: q | k | v per position (c_attn's output). */
  qkv: TensorRef;
  /** [B, T, C], overwritten: the heads' outputs side by side (c_proj's input). */
  y: TensorRef;
  /** [B, nHead, T], overwritten: each row's log Σ exp(score), what the backward recomputes P from. */
  lse: TensorRef;
  /**
   * [B, nHead, T, T], overwritten with the attention matrix P (zeros above the diagonal) when given.
   * Pass the same buffer to the backward, which then reads P instead of recomputing it.
   */
  att?: TensorRef | undefined;
  label?: string;
}

export interface AttentionBackwardArgs extends AttentionShape {
  qkv: TensorRef;
  /** The forward's y, lse and (if it saved one) att for the same qkv. */
  y: TensorRef;
  lse: TensorRef;
  att?: TensorRef | undefined;
  /** [B, T, C]: the gradient of the loss with respect to y. */
  dy: TensorRef;
  /** [B, T, 3C]: gradients of q | k | v. */
  dqkv: TensorRef;
  /** Add into dqkv instead of overwriting it (gradient accumulation over micro-batches). */
  accumulate: boolean;
  label?: string;
}

/** Invocations per workgroup: lavapipe runs SIMD-8 lanes; real GPUs want more in flight. */
function workgroupSize(ctx: GpuContext): number {
  return ctx.isCpuAdapter ? 8 : 64;
}

function validateShape(name: string, s: AttentionShape): number {
  assertWholeNumber(name, 'batch', s.batch, 1);
  assertWholeNumber(name, 'T', s.T, 1);
  assertWholeNumber(name, 'C', s.C, 1);
  assertWholeNumber(name, 'nHead', s.nHead, 1);
  if (s.C % s.nHead !== 0) {
    throw new RangeError(`${name}: C must be a multiple of nHead (got C=${s.C} nHead=${s.nHead}); each head is C/nHead wide`);
  }
  return s.C / s.nHead;
}

function shapeText(s: AttentionShape): string {
  return `batch=${s.batch} T=${s.T} C=${s.C} nHead=${s.nHead}`;
}

function params(ctx: GpuContext, name: string, s: AttentionShape, flags: number): GPUBuffer {
  const hs = s.C / s.nHead;
  return uniformBuffer(ctx, `${name} params`, [
    { u32: s.batch }, { u32: s.T }, { u32: s.C }, { u32: s.nHead }, { u32: hs }, { u32: flags },
    { f32: 1 / Math.sqrt(hs) }, { u32: 0 },
  ]);
}

function bindAt(ctx: GpuContext, label: string, pipeline: GPUComputePipeline, refs: [number, TensorRef][]): GPUBindGroup {
  return ctx.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: refs.map(([binding, ref]) => ({ binding, resource: bindingResource(ref) })),
  });
}

function checkBuffers(name: string, s: AttentionShape, refs: Record<string, [TensorRef | undefined, number]>): void {
  for (const [what, [ref, elements]] of Object.entries(refs)) if (ref) assertHolds(name, what, ref, elements, shapeText(s));
}

export async function prepareAttentionForward(ctx: GpuContext, args: AttentionForwardArgs): Promise<Dispatch> {
  const name = args.label ?? 'attention_forward';
  validateShape(name, args);
  const { batch: B, T, C, nHead } = args;
  checkBuffers(name, args, {
    qkv: [args.qkv, B * T * 3 * C], y: [args.y, B * T * C], lse: [args.lse, B * nHead * T], att: [args.att, B * nHead * T * T],
  });
  const wg = workgroupSize(ctx);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'forward', constants: { WG: wg } });
  const uniform = params(ctx, name, args, args.att ? FLAG_ATT : 0);
  const bindGroup = bindAt(ctx, name, pipeline, [[0, uniform], [1, args.qkv], [2, args.y], [3, args.lse], [4, args.att ?? dummy(ctx)]]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(B * nHead * T, wg) };
}

/**
 * Two dispatches, to be encoded in this order (the second reads what the first writes): dq with
 * the per-row dy·y, then dk and dv. Allocates that [B, nHead, T] scratch buffer itself.
 */
export async function prepareAttentionBackward(ctx: GpuContext, args: AttentionBackwardArgs): Promise<[Dispatch, Dispatch]> {
  const name = args.label ?? 'attention_backward';
  validateShape(name, args);
  const { batch: B, T, C, nHead } = args;
  checkBuffers(name, args, {
    qkv: [args.qkv, B * T * 3 * C], y: [args.y, B * T * C], lse: [args.lse, B * nHead * T], att: [args.att, B * nHead * T * T],
    dy: [args.dy, B * T * C], dqkv: [args.dqkv, B * T * 3 * C],
  });
  const wg = workgroupSize(ctx);
  const [dqPipeline, dkdvPipeline] = await Promise.all([
    ctx.pipelines.get({ shader: SHADER, entry: 'backward_dq', constants: { WG: wg } }),
    ctx.pipelines.get({ shader: SHADER, entry: 'backward_dkdv', constants: { WG: wg } }),
  ]);
  const uniform = params(ctx, name, args, (args.accumulate ? FLAG_ACCUMULATE : 0) | (args.att ? FLAG_ATT : 0));
  const dyDotY = createStorage(ctx, `${name} dy·y`, B * nHead * T * 4);
  const att = args.att ?? dummy(ctx);
  const shared: [number, TensorRef][] = [[0, uniform], [1, args.qkv], [3, args.lse], [4, att], [5, args.dy], [6, args.dqkv], [7, dyDotY]];
  const workgroups = grid1d(B * nHead * T, wg);
  return [
    { label: `${name} dq`, pipeline: dqPipeline, bindGroup: bindAt(ctx, `${name} dq`, dqPipeline, [...shared, [2, args.y]]), workgroups },
    { label: `${name} dk dv`, pipeline: dkdvPipeline, bindGroup: bindAt(ctx, `${name} dk dv`, dkdvPipeline, shared), workgroups },
  ];
}
