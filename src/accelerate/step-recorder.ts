// Collects the dispatches of a training step and submits them as one command buffer, and keeps the
// CPU from running unboundedly ahead of the GPU without paying Dawn's busy-poll (while a GPU
// promise is pending, Dawn polls on the JS thread, taking a core from the driver): every wait for
// the GPU first sleeps through most of the time the queued steps need.
import type { GpuContext } from '../gpu/device.js';
import { submitDispatches, type Dispatch } from '../gpu/dispatch.js';

/** Steps the CPU may queue ahead of the GPU before it waits: enough to hide JS, little staging memory. */
const MAX_STEPS_IN_FLIGHT = 4;
/** A wait shorter than this after the sleep means the GPU was already idle: we overslept. */
const OVERSLEPT_MS = 0.5;

export class StepRecorder {
  private pending: Dispatch[] = [];
  private stepsSinceSync = 0;
  /** When the first submit after the last stall went out: the GPU has been busy since about then. */
  private busySince: number | undefined;
  /** Estimated GPU milliseconds per step; undefined until measured. */
  private msPerStep: number | undefined;
  /** Stalls that ended steps; the first one is the warm-up. */
  private stepStalls = 0;
  /** Seconds the CPU spent blocked on the GPU (queue drains and read-backs). */
  gpuWaitSeconds = 0;

  constructor(private readonly ctx: GpuContext) {}

  record(dispatches: readonly Dispatch[]): void {
    this.pending.push(...dispatches);
  }

  /** Submits what was recorded, in one command buffer. Call before overwriting any buffer it reads. */
  flush(label = 'training step'): void {
    if (this.pending.length === 0) return;
    this.busySince ??= performance.now();
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

  /**
   * Runs `wait` (a read-back or queue drain that completes once the queued work is done), sleeping
   * first through the expected GPU time, and learns the GPU's time per step from how it went.
   */
  async stall<T>(wait: () => Promise<T>): Promise<T> {
    this.flush();
    const start = performance.now();
    const busySince = this.busySince ?? start;
    // Time between stalls can include waiting for other workers; only time since the GPU got
    // work counts, so the estimate is of GPU time per step.
    const expected = this.msPerStep === undefined ? 0 : this.stepsSinceSync * this.msPerStep - (start - busySince);
    if (expected >= 2) await new Promise((resolve) => setTimeout(resolve, expected * 0.9));
    const woke = performance.now();
    const result = await wait();
    const end = performance.now();
    this.ctx.check('waiting for the GPU');
    this.gpuWaitSeconds += (end - start) / 1000;
    // The first steps include the pipelines' first use (on lavapipe, the shader compiles: seconds);
    // learning from them made later stalls oversleep for many steps, so they teach nothing.
    if (this.stepsSinceSync > 0 && this.stepStalls++ > 0) {
      const overslept = expected >= 2 && end - woke < OVERSLEPT_MS;
      const measured = (end - busySince) / this.stepsSinceSync;
      // Oversleeping inflates the measurement, so then shrink the estimate instead of trusting it.
      this.msPerStep = overslept ? this.msPerStep! * 0.8 : this.msPerStep === undefined ? measured : 0.5 * this.msPerStep + 0.5 * measured;
    }
    this.stepsSinceSync = 0;
    this.busySince = undefined;
    return result;
  }
}
