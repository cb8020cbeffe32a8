// Buffer helpers: creation with clear labels, uploads, and read-back through a staging buffer.
import './globals.js';
import type { GpuContext } from './device.js';
import { awaitGpu } from './gpu-wait.js';

export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
export const UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;

/** Storage bindings must start at multiples of this many bytes (WebGPU's default limit). */
export const STORAGE_OFFSET_ALIGNMENT = 256;

export function createStorage(ctx: GpuContext, label: string, byteLength: number): GPUBuffer {
  // Buffers are sized in whole 16-byte units: some drivers read vec4-wide past a scalar tail.
  const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
  const max = ctx.device.limits.maxStorageBufferBindingSize;
  if (size > max) {
    throw new RangeError(`buffer "${label}" needs ${size} bytes, over this device's storage binding limit of ${max}`);
  }
  return ctx.device.createBuffer({ label, size, usage: STORAGE });
}

export function createStorageFrom(ctx: GpuContext, label: string, data: ArrayBufferView): GPUBuffer {
  const buffer = createStorage(ctx, label, data.byteLength);
  writeBuffer(ctx, buffer, data);
  return buffer;
}

export function writeBuffer(ctx: GpuContext, buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  // writeBuffer wants a multiple of 4 bytes; every tensor here is 4-byte typed.
  ctx.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
}

export function createUniform(ctx: GpuContext, label: string, byteLength: number): GPUBuffer {
  return ctx.device.createBuffer({ label, size: Math.ceil(byteLength / 16) * 16, usage: UNIFORM });
}

export interface ReadOptions {
  byteOffset?: number;
  byteLength?: number;
}

/** Copies a range of `buffer` to the CPU. This stalls until the GPU has finished all prior work. */
export async function readBuffer(ctx: GpuContext, buffer: GPUBuffer, options: ReadOptions = {}): Promise<ArrayBuffer> {
  const byteOffset = options.byteOffset ?? 0;
  const byteLength = options.byteLength ?? buffer.size - byteOffset;
  const size = Math.ceil(byteLength / 4) * 4;
  const staging = ctx.device.createBuffer({
    label: `read-back of ${buffer.label}`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = ctx.device.createCommandEncoder({ label: `read-back of ${buffer.label}` });
    encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    ctx.device.queue.submit([encoder.finish()]);
    await awaitGpu(() => staging.mapAsync(GPUMapMode.READ));
    ctx.check(`reading back ${buffer.label}`);
    return staging.getMappedRange().slice(0, byteLength);
  } finally {
    staging.destroy();
  }
}

export async function readFloat32(ctx: GpuContext, buffer: GPUBuffer, options: ReadOptions = {}): Promise<Float32Array> {
  return new Float32Array(await readBuffer(ctx, buffer, options));
}
