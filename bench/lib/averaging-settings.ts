// What bench/averaging.ts hands its fake workers, and what they hand back: shared by both sides.
import { z } from 'zod';

/** Environment variable carrying the JSON settings to each worker. */
export const AVERAGING_ENV = 'BENCH_AVERAGING_SETTINGS';

export const AveragingSettings = z.object({
  floats: z.number().int().positive(),
  /** Timed rounds; one untimed warm-up round comes first. */
  rounds: z.number().int().positive(),
});
export type AveragingSettings = z.infer<typeof AveragingSettings>;

export const RoundTime = z.object({
  /** From handing the data to allReduceMean to holding the mean, on this worker's clock. */
  seconds: z.number(),
  /** The channel's split of that time, where it reports one. */
  reduceSeconds: z.number().optional(),
  waitForPeersSeconds: z.number().optional(),
  transferSeconds: z.number().optional(),
});
export type RoundTime = z.infer<typeof RoundTime>;

export const AveragingWorkerSummary = z.object({ rank: z.number().int(), rounds: z.array(RoundTime) });
export type AveragingWorkerSummary = z.infer<typeof AveragingWorkerSummary>;
