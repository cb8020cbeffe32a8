// Causal multi-head self-attention from c_attn's output qkv [B, T, 3C], forward and backward, as
// nanoGPT computes it. See shaders/attention.wgsl for the math, layouts and work split.
import code from '../../shaders/attention.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createStorage } from '../gpu/buffers.js';
import { bindingResource, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { dummy, prepareMatmul, type MatmulBatchOperand } from './matmul.js';
import { prepareCausalSoftmaxBackward, prepareCausalSoftmaxForward } from './softmax.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'attention.wgsl', code };
const FLAG_ACCUMULATE = 1;
const FLAG_ATT = 2;

/**
 * 'fused': shaders/attention.wgsl, one invocation per (sequence, head, row), online softmax.
 * 'batched': per-head batched matrix products (matmul.wgsl) around a causal softmax kernel
 * (softmax.wgsl): S = q·kᵀ, P = softmax(S/√hs), y = P·v; backward dP = dy·vᵀ, dv = Pᵀ·dy,
 * dS = P∘(dP − Σ P·dP)/√hs, dq = dS·k, dk = dSᵀ·q. It needs `att` (P is saved, not recomputed).
 */
export type AttentionVariant = 'fused' | 'batched';

/**
 * The faster form where it fits: 'batched' (3.7× less CPU than 'fused' at the baby GPT's shape on
 * lavapipe, bench/attention.ts) saves a [B, nHead, T, T] matrix per layer, so past `maxAttBytes`
 * of it (long blocks) the fused kernel, which keeps O(T) per row, takes over.
 */
export function attentionVariantFor(s: AttentionShape, maxAttBytes = 32 * 2 ** 20): AttentionVariant {
  return s.batch * s.nHead * s.T * s.T * 4 <= maxAttBytes ? 'batched' : 'fused';
}

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
   * Required by variant 'batched'.
   */
  att?: TensorRef | undefined;
  variant?: AttentionVariant;
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
  variant?: AttentionVariant;
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

export async function prepareAttentionForward(ctx: GpuContext, args: AttentionForwardArgs): Promise<Dispatch[]> {
  const name = args.label ?? 'attention_forward';
  validateShape(name, args);
  const { batch: B, T, C, nHead } = args;
  checkBuffers(name, args, {
    qkv: [args.qkv, B * T * 3 * C], y: [args.y, B * T * C], lse: [args.lse, B * nHead * T], att: [args.att, B * nHead * T * T],
  });
  if ((args.variant ?? 'fused') === 'batched') return batchedForward(ctx, { ...args, att: requireAtt(name, args.att) }, name);
  const wg = workgroupSize(ctx);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'forward', constants: { WG: wg } });
  const uniform = params(ctx, name, args, args.att ? FLAG_ATT : 0);
  const bindGroup = bindAt(ctx, name, pipeline, [[0, uniform], [1, args.qkv], [2, args.y], [3, args.lse], [4, args.att ?? dummy(ctx)]]);
  return [{ label: name, pipeline, bindGroup, workgroups: grid1d(B * nHead * T, wg) }];
}

/**
 * Dispatches to be encoded in this order (each reads what the one before writes). Fused: dq with
 * the per-row dy·y, then dk and dv. Batched: dv, dP, dS, dq, dk. Allocates its scratch buffer
 * itself ([B, nHead, T] for fused, [B, nHead, T, T] for batched).
 */
export async function prepareAttentionBackward(ctx: GpuContext, args: AttentionBackwardArgs): Promise<Dispatch[]> {
  const name = args.label ?? 'attention_backward';
  validateShape(name, args);
  const { batch: B, T, C, nHead } = args;
  checkBuffers(name, args, {
    qkv: [args.qkv, B * T * 3 * C], y: [args.y, B * T * C], lse: [args.lse, B * nHead * T], att: [args.att, B * nHead * T * T],
    dy: [args.dy, B * T * C], dqkv: [args.dqkv, B * T * 3 * C],
  });
  if ((args.variant ?? 'fused') === 'batched') return batchedBackward(ctx, { ...args, att: requireAtt(name, args.att) }, name);
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

function requireAtt(name: string, att: TensorRef | undefined): TensorRef {
  if (!att) throw new Error(`${name}: variant 'batched' saves the attention matrix; give an att buffer of [batch, nHead, T, T]`);
  return att;
}

/**
 * Where head h of sequence b starts, batch z = b·nHead + h: in qkv [B, T, 3C] (part 0 q, 1 k, 2 v),
 * in a [B, T, C] tensor (y, dy), and in a [B, nHead, T, T] one (att, scores).
 */
function heads(s: AttentionShape) {
  const hs = s.C / s.nHead;
  return {
    qkv: (part: number): MatmulBatchOperand => ({ base: part * s.C, outer: s.T * 3 * s.C, innerStride: hs }),
    btc: { base: 0, outer: s.T * s.C, innerStride: hs } satisfies MatmulBatchOperand,
    tt: { base: 0, outer: s.nHead * s.T * s.T, innerStride: s.T * s.T } satisfies MatmulBatchOperand,
  };
}

async function batchedForward(ctx: GpuContext, args: AttentionForwardArgs & { att: TensorRef }, name: string): Promise<Dispatch[]> {
  const { batch: B, T, C, nHead } = args;
  const hs = C / nHead;
  const h = heads(args);
  const count = B * nHead;
  return [
    // S = q·kᵀ: M = T queries, N = T keys, K = hs; k is stored [T, 3C] rows, so transB.
    await prepareMatmul(ctx, {
      a: args.qkv, b: args.qkv, c: args.att, M: T, N: T, K: hs, transB: true, lda: 3 * C, ldb: 3 * C, ldc: T,
      batch: { count, inner: nHead, a: h.qkv(0), b: h.qkv(1), c: h.tt }, label: `${name} scores`,
    }),
    await prepareCausalSoftmaxForward(ctx, { matrices: count, T, scale: 1 / Math.sqrt(hs), x: args.att, lse: args.lse, label: `${name} softmax` }),
    // y = P·v: M = T, N = hs, K = T.
    await prepareMatmul(ctx, {
      a: args.att, b: args.qkv, c: args.y, M: T, N: hs, K: T, lda: T, ldb: 3 * C, ldc: C,
      batch: { count, inner: nHead, a: h.tt, b: h.qkv(2), c: h.btc }, label: `${name} P·v`,
    }),
  ];
}

async function batchedBackward(ctx: GpuContext, args: AttentionBackwardArgs & { att: TensorRef }, name: string): Promise<Dispatch[]> {
  const { batch: B, T, C, nHead } = args;
  const hs = C / nHead;
  const h = heads(args);
  const count = B * nHead;
  const accumulate = args.accumulate;
  const dS = createStorage(ctx, `${name} dP / dS`, count * T * T * 4);
  const batch = (a: MatmulBatchOperand, b: MatmulBatchOperand, c: MatmulBatchOperand) => ({ count, inner: nHead, a, b, c });
  return [
    // dv = Pᵀ·dy: P is stored [t, s], op(A)(s, t) = P[t, s].
    await prepareMatmul(ctx, {
      a: args.att, b: args.dy, c: args.dqkv, M: T, N: hs, K: T, transA: true, lda: T, ldb: C, ldc: 3 * C, accumulate,
      batch: batch(h.tt, h.btc, h.qkv(2)), label: `${name} dv`,
    }),
    // dP = dy·vᵀ.
    await prepareMatmul(ctx, {
      a: args.dy, b: args.qkv, c: dS, M: T, N: T, K: hs, transB: true, lda: C, ldb: 3 * C, ldc: T,
      batch: batch(h.btc, h.qkv(2), h.tt), label: `${name} dP`,
    }),
    await prepareCausalSoftmaxBackward(ctx, { matrices: count, T, scale: 1 / Math.sqrt(hs), x: dS, att: args.att, label: `${name} softmax backward` }),
    // dq = dS·k.
    await prepareMatmul(ctx, {
      a: dS, b: args.qkv, c: args.dqkv, M: T, N: hs, K: T, lda: T, ldb: 3 * C, ldc: 3 * C, accumulate,
      batch: batch(h.tt, h.qkv(1), h.qkv(0)), label: `${name} dq`,
    }),
    // dk = dSᵀ·q.
    await prepareMatmul(ctx, {
      a: dS, b: args.qkv, c: args.dqkv, M: T, N: hs, K: T, transA: true, lda: T, ldb: 3 * C, ldc: 3 * C, accumulate,
      batch: batch(h.tt, h.qkv(0), h.qkv(1)), label: `${name} dk`,
    }),
  ];
}
