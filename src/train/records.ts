// What workers report: one record per logged step, an evaluation after some averaging points,
// rank 0's model description, and a summary at the end. Each is a zod schema, because each crosses
// a process boundary as JSON (the worker's log and done messages, the --metrics file) and is
// checked where it arrives; the TypeScript types are inferred from the schemas.
import { z } from 'zod';
import type { CommTimes } from '../accelerate/accelerator.js';
import { parameterLayoutSchema } from '../nn/layout.js';
import type { Evaluation } from './evaluate.js';

/**
 * A measured number as JSON carries it: NaN and ±Infinity (a diverged loss, a rate over zero
 * seconds) arrive as null, and are read back as NaN so that readers keep doing arithmetic.
 */
export const measure = z.number().nullable().transform((x) => x ?? Number.NaN);
/** A count of steps, ranks, samples or bytes. */
export const count = z.number().int();

export const TrainRecord = z.object({
  kind: z.literal('train'),
  rank: count,
  /** Optimizer steps done. */
  step: count,
  epoch: count,
  /** Mean training loss over the steps since the previous record. */
  loss: measure,
  trainAccuracy: measure,
  lr: measure,
  samplesPerSecond: measure,
  /** Unix seconds. */
  time: z.number(),
});
export type TrainRecord = z.infer<typeof TrainRecord>;

/** Rank 0's evaluation of the model every worker holds right after an averaging point. */
export const EvalRecord = z.object({
  kind: z.literal('eval'),
  rank: count,
  step: count,
  accuracy: measure,
  loss: measure,
  /** Seconds since training started, not counting time spent in evaluations. */
  trainSeconds: z.number(),
  /** Bytes this rank has sent and received so far. */
  bytesCommunicated: count,
});
export type EvalRecord = z.infer<typeof EvalRecord>;

/** Rank 0's description of what it trains, logged once before its first parameter round. */
export const ModelRecord = z.object({
  kind: z.literal('model'),
  /** For people, e.g. "MLP 784-256-10". */
  description: z.string(),
  /** The flat parameter layout: what a checkpoint written by the coordinator is made of. */
  layout: parameterLayoutSchema,
  parameterCount: count,
  adapter: z.string(),
  trainSamples: count,
  testSamples: count,
  data: z.string(),
  /** Optimizer steps before this run (a resumed one) and at its end. */
  startStep: count,
  totalSteps: count,
});
export type ModelRecord = z.infer<typeof ModelRecord>;

/** What a worker logs through its channel; the coordinator parses each with this. */
export const WorkerLogRecord = z.discriminatedUnion('kind', [TrainRecord, EvalRecord, ModelRecord]);
export type WorkerLogRecord = z.infer<typeof WorkerLogRecord>;

/** A lost worker, as the coordinator's process records it (--on-worker-failure continue|respawn). */
export const WorkerLostRecord = z.object({
  kind: z.literal('worker-lost'),
  rank: count,
  /** The last step the run surely completed on this rank: the last average, or its own later log. */
  step: count,
  /** The step of the last average, where a respawned process restarts. */
  averagedStep: count,
  action: z.enum(['dropped', 'respawned']),
  liveRanks: z.array(count),
  restarts: count,
  reason: z.string(),
  /** Unix seconds. */
  time: z.number(),
});
export type WorkerLostRecord = z.infer<typeof WorkerLostRecord>;

// Types defined by the modules that make these values; `satisfies` keeps each schema in step with its type.
const EvaluationSchema = z.object({ loss: measure, accuracy: measure, samples: count }) satisfies z.ZodType<Evaluation, z.ZodTypeDef, unknown>;

const CommTimesSchema = z.object({
  readbackSeconds: z.number(),
  exchangeSeconds: z.number(),
  uploadSeconds: z.number(),
  parameterRounds: count,
  gradientRounds: count,
  bytesSent: count,
  bytesReceived: count,
}) satisfies z.ZodType<CommTimes, z.ZodTypeDef, unknown>;

/** A worker's done message: what it did, for the run's summary. */
export const WorkerSummary = z.object({
  rank: count,
  worldSize: count,
  adapter: z.string(),
  /** The model, for people (e.g. "MLP 784-256-10"), and its flat parameter layout. */
  model: z.string(),
  layout: parameterLayoutSchema,
  parameterCount: count,
  steps: count,
  samples: count,
  localSgdRounds: count,
  /** NaN when this process logged no loss (one respawned at the last step). */
  finalTrainLoss: measure,
  /** Rank 0 only: the final (averaged) model on the test set. Absent from the JSON when undefined. */
  test: EvaluationSchema.optional(),
  wallSeconds: z.number(),
  commSeconds: z.number(),
  computeSeconds: z.number(),
  /** Time spent in --eval-every evaluations (rank 0). */
  evalSeconds: z.number(),
  /** Time the CPU spent blocked on the GPU (queue drains and loss read-backs). */
  gpuWaitSeconds: z.number(),
  comm: CommTimesSchema,
});
export type WorkerSummary = z.infer<typeof WorkerSummary>;
