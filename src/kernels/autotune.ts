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
  /**
   * The candidate the fixed table would take (what --no-autotune runs): kept unless another
   * measures clearly faster (WIN_MARGIN), and taken unmeasured where measuring would not fit the budget.
   */
  fallback: string;
}

export interface AutotuneChoice extends CachedChoice {
  /** 'table': measuring would not fit the budget on this adapter, so the fixed table's choice stands. */
  source: 'measured' | 'cached' | 'table';
}

/**
 * Another candidate replaces the table's only when its best time is this much lower: on a shared
 * machine two equal kernels differ by 5–10 % between samples, and a choice made on noise would
 * differ from run to run and machine to machine for nothing.
 */
const WIN_MARGIN = 0.9;
/** Interleaved rounds per choice: the best of three is what each candidate is judged by. */
const ROUNDS = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The adapter as a cache key: Dawn's description carries the driver (e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)"). */
export function adapterKey(ctx: GpuContext): string {
  const i = ctx.info;
  return [i.vendor, i.architecture, i.device, i.description, i.backend].join('|');
}

export interface AutotunerOptions {
  store: AutotuneStore;
  /** Receives one line per shape class per process, e.g. "autotune: matmul A·Bᵀ … → main wg16 (0.81 ms; …) measured". */
  log: (line: string) => void;
  /** Milliseconds of measuring per choice, all rounds of all candidates (default DEFAULT_BUDGET_MS). */
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
    if (!names.includes(request.fallback)) throw new Error(`autotune: ${request.kernel} ${request.shapeClass}: the fallback ${request.fallback} is not a candidate`);
    let choice: AutotuneChoice;
    if (cached && names.includes(cached.candidate)) {
      choice = { ...cached, source: 'cached' };
    } else {
      choice = await this.measure(ctx, request);
      this.options.store.set(key, { candidate: choice.candidate, ms: choice.ms, timings: choice.timings });
    }
    if (!this.logged.has(key)) {
      this.logged.add(key);
      this.options.log(describeChoice(ctx, request, choice));
    }
    return choice;
  }

  /**
   * Each candidate is compiled and run once (the estimate); then, if ROUNDS rounds of them all fit the
   * budget, the candidates take turns for ROUNDS rounds (a burst of load on a shared machine then
   * slows every candidate alike, not whichever was being timed) and each is judged by its best round.
   * Where they do not fit (a slow adapter at a large shape: lavapipe at the GPT's, tens of ms per
   * dispatch), one sample each would choose on noise, so the table's choice stands, said as such.
   */
  private async measure(ctx: GpuContext, request: AutotuneRequest): Promise<AutotuneChoice> {
    const budgetMs = this.options.budgetMs ?? DEFAULT_BUDGET_MS;
    const prepared: Array<{ name: string; dispatch: Dispatch; estimate: number }> = [];
    for (const candidate of request.candidates) {
      const dispatch = await candidate.prepare();
      prepared.push({ name: candidate.name, dispatch, estimate: await estimateMs(ctx, dispatch) });
      this.measurements++;
    }
    const estimates = Object.fromEntries(prepared.map((p) => [p.name, p.estimate]));
    const roundMs = prepared.reduce((sum, p) => sum + p.estimate, 0);
    if (ROUNDS * roundMs > budgetMs) {
      return { candidate: request.fallback, ms: estimates[request.fallback]!, timings: estimates, source: 'table' };
    }
    const best: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of prepared) {
        // Copies enough to fill this candidate's share of the budget, so short kernels are timed over many.
        const count = Math.max(1, Math.min(64, Math.floor(budgetMs / ROUNDS / prepared.length / p.estimate)));
        const ms = await timeCopies(ctx, p.dispatch, count, 0.7 * count * Math.min(p.estimate, best[p.name] ?? Infinity));
        best[p.name] = Math.min(best[p.name] ?? Infinity, ms);
      }
    }
    const fastest = prepared.map((p) => p.name).reduce((a, b) => (best[b]! < best[a]! ? b : a));
    const chosen = best[fastest]! < WIN_MARGIN * best[request.fallback]! ? fastest : request.fallback;
    return { candidate: chosen, ms: best[chosen]!, timings: best, source: 'measured' };
  }
}

/** Milliseconds of measuring per choice, all rounds of all candidates together (not counting compiles). */
const DEFAULT_BUDGET_MS = 600;

export function describeChoice(ctx: GpuContext, request: AutotuneRequest, choice: AutotuneChoice): string {
  const others = Object.entries(choice.timings).filter(([name]) => name !== choice.candidate)
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ');
  const kernel = request.kernel.split('@')[0];
  // The adapter's short name ("llvmpipe", not its driver string): the line is for people; the key has it all.
  const adapter = (ctx.info.description || ctx.info.device || 'unnamed adapter').split(/[:(]/)[0]!.trim();
  return `autotune: ${kernel} ${request.shapeClass} on ${adapter} → ${choice.candidate} ` +
    `(${choice.ms.toFixed(2)} ms${others ? `; ${others}` : ''}) ` +
    (choice.source === 'table' ? 'table: three rounds of every candidate would not fit the measuring budget here (one-dispatch estimates shown)' : choice.source);
}

/** Per dispatch, `count` copies in one submit, sleeping `sleepMs` before awaiting (WEBGPU-NOTES hazard 2: Dawn's polling takes a core from lavapipe). */
async function timeCopies(ctx: GpuContext, dispatch: Dispatch, count: number, sleepMs: number): Promise<number> {
  const t0 = performance.now();
  submitDispatches(ctx, `autotune ${dispatch.label}`, Array.from({ length: count }, () => dispatch));
  if (sleepMs >= 2) await sleep(sleepMs);
  await ctx.device.queue.onSubmittedWorkDone();
  ctx.check(`autotune ${dispatch.label}`);
  return (performance.now() - t0) / count;
}

/** A warm-up (the first use compiles), then one busy-polled dispatch: high, but what sizes the rounds. */
async function estimateMs(ctx: GpuContext, dispatch: Dispatch): Promise<number> {
  await timeCopies(ctx, dispatch, 1, 0);
  return timeCopies(ctx, dispatch, 1, 0);
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
