// One flat GPU buffer each for a model's parameters and gradients, laid out by its ParameterLayout:
// what every model shares, whatever its graph.
import type { GpuContext } from '../gpu/device.js';
import { createStorage, readFloat32, writeBuffer } from '../gpu/buffers.js';
import type { TensorRef } from '../gpu/dispatch.js';
import { tensorNamed, type ParameterLayout, type TensorLayout } from './layout.js';

export class FlatParameters {
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;

  constructor(readonly ctx: GpuContext, readonly layout: ParameterLayout) {
    const bytes = layout.totalFloats * 4;
    this.params = createStorage(ctx, 'parameters', bytes);
    this.grads = createStorage(ctx, 'gradients', bytes);
  }

  /** A byte slice of a flat buffer (parameters, gradients) holding one tensor. */
  slice(buffer: GPUBuffer, tensor: TensorLayout | string): TensorRef {
    const t = typeof tensor === 'string' ? tensorNamed(this.layout, tensor) : tensor;
    return { buffer, offset: t.offset * 4, size: t.size * 4 };
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
}
