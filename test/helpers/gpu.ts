// One device per test file (Node's Dawn, or the page's navigator.gpu in the browser build: see
// open-test-gpu.ts), and poisoned output buffers: NaN everywhere, so an element the kernel
// forgot to write fails assertClose.
import { formatAdapter, type GpuContext } from '../../src/gpu/context.js';
import { createStorage, createStorageFrom, readFloat32 } from '../../src/gpu/buffers.js';
import { submitDispatches, type Dispatch } from '../../src/gpu/dispatch.js';
import { awaitGpu } from '../../src/gpu/gpu-wait.js';
import { openTestGpu } from './open-test-gpu.js';
import { TEST_QUIET } from './test-env.js';

let shared: Promise<GpuContext> | undefined;
let announced = false;

/** The test device. A missing adapter throws the setup error: tests never skip silently. */
export function testGpu(): Promise<GpuContext> {
  shared ??= openTestGpu().then((ctx) => {
    if (!announced && !TEST_QUIET) {
      announced = true;
      console.log(`  adapter: ${formatAdapter(ctx.info)}`);
    }
    return ctx;
  });
  return shared;
}

export function closeTestGpu(): void {
  void shared?.then((ctx) => ctx.close());
  shared = undefined;
}

export function upload(ctx: GpuContext, label: string, data: Float32Array | Uint32Array): GPUBuffer {
  return createStorageFrom(ctx, label, data);
}

export function poisoned(ctx: GpuContext, label: string, elements: number): GPUBuffer {
  return upload(ctx, label, new Float32Array(elements).fill(NaN));
}

export async function run(ctx: GpuContext, dispatches: Dispatch | Dispatch[]): Promise<void> {
  const list = Array.isArray(dispatches) ? dispatches : [dispatches];
  submitDispatches(ctx, list.map((d) => d.label).join('+'), list);
  await awaitGpu(() => ctx.device.queue.onSubmittedWorkDone());
  ctx.check(list.map((d) => d.label).join('+'));
}

export async function download(ctx: GpuContext, buffer: GPUBuffer, elements: number): Promise<Float32Array> {
  const data = await readFloat32(ctx, buffer, { byteLength: elements * 4 });
  return data;
}

export { createStorage };
