// Timing GPU work for the kernel benchmarks: many repetitions in one submit, warm-up first, the
// median of several samples, sleeping through most of each wait so that Dawn's busy-polling does
// not take a core from lavapipe (WEBGPU-NOTES hazard 2).
import type { GpuContext } from '../../src/gpu/device.js';
import { submitDispatches, type Dispatch } from '../../src/gpu/dispatch.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/**
 * Milliseconds per repetition of `dispatches`: as many copies in one submit as fill about `targetMs`,
 * `reps` samples. Sleeps through 90% of the expected time before awaiting. A sample where the GPU had
 * already finished when the sleep ended measured the sleep, not the GPU: it is dropped and the
 * expectation lowered.
 */
export async function timeGpu(ctx: GpuContext, dispatches: readonly Dispatch[], reps: number, targetMs: number): Promise<number> {
  const label = dispatches[0]!.label;
  const submit = async (count: number, sleepMs: number) => {
    const t0 = performance.now();
    submitDispatches(ctx, label, Array.from({ length: count }, () => dispatches).flat());
    if (sleepMs >= 2) await sleep(sleepMs);
    const woke = performance.now();
    await ctx.device.queue.onSubmittedWorkDone();
    const end = performance.now();
    return { ms: (end - t0) / count, sleepBound: sleepMs >= 2 && end - woke < 0.5 };
  };
  await submit(1, 0); // warm-up: first use may compile the shader
  ctx.check(label);
  let expected = (await submit(1, 0)).ms; // busy-polled, so if anything too high
  const count = Math.max(1, Math.min(500, Math.round(targetMs / expected)));
  const samples: number[] = [];
  for (let attempt = 0; samples.length < reps && attempt < 4 * reps; attempt++) {
    const { ms, sleepBound } = await submit(count, 0.9 * count * expected);
    if (sleepBound) {
      expected *= 0.7;
      continue;
    }
    samples.push(ms);
    expected = Math.min(expected, ms);
  }
  // On a loaded machine the first, busy-polled estimate can be so high that every sleep overshoots;
  // then one busy-polled sample is the honest figure (pessimistic by Dawn's polling, never the sleep).
  if (samples.length === 0) samples.push((await submit(count, 0)).ms);
  ctx.check(label);
  return median(samples);
}
