// A dispatch prepared once (pipeline, bind group, workgroup counts) and encoded many times:
// the training loop records its whole step into one command encoder from these.
import type { GpuContext } from './device.js';
import { withDeferredErrorScope } from './errors.js';

/** A whole buffer or a byte range of one (a tensor inside a flat parameter buffer). */
export type TensorRef = GPUBuffer | BufferSlice;

export interface BufferSlice {
  buffer: GPUBuffer;
  /** Bytes; a multiple of 256 (minStorageBufferOffsetAlignment). */
  offset: number;
  /** Bytes. */
  size: number;
}

export function refBytes(ref: TensorRef): number {
  return ref.size;
}

export function refLabel(ref: TensorRef): string {
  return 'buffer' in ref ? `${ref.buffer.label}[${ref.offset}..]` : ref.label;
}

export function bindingResource(ref: TensorRef): GPUBufferBinding {
  return 'buffer' in ref ? { buffer: ref.buffer, offset: ref.offset, size: ref.size } : { buffer: ref };
}

export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
  /** A matrix product's shape, so that a profiler can count its FLOPs and time BLAS at the same shape; nothing else reads it. */
  matmul?: MatmulWork;
}

/** `batch` products of op(A) M×K by op(B) K×N. */
export interface MatmulWork {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  /** The WGSL entry point that runs it (matmul.ts's MatmulEntry). */
  entry?: string;
}

/** Binds `refs[i]` at binding i of group 0. */
export function createBindGroup(ctx: GpuContext, label: string, pipeline: GPUComputePipeline, refs: readonly TensorRef[]): GPUBindGroup {
  return ctx.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: refs.map((ref, binding) => ({ binding, resource: bindingResource(ref) })),
  });
}

export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    if (d.workgroups.some((n) => n === 0)) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}

/** Records `dispatches` in one compute pass and submits them; errors surface at the next check. */
export function submitDispatches(ctx: GpuContext, label: string, dispatches: readonly Dispatch[]): void {
  withDeferredErrorScope(ctx.device, ctx.errors, `submitting ${label}`, () => {
    const encoder = ctx.device.createCommandEncoder({ label });
    const pass = encoder.beginComputePass({ label });
    encodeDispatches(pass, dispatches);
    pass.end();
    ctx.device.queue.submit([encoder.finish()]);
  });
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** 1-D dispatches past 65535 workgroups fold into a second dimension; kernels rebuild the index. */
export function grid1d(count: number, workgroupSize: number, maxPerDim = 65535): [number, number, number] {
  const groups = ceilDiv(count, workgroupSize);
  if (groups <= maxPerDim) return [groups, 1, 1];
  return [maxPerDim, ceilDiv(groups, maxPerDim), 1];
}

/**
 * grid1d for kernels whose invocations each take 4 adjacent elements (on lavapipe, one pass of its
 * per-lane load loop instead of four): the optimizers, GELU, residual, the column sums.
 */
export function gridOfQuads(count: number, workgroupSize: number): [number, number, number] {
  return grid1d(ceilDiv(count, 4), workgroupSize);
}
