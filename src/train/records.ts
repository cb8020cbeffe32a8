// What workers report: one record per logged step, and a summary at the end.
import type { CommTimes } from '../accelerate/accelerator.js';
import type { ParameterLayout } from '../nn/layout.js';
import type { Evaluation } from './evaluate.js';

export interface TrainRecord {
  kind: 'train';
  rank: number;
  /** Optimizer steps done. */
  step: number;
  epoch: number;
  /** Mean training loss over the steps since the previous record. */
  loss: number;
  trainAccuracy: number;
  lr: number;
  samplesPerSecond: number;
  /** Unix seconds. */
  time: number;
}

/** Rank 0's evaluation of the model every worker holds right after an averaging point. */
export interface EvalRecord {
  kind: 'eval';
  rank: number;
  step: number;
  accuracy: number;
  loss: number;
  /** Seconds since training started, not counting time spent in evaluations. */
  trainSeconds: number;
  /** Bytes this rank has sent and received so far. */
  bytesCommunicated: number;
}

export interface WorkerSummary {
  rank: number;
  worldSize: number;
  adapter: string;
  /** The model, for people (e.g. "MLP 784-256-10"), and its flat parameter layout. */
  model: string;
  layout: ParameterLayout;
  parameterCount: number;
  steps: number;
  samples: number;
  localSgdRounds: number;
  finalTrainLoss: number;
  /** Rank 0 only: the final (averaged) model on the test set. */
  test: Evaluation | undefined;
  wallSeconds: number;
  commSeconds: number;
  computeSeconds: number;
  /** Time spent in --eval-every evaluations (rank 0). */
  evalSeconds: number;
  /** Time the CPU spent blocked on the GPU (queue drains and loss read-backs). */
  gpuWaitSeconds: number;
  comm: CommTimes;
}
