// Local SGD with the contract of Accelerate's LocalSGD: while enabled, gradients are not averaged
// across workers; step() is called after every optimizer step and every `localSgdSteps` calls it
// replaces each worker's parameters by their mean; closing it averages once more, so training
// always ends with identical weights on every worker.
//
// Post-local SGD (Lin et al. 2020, PyTorch's PostLocalSGDOptimizer): the first `warmupSteps`
// optimizer steps keep gradient sync on (synchronous data-parallel, so every worker holds the same
// weights), then Local SGD takes over.
//
// When parameters are averaged: after optimizer step n (1-based, counted from the start of the
// run, resumed steps included) when n > W and (n − W) is a multiple of K, and once more at close()
// if a local step came after the last round. The first round is therefore after step W + K.
// PyTorch's PeriodicModelAverager averages when its 0-based counter s has s ≥ W and (s − W) % K = 0,
// i.e. after steps W+1, W+1+K, ...; we count K local steps from the switch instead, so that W = 0
// keeps Accelerate's schedule (after K, 2K, ...) and a round never follows a single local step.
//
// Across machines (--cross-node-every M, PyTorch's hierarchical periods): every round averages within
// each machine, and every M-th round of a run (M, 2M, ...), the round after the last step, and the
// closing one average across all machines; only those leave every worker with the same weights.
//
// Only parameters are averaged, not optimizer state (as Accelerate and PyTorch's
// PeriodicModelAverager do): moments stay local, which costs nothing in communication and works.
import type { Accelerator, FlatModel } from './accelerator.js';

/** The step after which the first averaging round after `step` comes (the rule above; the closing round aside). */
export function nextAveragingStep(step: number, warmupSteps: number, localSgdSteps: number): number {
  const localStepsDone = Math.max(step, warmupSteps) - warmupSteps;
  return warmupSteps + (Math.floor(localStepsDone / localSgdSteps) + 1) * localSgdSteps;
}

export interface LocalSgdOptions {
  accelerator: Accelerator;
  model: FlatModel;
  localSgdSteps: number;
  enabled: boolean;
  /** Post-local SGD: optimizer steps with gradient sync before Local SGD starts (default 0). */
  warmupSteps?: number;
  /** Optimizer steps already taken (a resumed run), so the averaging schedule stays global. */
  startStep?: number;
  /** Several machines: every M-th round averages across them, the others within each machine (default 1: all across). */
  crossNodeEvery?: number;
  /** The run's last step: its round is always across machines. */
  totalSteps?: number;
}

export class LocalSGD implements AsyncDisposable {
  private readonly accelerator: Accelerator;
  private readonly model: FlatModel;
  readonly localSgdSteps: number;
  readonly warmupSteps: number;
  readonly enabled: boolean;
  /** Optimizer steps seen by step(), including those before a resume. */
  numSteps: number;
  /** Averaging rounds done, the closing one included. */
  rounds = 0;
  private stepsSinceAverage = 0;
  /** True right after step() averaged across machines: the moment every worker holds the same weights. */
  justAveraged = false;
  readonly crossNodeEvery: number;
  private readonly totalSteps: number | undefined;
  /** False after a round within machines only: closing must then average across them. */
  private lastRoundGlobal = true;
  private closed = false;
  private readonly previousGradientSync: boolean;

  constructor(options: LocalSgdOptions) {
    if (!Number.isInteger(options.localSgdSteps) || options.localSgdSteps < 1) {
      throw new RangeError(`LocalSGD: localSgdSteps must be a whole number >= 1 (got ${options.localSgdSteps})`);
    }
    const warmupSteps = options.warmupSteps ?? 0;
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
      throw new RangeError(`LocalSGD: warmupSteps must be a whole number >= 0 (got ${options.warmupSteps})`);
    }
    this.accelerator = options.accelerator;
    this.model = options.model;
    this.localSgdSteps = options.localSgdSteps;
    this.warmupSteps = warmupSteps;
    this.enabled = options.enabled;
    this.numSteps = options.startStep ?? 0;
    this.crossNodeEvery = options.crossNodeEvery ?? 1;
    if (!Number.isInteger(this.crossNodeEvery) || this.crossNodeEvery < 1) {
      throw new RangeError(`LocalSGD: crossNodeEvery must be a whole number >= 1 (got ${options.crossNodeEvery})`);
    }
    this.totalSteps = options.totalSteps;
    this.previousGradientSync = this.accelerator.gradientSyncEnabled;
    if (this.enabled) this.accelerator.gradientSyncEnabled = this.inWarmup;
  }

  /** Still in the post-local SGD warmup: gradients are averaged every step. */
  get inWarmup(): boolean {
    return this.enabled && this.numSteps < this.warmupSteps;
  }

  /** Every worker holds the same weights now: synchronous mode, warmup, or right after a round. */
  get parametersInSync(): boolean {
    return !this.enabled || this.numSteps <= this.warmupSteps || this.justAveraged;
  }

  /** Call after each optimizer step. */
  async step(): Promise<void> {
    this.numSteps++;
    this.justAveraged = false;
    if (!this.enabled) return;
    if (this.numSteps <= this.warmupSteps) {
      // The step just taken used averaged gradients; from the next one on, gradients stay local.
      // The coordinator learns the weights the local steps start from, so that an outer optimizer
      // (DiLoCo) steps with the local steps' pseudo-gradient, not the warmup's progress.
      if (this.numSteps === this.warmupSteps) {
        this.accelerator.gradientSyncEnabled = false;
        await this.accelerator.announceParameters(this.model);
      }
      return;
    }
    this.stepsSinceAverage++;
    if ((this.numSteps - this.warmupSteps) % this.localSgdSteps === 0) await this.average();
  }

  /** Averages once more if any local step was taken since the last round, and restores gradient sync. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.enabled && (this.stepsSinceAverage > 0 || !this.lastRoundGlobal)) await this.average(true);
    this.accelerator.gradientSyncEnabled = this.previousGradientSync;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async average(closing = false): Promise<void> {
    const global = closing || this.crossNodeEvery === 1 || (this.rounds + 1) % this.crossNodeEvery === 0 || this.numSteps === this.totalSteps;
    await this.accelerator.averageParameters(this.model, this.numSteps, global ? 'global' : 'machine');
    this.rounds++;
    this.stepsSinceAverage = 0;
    this.justAveraged = global;
    this.lastRoundGlobal = global;
  }
}
