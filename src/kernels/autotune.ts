// Chooses among a kernel's candidate variants by timing them once per adapter and shape class, and
// remembers the choice in a store (a JSON file in the user's cache directory under Node, memory in a
// browser tab), so that later runs on the same adapter and driver measure nothing.
//
// Why this is safe for Local SGD: a kernel's candidates must give bit-identical results (the matmul
// entries all accumulate over k in the same order with fma; test/kernels/autotune.test.ts checks it
// on awkward shapes). The choice therefore changes only speed, never a run's numbers, and workers on
// different adapters, which may choose differently, still agree bit for bit wherever they agree today.
// A candidate that rounds differently must not join a list here.
//
// No Node imports: tabs bundle this file (the file store is src/train/autotune-file-store.ts).
import { z } from 'zod';
import type { GpuContext } from '../gpu/context.js';
import { submitDispatches, type Dispatch } from '../gpu/dispatch.js';

/** One way to run the kernel: prepares a dispatch of the shape being tuned, on scratch buffers. */
export interface AutotuneCandidate {
  name: string;
  prepare: () => Promise<Dispatch>;
}

export const CachedChoice = z.object({
  candidate: z.string(),
  /** Milliseconds per dispatch of the chosen candidate, and of every candidate, when measured. */
  ms: z.number(),
  timings: z.record(z.string(), z.number()),
});
export type CachedChoice = z.infer<typeof CachedChoice>;

/** Where choices persist: src/train/autotune-file-store.ts under Node, MemoryAutotuneStore in a tab. */
export interface AutotuneStore {
  get(key: string): CachedChoice | undefined;
  set(key: string, choice: CachedChoice): void;
}

export class MemoryAutotuneStore implements AutotuneStore {
  private readonly entries = new Map<string, CachedChoice>();
  get(key: string): CachedChoice | undefined {
    return this.entries.get(key);
  }
  set(key: string, choice: CachedChoice): void {
    this.entries.set(key, choice);
  }
}

export interface AutotuneRequest {
  /** The kernel family and a version of its code, e.g. 'matmul@1a2b3c4d': a changed shader measures again. */
  kernel: string;
  /** The shape class, for people and the key, e.g. 'A·Bᵀ M≤1024 N≤512 K≤128'. */
  shapeClass: string;
  candidates: readonly AutotuneCandidate[];
}

export interface AutotuneChoice extends CachedChoice {
  source: 'measured' | 'cached';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** The adapter as a cache key: Dawn's description carries the driver (e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)"). */
export function adapterKey(ctx: GpuContext): string {
  const i = ctx.info;
  return [i.vendor, i.architecture, i.device, i.description, i.backend].join('|');
}

export interface AutotunerOptions {
  store: AutotuneStore;
  /** Receives one line per shape class per process, e.g. "autotune: matmul A·Bᵀ … → main wg16 (0.81 ms; …) measured". */
  log: (line: string) => void;
  /** Milliseconds of measuring per choice, shared among the candidates (default 300). */
  budgetMs?: number;
}

export class Autotuner {
  /** Candidates timed so far (tests check that a cached class measures nothing). */
  measurements = 0;
  private readonly logged = new Set<string>();
  private readonly pending = new Map<string, Promise<AutotuneChoice>>();
  /** One choice at a time: two measuring at once would time each other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly options: AutotunerOptions) {}

  /** The candidate to use for this shape class on this adapter: cached, or measured now and cached. */
  choose(ctx: GpuContext, request: AutotuneRequest): Promise<AutotuneChoice> {
    if (request.candidates.length === 0) throw new Error(`autotune: ${request.kernel} ${request.shapeClass} has no candidates`);
    const key = `${adapterKey(ctx)}|${request.kernel}|${request.shapeClass}`;
    let choice = this.pending.get(key);
    if (!choice) {
      choice = this.queue.then(() => this.chooseNow(ctx, request, key));
      this.queue = choice.catch(() => {});
      this.pending.set(key, choice);
      choice.catch(() => this.pending.delete(key));
    }
    return choice;
  }

  private async chooseNow(ctx: GpuContext, request: AutotuneRequest, key: string): Promise<AutotuneChoice> {
    const names = request.candidates.map((c) => c.name);
    const cached = this.options.store.get(key);
    // A cached name no longer among the candidates (a variant removed or renamed) measures again.
    let choice: AutotuneChoice;
    if (cached && names.includes(cached.candidate)) {
      choice = { ...cached, source: 'cached' };
    } else {
      const timings: Record<string, number> = {};
      const perCandidate = (this.options.budgetMs ?? 300) / request.candidates.length;
      for (const candidate of request.candidates) {
        timings[candidate.name] = await timeCandidate(ctx, await candidate.prepare(), perCandidate);
        this.measurements++;
      }
      const best = names.reduce((a, b) => (timings[b]! < timings[a]! ? b : a));
      choice = { candidate: best, ms: timings[best]!, timings, source: 'measured' };
      this.options.store.set(key, { candidate: choice.candidate, ms: choice.ms, timings });
    }
    if (!this.logged.has(key)) {
      this.logged.add(key);
      this.options.log(describeChoice(ctx, request, choice));
    }
    return choice;
  }
}

export function describeChoice(ctx: GpuContext, request: AutotuneRequest, choice: AutotuneChoice): string {
  const others = Object.entries(choice.timings).filter(([name]) => name !== choice.candidate)
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ');
  const kernel = request.kernel.split('@')[0];
  // The adapter's short name ("llvmpipe", not its driver string): the line is for people; the key has it all.
  const adapter = (ctx.info.description || ctx.info.device || 'unnamed adapter').split(/[:(]/)[0]!.trim();
  return `autotune: ${kernel} ${request.shapeClass} on ${adapter} → ${choice.candidate} ` +
    `(${choice.ms.toFixed(2)} ms${others ? `; ${others}` : ''}) ${choice.source}`;
}

/**
 * Milliseconds per dispatch: a warm-up (first use compiles), a busy-polled estimate, then three
 * submits of as many copies as fill the budget, sleeping through most of each before awaiting
 * (WEBGPU-NOTES hazard 2: Dawn's polling takes a core from lavapipe); the median. A dispatch slower
 * than a third of the budget gets one sample of one copy.
 */
async function timeCandidate(ctx: GpuContext, dispatch: Dispatch, budgetMs: number): Promise<number> {
  const submit = async (count: number, sleepMs: number) => {
    const t0 = performance.now();
    submitDispatches(ctx, `autotune ${dispatch.label}`, Array.from({ length: count }, () => dispatch));
    if (sleepMs >= 2) await sleep(sleepMs);
    await ctx.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / count;
  };
  await submit(1, 0);
  ctx.check(`autotune ${dispatch.label}`);
  const estimate = await submit(1, 0);
  const reps = estimate * 3 > budgetMs ? 1 : 3;
  const count = Math.max(1, Math.min(64, Math.floor(budgetMs / reps / estimate)));
  const samples: number[] = [];
  // 70%, not gpu-timing.ts's 90%: the estimate is busy-polled (high), and a sleep past the GPU's end
  // would time the sleep; every candidate is treated alike, which is what the choice needs.
  for (let r = 0; r < reps; r++) samples.push(await submit(count, 0.7 * count * Math.min(estimate, ...samples)));
  ctx.check(`autotune ${dispatch.label}`);
  return median(samples);
}

const tuners = new WeakMap<GpuContext, Autotuner>();

/** Turns autotuning on for kernels prepared on `ctx` (off when never called, or called with undefined). */
export function useAutotuner(ctx: GpuContext, tuner: Autotuner | undefined): void {
  if (tuner) tuners.set(ctx, tuner);
  else tuners.delete(ctx);
}

export function autotunerFor(ctx: GpuContext): Autotuner | undefined {
  return tuners.get(ctx);
}

/** The next power of two ≥ n: a shape class's bound on one dimension. */
export function powerOfTwoAtLeast(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** A short stable hash (FNV-1a) of a kernel's code, so that an edited shader is measured again. */
export function codeHash(code: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < code.length; i++) h = Math.imul(h ^ code.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}
