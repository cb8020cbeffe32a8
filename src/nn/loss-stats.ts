// Per-row [loss, correct] sums that the loss kernel accumulates on the GPU across micro-batches and
// steps, read back only when a log line or an evaluation needs them.
import type { GpuContext } from '../gpu/device.js';
import { createStorage, readFloat32, writeBuffer } from '../gpu/buffers.js';

export class LossStats {
  /** [rows, 2] row-major: loss and correct (0 or 1) per row. */
  readonly buffer: GPUBuffer;

  constructor(private readonly ctx: GpuContext, readonly rows: number) {
    this.buffer = createStorage(ctx, `loss stats [${rows}×2]`, rows * 2 * 4);
  }

  /** Zeroes the sums (a queue write, ordered after everything submitted before it). */
  clear(): void {
    writeBuffer(this.ctx, this.buffer, new Float32Array(this.rows * 2));
  }

  /** Sums of loss and correct counts over the first `rows` rows (stalls on the GPU). */
  async read(rows = this.rows): Promise<{ lossSum: number; correct: number }> {
    const data = await readFloat32(this.ctx, this.buffer);
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < rows; i++) {
      lossSum += data[2 * i]!;
      correct += data[2 * i + 1]!;
    }
    return { lossSum, correct };
  }
}
