// CPU time of every thread of this process but the main one (lavapipe's compute threads, unnamed,
// run the shaders; the main thread busy-polls while it awaits the GPU, WEBGPU-NOTES hazard 2), from
// /proc/self/task/*/schedstat (nanoseconds on a CPU). On a machine shared with other processes wall
// time swings with their load; the CPU time a kernel takes moves far less, so side-by-side
// comparisons of kernels use it. Linux only; null elsewhere or on a non-lavapipe adapter.
import { readdirSync, readFileSync } from 'node:fs';
import type { GpuContext } from '../../src/gpu/device.js';
import { submitDispatches, type Dispatch } from '../../src/gpu/dispatch.js';
import { awaitGpu } from '../../src/gpu/gpu-wait.js';

export function lavapipeCpuNs(): number | null {
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  let total = 0;
  let found = false;
  for (const tid of tasks) {
    try {
      if (Number(tid) === process.pid) continue;
      total += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      found = true;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return found ? total : null;
}

/**
 * Wall and lavapipe CPU milliseconds per repetition of `dispatches`, `count` copies in one submit,
 * awaited through awaitGpu (WEBGPU-NOTES hazard 2).
 */
export async function timeOnce(ctx: GpuContext, dispatches: readonly Dispatch[], count: number): Promise<{ wallMs: number; cpuMs: number | null }> {
  const label = dispatches[0]!.label;
  const cpu0 = lavapipeCpuNs();
  const t0 = performance.now();
  submitDispatches(ctx, label, Array.from({ length: count }, () => dispatches).flat());
  await awaitGpu(() => ctx.device.queue.onSubmittedWorkDone());
  const wallMs = (performance.now() - t0) / count;
  const cpu1 = lavapipeCpuNs();
  ctx.check(label);
  return { wallMs, cpuMs: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / 1e6 / count };
}
