// Small helper for the uniform structs kernels take: one buffer per prepared dispatch, so a whole
// training step can be recorded in one command encoder with different shapes and flags.
import type { GpuContext } from '../gpu/device.js';
import { createUniform, writeBuffer } from '../gpu/buffers.js';
import { refBytes, refLabel, type TensorRef } from '../gpu/dispatch.js';

export type UniformField = { u32: number } | { f32: number };

/** Packs fields in order, 4 bytes each (every struct here is all u32/f32, padded to 16 bytes). */
export function packUniform(fields: readonly UniformField[]): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const view = new DataView(bytes);
  fields.forEach((f, i) => {
    if ('u32' in f) view.setUint32(i * 4, f.u32, true);
    else view.setFloat32(i * 4, f.f32, true);
  });
  return bytes;
}

export function uniformBuffer(ctx: GpuContext, label: string, fields: readonly UniformField[]): GPUBuffer {
  const bytes = packUniform(fields);
  const buffer = createUniform(ctx, label, bytes.byteLength);
  writeBuffer(ctx, buffer, new Uint8Array(bytes));
  return buffer;
}

export function updateUniform(ctx: GpuContext, buffer: GPUBuffer, fields: readonly UniformField[]): void {
  writeBuffer(ctx, buffer, new Uint8Array(packUniform(fields)));
}

export function assertWholeNumber(kernel: string, name: string, value: number, min = 0): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${kernel}: ${name} must be a whole number >= ${min} (got ${value})`);
  }
}

/**
 * Throws unless `ref` holds at least `elements` 4-byte values; the message names the kernel, the
 * tensor, and the sizes it was prepared for (`shape`, e.g. "M=3 N=4 K=5"; element-wise kernels
 * leave it out and the message says count=elements).
 */
export function assertHolds(kernel: string, what: string, ref: TensorRef, elements: number, shape?: string, unit = 'floats'): void {
  if (refBytes(ref) < elements * 4) {
    const needs = shape === undefined ? `count=${elements}` : `${elements} for ${shape}`;
    throw new RangeError(`${kernel}: ${what} (${refLabel(ref)}) holds ${refBytes(ref) / 4} ${unit}, needs ${needs}`);
  }
}
