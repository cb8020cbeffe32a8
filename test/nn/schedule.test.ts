// The learning-rate schedules: Hugging Face's warmup-then-decay rules, and nanoGPT's get_lr when a
// floor (min_lr) is set, written out here independently of src/nn/schedule.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { learningRate, type ScheduleConfig } from '../../src/nn/schedule.js';

const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-15 + 1e-12 * Math.abs(b), `${what}: ${a} vs ${b}`);

test('warmup climbs linearly to the base rate; constant then stays there', () => {
  const s: ScheduleConfig = { kind: 'constant', baseLr: 0.1, warmupSteps: 4, totalSteps: 20 };
  for (const [step, expected] of [[0, 0.025], [1, 0.05], [2, 0.075], [3, 0.1], [4, 0.1], [19, 0.1]] as const) near(learningRate(s, step), expected, `step ${step}`);
});

test('cosine and linear without a floor end at 0, as get_cosine/linear_schedule_with_warmup', () => {
  const cosine: ScheduleConfig = { kind: 'cosine', baseLr: 1, warmupSteps: 10, totalSteps: 110 };
  for (const step of [10, 35, 60, 85, 109, 110, 200]) {
    const progress = Math.min(1, (step - 10) / 100);
    near(learningRate(cosine, step), 0.5 * (1 + Math.cos(Math.PI * progress)), `cosine step ${step}`);
    near(learningRate({ ...cosine, kind: 'linear' }, step), 1 - progress, `linear step ${step}`);
  }
  assert.is(learningRate(cosine, 60), 0.5 * (1 + Math.cos(Math.PI / 2)));
});

test('with min_lr, cosine decays from the base rate to the floor and stays there (nanoGPT\'s get_lr after warmup)', () => {
  const [lr, minLr, warmup, decayIters] = [1e-3, 1e-4, 100, 2000];
  const nanoGpt = (it: number) => {
    if (it > decayIters) return minLr;
    const ratio = (it - warmup) / (decayIters - warmup);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (lr - minLr);
  };
  const s: ScheduleConfig = { kind: 'cosine', baseLr: lr, minLr, warmupSteps: warmup, totalSteps: decayIters };
  for (const it of [100, 101, 500, 1050, 1999, 2000, 2500]) near(learningRate(s, it), nanoGpt(it), `iteration ${it}`);
  near(learningRate(s, 2000), minLr, 'the last step is at the floor');
  near(learningRate({ ...s, kind: 'linear' }, 1050), minLr + 0.5 * (lr - minLr), 'linear halfway');
});

test.run();
