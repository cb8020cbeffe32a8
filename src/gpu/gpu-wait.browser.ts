// The browser twin of gpu-wait.ts: a page's WebGPU does not poll on the JS thread, so a wait is
// just the promise.
export async function awaitGpu<T>(start: () => Promise<T>): Promise<T> {
  return start();
}
