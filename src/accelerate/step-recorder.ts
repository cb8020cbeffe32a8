// Collects the dispatches of a training step and submits them as one command buffer, and keeps the
// CPU from running unboundedly ahead of the GPU. Its waits go through awaitGpu, so that Dawn's
// polling does not take a core from the driver while the queued steps run.
import type { GpuContext } from '../gpu/device.js';
import { submitDispatches, type Dispatch } from '../gpu/dispatch.js';
import { awaitGpu } from '../gpu/gpu-wait.js';

/** Steps the CPU may queue ahead of the GPU before it waits: enough to hide JS, little staging memory. */
const MAX_STEPS_IN_FLIGHT = 4;

export class StepRecorder {
  private pending: Dispatch[] = [];
  private stepsSinceSync = 0;
  /** Seconds the CPU spent blocked on the GPU (queue drains and read-backs). */
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

  /** Marks the end of a step and waits for the GPU when too many steps are queued. */
  async endStep(): Promise<void> {
    this.flush();
    this.stepsSinceSync++;
    if (this.stepsSinceSync >= MAX_STEPS_IN_FLIGHT) await this.sync();
  }

  /** Waits until the GPU has finished everything submitted. */
  async sync(): Promise<void> {
    await this.stall(() => this.ctx.device.queue.onSubmittedWorkDone());
  }

  /** Submits what is recorded and runs `wait` (a read-back or queue drain that completes once the queued work is done). */
  async stall<T>(wait: () => Promise<T>): Promise<T> {
    this.flush();
    const start = performance.now();
    const result = await awaitGpu(wait);
    this.gpuWaitSeconds += (performance.now() - start) / 1000;
    this.ctx.check('waiting for the GPU');
    this.stepsSinceSync = 0;
    return result;
  }
}
