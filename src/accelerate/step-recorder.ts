// Collects the dispatches of a training step and submits them as one command buffer, and keeps the
// CPU from running unboundedly ahead of the GPU without paying Dawn's busy-poll (WEBGPU-NOTES hazard 2).
import type { GpuContext } from '../gpu/device.js';
import { queueIdle } from '../gpu/buffers.js';
import { submitDispatches, type Dispatch } from '../gpu/dispatch.js';

/** Steps the CPU may queue ahead of the GPU before it waits: enough to hide JS, little staging memory. */
const MAX_STEPS_IN_FLIGHT = 4;

export class StepRecorder {
  private pending: Dispatch[] = [];
  private stepsSinceSync = 0;
  private lastSync = performance.now();
  /** Exponential moving average of GPU milliseconds per step, for sleeping through waits. */
  private msPerStep: number | undefined;
  /** Seconds spent waiting for the GPU (stalls). */
  gpuWaitSeconds = 0;

  constructor(private readonly ctx: GpuContext) {}

  record(dispatches: readonly Dispatch[]): void {
    this.pending.push(...dispatches);
  }

  /** Submits what was recorded, in one command buffer. Call before overwriting any buffer it reads. */
  flush(label = 'training step'): void {
    if (this.pending.length === 0) return;
    submitDispatches(this.ctx, label, this.pending);
    this.pending = [];
  }

  /** Expected milliseconds until the queue drains, from the measured step rate. */
  expectedGpuMs(): number | undefined {
    if (this.msPerStep === undefined) return undefined;
    return Math.max(0, this.stepsSinceSync * this.msPerStep - (performance.now() - this.lastSync));
  }

  /** Marks the end of a step and waits for the GPU when too many steps are queued. */
  async endStep(): Promise<void> {
    this.flush();
    this.stepsSinceSync++;
    if (this.stepsSinceSync >= MAX_STEPS_IN_FLIGHT) await this.sync();
  }

  /** Waits until the GPU has finished everything submitted, and learns the step rate. */
  async sync(): Promise<void> {
    this.flush();
    const start = performance.now();
    await queueIdle(this.ctx, this.expectedGpuMs());
    this.gpuWaitSeconds += (performance.now() - start) / 1000;
    this.noteSynced();
  }

  /** Called after any stall that drained the queue (a read-back), so the step rate stays right. */
  noteSynced(): void {
    const now = performance.now();
    if (this.stepsSinceSync > 0) {
      const ms = (now - this.lastSync) / this.stepsSinceSync;
      this.msPerStep = this.msPerStep === undefined ? ms : 0.7 * this.msPerStep + 0.3 * ms;
    }
    this.stepsSinceSync = 0;
    this.lastSync = now;
  }
}
