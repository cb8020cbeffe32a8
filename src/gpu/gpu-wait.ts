// Waiting for the GPU without spinning a core.
//
// While any WebGPU promise is pending, Dawn's Node binding keeps its events moving by queueing one
// tick after another through the global `setImmediate`: the JS thread runs at 100 % of a core for the
// whole wait, a core that lavapipe's threads need (WEBGPU-NOTES hazard 2). It looks `setImmediate`
// up on the global object at every tick, so while we wait we give it one that runs a tick at once
// for the first SPIN_MS (short waits stay as quick as before) and after that once a millisecond.
// That costs a wait at most about a millisecond of latency and no guess of how long the GPU needs.

/** How long a wait may spin before its ticks go through a 1 ms timer. */
const SPIN_MS = 1;

const nativeSetImmediate = globalThis.setImmediate;
const nativeClearImmediate = globalThis.clearImmediate;
/** Timers handed out in place of immediates, so that clearImmediate can tell them apart. */
const deferred = new WeakSet<object>();
let waits = 0;
let firstWaitStarted = 0;

function setImmediateWhileWaiting(callback: (...args: unknown[]) => void, ...args: unknown[]): unknown {
  if (performance.now() - firstWaitStarted < SPIN_MS) return nativeSetImmediate(callback, ...args);
  const timer = setTimeout(callback, 1, ...args);
  deferred.add(timer);
  return timer;
}

function clearImmediateWhileWaiting(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && deferred.has(handle)) clearTimeout(handle as NodeJS.Timeout);
  else nativeClearImmediate(handle as NodeJS.Immediate);
}

/**
 * Awaits the GPU promise that `start` returns (a `mapAsync`, `onSubmittedWorkDone`, …) with Dawn's
 * polling throttled as above. `start` is called inside, because Dawn begins polling the moment
 * the promise is made. Waits may overlap; the globals come back when the last one ends.
 */
export async function awaitGpu<T>(start: () => Promise<T>): Promise<T> {
  if (waits++ === 0) {
    firstWaitStarted = performance.now();
    globalThis.setImmediate = setImmediateWhileWaiting as typeof setImmediate;
    globalThis.clearImmediate = clearImmediateWhileWaiting as typeof clearImmediate;
  }
  try {
    return await start();
  } finally {
    if (--waits === 0) {
      globalThis.setImmediate = nativeSetImmediate;
      globalThis.clearImmediate = nativeClearImmediate;
    }
  }
}
