// Local SGD with the contract of Accelerate's LocalSGD: while enabled, gradients are not averaged
// across workers; step() is called after every optimizer step and every `localSgdSteps` calls it
// replaces each worker's parameters by their mean; closing it averages once more, so training
// always ends with identical weights on every worker.
//
// Only parameters are averaged, not optimizer state (as Accelerate and PyTorch's
// PeriodicModelAverager do): moments stay local, which costs nothing in communication and works.
import type { Accelerator, FlatModel } from './accelerator.js';

export interface LocalSgdOptions {
  accelerator: Accelerator;
  model: FlatModel;
  localSgdSteps: number;
  enabled: boolean;
}

export class LocalSGD implements AsyncDisposable {
  private readonly accelerator: Accelerator;
  private readonly model: FlatModel;
  readonly localSgdSteps: number;
  readonly enabled: boolean;
  /** Optimizer steps seen by step(). */
  numSteps = 0;
  /** Averaging rounds done, the closing one included. */
  rounds = 0;
  private stepsSinceAverage = 0;
  /** True right after step() averaged: the moment every worker holds the same weights. */
  justAveraged = false;
  private closed = false;
  private readonly previousGradientSync: boolean;

  constructor(options: LocalSgdOptions) {
    if (!Number.isInteger(options.localSgdSteps) || options.localSgdSteps < 1) {
      throw new RangeError(`LocalSGD: localSgdSteps must be a whole number >= 1 (got ${options.localSgdSteps})`);
    }
    this.accelerator = options.accelerator;
    this.model = options.model;
    this.localSgdSteps = options.localSgdSteps;
    this.enabled = options.enabled;
    this.previousGradientSync = this.accelerator.gradientSyncEnabled;
    if (this.enabled) this.accelerator.gradientSyncEnabled = false;
  }

  /** Call after each optimizer step. */
  async step(): Promise<void> {
    this.numSteps++;
    this.justAveraged = false;
    if (!this.enabled) return;
    this.stepsSinceAverage++;
    if (this.numSteps % this.localSgdSteps === 0) await this.average();
  }

  /** Averages once more if any step was taken since the last round, and restores gradient sync. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.enabled && this.stepsSinceAverage > 0) await this.average();
    this.accelerator.gradientSyncEnabled = this.previousGradientSync;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async average(): Promise<void> {
    await this.accelerator.averageParameters(this.model);
    this.rounds++;
    this.stepsSinceAverage = 0;
    this.justAveraged = true;
  }
}
