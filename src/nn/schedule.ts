// Learning-rate schedules. One schedule step is one optimizer step (the seed's scheduler.step()).
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleConfig {
  kind: ScheduleKind;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Learning rate for optimizer step `step` (0-based): a linear warmup from baseLr/warmupSteps to
 * baseLr over `warmupSteps`, then constant, linear decay to 0, or cosine decay to 0 at `totalSteps`
 * (Hugging Face's get_linear/cosine_schedule_with_warmup).
 */
export function learningRate(s: ScheduleConfig, step: number): number {
  if (step < s.warmupSteps) return (s.baseLr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.baseLr;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  if (s.kind === 'linear') return s.baseLr * (1 - progress);
  return s.baseLr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
