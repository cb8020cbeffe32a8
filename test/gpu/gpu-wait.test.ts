// awaitGpu: a wait for the GPU that does not spin the JS thread (WEBGPU-NOTES hazard 2), measured by
// Dawn's poll ticks and the main thread's own CPU clock while a real GPU job runs, beside a plain
// await that shows the hazard is there to avoid.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import type { GpuContext } from '../../src/gpu/context.js';
import { submitDispatches, type Dispatch } from '../../src/gpu/dispatch.js';
import { awaitGpu } from '../../src/gpu/gpu-wait.js';
import { prepareMatmul } from '../../src/kernels/matmul.js';
import { closeTestGpu, createStorage, testGpu } from '../helpers/gpu.js';

const test = suite('awaitGpu');

/** Nanoseconds the main thread has spent on a CPU (the kernel's schedstat: run time of this task). */
function mainThreadCpuNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** A product of 512³ floats: ~10 ms on lavapipe, so a few dozen make a wait long enough to measure. */
async function longJob(ctx: GpuContext): Promise<Dispatch> {
  const n = 512;
  const buf = (label: string) => createStorage(ctx, label, n * n * 4);
  return prepareMatmul(ctx, { a: buf('A'), b: buf('B'), c: buf('C'), M: n, N: n, K: n, label: 'a long GPU job' });
}

type Timer = 'setImmediate' | 'setTimeout';

/**
 * Submits `copies` of `job` and waits with `wait`: the main thread's CPU time over the wall time, and
 * how often the global `timer` was called meanwhile (Dawn's poll ticks: a plain await queues them
 * through setImmediate, awaitGpu past its first millisecond through setTimeout).
 */
async function measureWait(ctx: GpuContext, job: Dispatch, copies: number, timer: Timer, wait: (done: () => Promise<undefined>) => Promise<undefined>) {
  const g = globalThis as unknown as Record<Timer, (...args: unknown[]) => unknown>;
  const original = g[timer];
  let ticks = 0;
  g[timer] = (...args: unknown[]) => { ticks++; return original(...args); };
  try {
    const t0 = performance.now();
    const cpu0 = mainThreadCpuNs();
    submitDispatches(ctx, 'a long GPU job', Array.from({ length: copies }, () => job));
    await wait(() => ctx.device.queue.onSubmittedWorkDone());
    const wallMs = performance.now() - t0;
    return { wallMs, load: (mainThreadCpuNs() - cpu0) / 1e6 / wallMs, ticksPerMs: ticks / wallMs };
  } finally {
    g[timer] = original;
  }
}

test('while the GPU works, a plain await spins the JS thread and awaitGpu does not', async () => {
  const ctx = await testGpu();
  const job = await longJob(ctx);
  // Size the job to about 400 ms on this adapter, so that the figures below are averages over many ticks.
  const once = await measureWait(ctx, job, 4, 'setTimeout', awaitGpu);
  const copies = Math.max(4, Math.ceil((400 / once.wallMs) * 4));
  const plain = await measureWait(ctx, job, copies, 'setImmediate', (done) => done());
  const polite = await measureWait(ctx, job, copies, 'setTimeout', awaitGpu);
  const describe = (w: typeof plain) => `${w.load.toFixed(2)} of a core, ${w.ticksPerMs.toFixed(1)} ticks per ms over ${w.wallMs.toFixed(0)} ms`;
  const report = `plain await: ${describe(plain)}; awaitGpu: ${describe(polite)}`;
  assert.ok(polite.wallMs >= 100, `the job must run long enough to measure (${report})`);
  // If this fails, Dawn no longer spins while a promise is pending and awaitGpu can go. (Ticks, not
  // CPU share: on a loaded machine the spinning thread gets less of a core, but it still spins.)
  assert.ok(plain.ticksPerMs > 5, `Dawn's busy-poll (hazard 2) should show on a plain await: ${report}`);
  assert.ok(polite.ticksPerMs <= 1.2, `awaitGpu should tick at most once a millisecond: ${report}`);
  assert.ok(polite.load < 0.2, `awaitGpu should leave the core to the driver: ${report}`);
});

test('awaitGpu passes on the value and the rejection, and puts setImmediate back after overlapping waits', async () => {
  const native = { set: globalThis.setImmediate, clear: globalThis.clearImmediate };
  let release!: () => void;
  const outer = awaitGpu(() => new Promise<string>((resolve) => { release = () => resolve('outer'); }));
  assert.is.not(globalThis.setImmediate, native.set, 'replaced while a wait is pending');
  const inner = await awaitGpu(async () => 42);
  assert.is(inner, 42);
  assert.is.not(globalThis.setImmediate, native.set, 'still replaced: the outer wait is pending');
  release();
  assert.is(await outer, 'outer');
  assert.is(globalThis.setImmediate, native.set);
  assert.is(globalThis.clearImmediate, native.clear);
  const failure = new Error('device lost');
  try {
    await awaitGpu(() => Promise.reject(failure));
    assert.unreachable('the rejection must come through');
  } catch (e) {
    assert.is(e, failure);
  }
  assert.is(globalThis.setImmediate, native.set, 'restored after a rejection');
});

test('during a long wait, setImmediate still runs its callback with its arguments, and clearImmediate still cancels', async () => {
  const ran: string[] = [];
  let release!: () => void;
  const pending = awaitGpu(() => new Promise<void>((resolve) => { release = resolve; }));
  await new Promise((resolve) => setTimeout(resolve, 5)); // past the spinning start: ticks now go through a timer
  const kept = new Promise<void>((resolve) => setImmediate((tag: string) => { ran.push(tag); resolve(); }, 'kept'));
  const cancelled = setImmediate(() => ran.push('cancelled'));
  clearImmediate(cancelled);
  await kept;
  await new Promise((resolve) => setTimeout(resolve, 5));
  release();
  await pending;
  assert.equal(ran, ['kept']);
});

test.after(() => closeTestGpu());
test.run();
