// Timing GPU work for the kernel benchmarks: many repetitions in one submit, warm-up first, the
// median of several samples, each awaited through awaitGpu so that Dawn's polling does not take a
// core from lavapipe (WEBGPU-NOTES hazard 2).
import type { GpuContext } from '../../src/gpu/device.js';
import { submitDispatches, type Dispatch } from '../../src/gpu/dispatch.js';
import { awaitGpu } from '../../src/gpu/gpu-wait.js';

export const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** Milliseconds per repetition of `dispatches`: as many copies in one submit as fill about `targetMs`, `reps` samples. */
export async function timeGpu(ctx: GpuContext, dispatches: readonly Dispatch[], reps: number, targetMs: number): Promise<number> {
  const label = dispatches[0]!.label;
  const submit = async (count: number) => {
    const t0 = performance.now();
    submitDispatches(ctx, label, Array.from({ length: count }, () => dispatches).flat());
    await awaitGpu(() => ctx.device.queue.onSubmittedWorkDone());
    return (performance.now() - t0) / count;
  };
  await submit(1); // warm-up: first use may compile the shader
  ctx.check(label);
  const count = Math.max(1, Math.min(500, Math.round(targetMs / await submit(1))));
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) samples.push(await submit(count));
  ctx.check(label);
  return median(samples);
}
