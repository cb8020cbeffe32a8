// The training loop's extension points. What tests and benchmarks add to a run (fault injection,
// weight traces, per-rank saves: see debug-hooks.ts) comes in through these, so the loop holds
// none of it.
import type { ParameterLayout } from '../nn/layout.js';

export interface StepEvent {
  rank: number;
  /** Optimizer steps taken so far. */
  step: number;
  /** Processes that held this rank before this one (--on-worker-failure respawn). */
  restarts: number;
}

export interface ParametersEvent extends StepEvent {
  layout: ParameterLayout;
  /** This rank's flat parameters, read back from the GPU (a stall: tests and debugging only). */
  readParameters(): Promise<Float32Array>;
}

export interface TrainHooks {
  /** Once, before the first step this process takes. */
  beforeTraining?(event: StepEvent): void;
  /** Before each optimizer step. */
  beforeStep?(event: StepEvent): void;
  /** After each optimizer step and the Local SGD round that may follow it. */
  afterStep?(event: ParametersEvent): Promise<void>;
  /** After the last step and the closing average, before the main process evaluates and saves. */
  afterTraining?(event: ParametersEvent): Promise<void>;
}

/** One hooks object that calls each of `hooks` in turn, in the order given. */
export function combineHooks(...hooks: TrainHooks[]): TrainHooks {
  return {
    beforeTraining: (e) => hooks.forEach((h) => h.beforeTraining?.(e)),
    beforeStep: (e) => hooks.forEach((h) => h.beforeStep?.(e)),
    afterStep: async (e) => {
      for (const h of hooks) await h.afterStep?.(e);
    },
    afterTraining: async (e) => {
      for (const h of hooks) await h.afterTraining?.(e);
    },
  };
}
