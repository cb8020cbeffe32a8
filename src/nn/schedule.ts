// Learning-rate schedules. One schedule step is one optimizer step (the seed's scheduler.step()).
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleConfig {
  kind: ScheduleKind;
  baseLr: number;
  /** Where linear and cosine decay end (nanoGPT's min_lr); 0 when absent (Hugging Face's schedules). */
  minLr?: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Learning rate for optimizer step `step` (0-based): a linear warmup from baseLr/warmupSteps to
 * baseLr over `warmupSteps`, then constant, or a linear or cosine decay to minLr at `totalSteps`
 * (Hugging Face's get_linear/cosine_schedule_with_warmup when minLr is 0; nanoGPT's get_lr decays
 * to its min_lr the same way, its cosine being minLr + ½(1 + cos πp)(baseLr − minLr)).
 */
export function learningRate(s: ScheduleConfig, step: number): number {
  if (step < s.warmupSteps) return (s.baseLr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.baseLr;
  const minLr = s.minLr ?? 0;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  const remaining = s.kind === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  // minLr 0 keeps the exact expression Hugging Face's schedules compute (baseLr × coefficient).
  return minLr === 0 ? s.baseLr * remaining : minLr + remaining * (s.baseLr - minLr);
}
