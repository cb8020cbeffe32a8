// C = op(A)·op(B) (+ bias), optionally accumulating into C. See shaders/matmul.wgsl for the
// entries and why they are shaped as they are; this file picks one per shape and adapter: by
// measurement (autotune.ts) where the context has an autotuner, else from a fixed table per adapter kind.
import code from '../../shaders/matmul.wgsl';
import subgroupCode from '../../shaders/matmul-subgroup.wgsl';
import { autotunerFor, codeHash, powerOfTwoAtLeast, type AutotuneCandidate } from './autotune.js';
import type { GpuContext } from '../gpu/device.js';
import { ceilDiv, createBindGroup, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { createStorage } from '../gpu/buffers.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';
import { assertNoOverlap } from './overlap.js';

const SHADER = { file: 'matmul.wgsl', code };
/** The subgroup entries extend matmul.wgsl (its bindings and helpers) in a module that enables subgroups. */
const SUBGROUP_SHADER = { file: 'matmul-subgroup.wgsl', code: `enable subgroups;\n${code}\n${subgroupCode}` };
/** The subgroup entries: a workgroup is one subgroup of 8 lanes and owns 16 rows × 32 columns. */
const SUBGROUP_LANES = 8;
const SUBGROUP_ROWS = 16;
const SUBGROUP_COLS = 32;
/** Rows and columns one invocation of the blocked entries computes (named registers in the shader). */
const BLOCK_ROWS = 16;
const BLOCK_COLS = 8;
/** The narrow entry: rows per invocation (at stride WG) and columns per workgroup. */
const NARROW_ROWS = 4;
const NARROW_COLS = 8;
/** The tiled entry: a fixed 16×16 workgroup owns a TILED_BLOCK × TILED_BLOCK block of C. */
const TILED_BLOCK = 64;
const TILED_WORKGROUP = 256;

/**
 * 'blocked' picks the fastest correct entry for the shape: measured among MATMUL_CANDIDATES where the
 * context has an autotuner (the trainer's default), else by the table: 'subgroup' where the device
 * runs it and the shape fits, else 'narrow' when N is small, else 'blocked-vec4' for transB when the
 * strides allow vec4 loads, else 'blocked-scalar'. The others force one
 * entry (tests and benchmarks); 'naive' is one output per invocation, the baseline; 'tiled' uses
 * workgroup memory, for discrete GPUs (same results bit for bit; slower on lavapipe); 'subgroup' shares
 * rows of A by subgroupBroadcast, for CPU adapters with subgroups of 8 or more lanes (lavapipe:
 * 2–3× `main`; same results bit for bit; see matmul-subgroup.wgsl).
 */
export type MatmulVariant = 'blocked' | 'blocked-vec4' | 'blocked-scalar' | 'narrow' | 'naive' | 'tiled' | 'subgroup';
export type MatmulEntry = 'main' | 'main_vec4' | 'narrow' | 'naive' | 'tiled' | SubgroupEntry | `${SubgroupEntry}4`;
type SubgroupEntry = 'sub_abt' | 'sub_ab' | 'sub_atb';

export interface MatmulArgs {
  /** Op(A) is M×K; with transA, A is stored as [K, M]. */
  a: TensorRef;
  b: TensorRef;
  c: TensorRef;
  bias?: TensorRef | undefined;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Add into C instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  /**
   * The activation epilogue of a ReLU layer, fused: 'relu' stores max(op(A)·op(B) + bias, 0) (its
   * forward); { reluMask: H } stores op(A)·op(B) · (H > 0), the gradient through a ReLU whose output
   * H has C's layout (its backward, no bias). The same bits as matmul then activation.ts's relu.
   */
  epilogue?: 'relu' | { reluMask: TensorRef };
  variant?: MatmulVariant;
  /** Invocations per workgroup, overriding the tuning's choice (benchmarks). */
  workgroup?: number;
  /** Row lengths of A, B and C as stored, in floats; default: the matrices are packed. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Many products of one shape in one dispatch (per-head attention products). */
  batch?: MatmulBatch;
  label?: string;
}

/** Where batch z's operand starts: base + floor(z / inner)·outer + (z % inner)·innerStride floats. */
export interface MatmulBatchOperand {
  base: number;
  outer: number;
  innerStride: number;
}

/**
 * `count` products; batch z = outer·inner + i (inner = z % `inner`), e.g. z = b·nHead + h for
 * sequence b and head h, whose q sits at b·T·3C + h·hs in a [B, T, 3C] tensor.
 */
export interface MatmulBatch {
  count: number;
  inner: number;
  a: MatmulBatchOperand;
  b: MatmulBatchOperand;
  c: MatmulBatchOperand;
}

export interface MatmulTuning {
  /**
   * Candidate invocation counts per workgroup of the blocked entries (each invocation owns 16 rows ×
   * 8 columns, so a workgroup 8·WG columns); the one that pads N least is taken, ties to the first.
   */
  blockedWorkgroups: readonly number[];
  /** Invocations per workgroup of the narrow entry (each owns 4 rows × 8 columns). */
  narrowWorkgroup: number;
  /** Largest N that takes the narrow entry under variant 'blocked'. */
  narrowMaxN: number;
  /** Whether 'blocked' takes `main_vec4` for X·Wᵀ (transB) when the shape allows. */
  vec4TransB: boolean;
  /** Whether the adapter runs the subgroup entries, and 'blocked' takes them where the shape allows. */
  subgroups: boolean;
}

/**
 * Per adapter. Lavapipe (measured at the baby GPT's and the MNIST MLP's shapes, CPU time of the
 * shader threads side by side, bench/gpt-matmul.ts): workgroups of 8 or 16 lanes beat 32 by
 * 1.1–2× (a 256-column workgroup pads N = 128 or 384 with wasted lanes, and more, smaller
 * workgroups share out better over the cores), and scalar loads beat `main_vec4` in every form
 * (4.5 vs 6.5 GFLOP/s at X·Wᵀ 64×784→256). The narrow entry wants small workgroups so that a
 * 64-row, 10-column output still spans both cores.
 * Real GPUs: the same layout is coalesced (lanes read consecutive columns of B, A is shared), and
 * they want more invocations in flight, so a wider workgroup and a full warp for narrow.
 */
export function matmulTuning(ctx: GpuContext): MatmulTuning {
  return ctx.isCpuAdapter
    ? { blockedWorkgroups: [16, 8], narrowWorkgroup: 8, narrowMaxN: 32, vec4TransB: false, subgroups: subgroupMatmulRuns(ctx) }
    : { blockedWorkgroups: [128], narrowWorkgroup: 64, narrowMaxN: 32, vec4TransB: true, subgroups: false };
}

/**
 * Whether this device runs the subgroup entries: it has the feature, and a workgroup of 8 lanes is one
 * subgroup (the smallest subgroup holds 8 or more), so that subgroupBroadcast reaches all 8.
 */
export function subgroupMatmulRuns(ctx: GpuContext): boolean {
  return ctx.device.features.has('subgroups') && ctx.subgroupMinSize >= SUBGROUP_LANES;
}

/** Whether the subgroup entry of this form can run the shape (matmul-subgroup.wgsl's header: 4 adjacent columns or rows per lane). */
export function matmulSubgroupFits(shape: MatmulShape): boolean {
  if (shape.transB) return !shape.transA;
  return shape.N % 4 === 0 && (!shape.transA || shape.M % 4 === 0);
}

/** The blocked entries' workgroup size for N output columns: the candidate that pads N least. */
export function blockedWorkgroup(tuning: MatmulTuning, N: number): number {
  const padding = (wg: number) => ceilDiv(N, BLOCK_COLS * wg) * BLOCK_COLS * wg - N;
  return tuning.blockedWorkgroups.reduce((best, wg) => (padding(wg) < padding(best) ? wg : best));
}

/** Whether `main_vec4` can run this shape: k in steps of 4 and 16-byte aligned rows of A. */
export function matmulVec4Fits(M: number, K: number, transA: boolean): boolean {
  return K % 4 === 0 && (!transA || M % 4 === 0);
}

/**
 * What autotune chooses among under 'blocked': each a variant that forces one entry, at one workgroup
 * size, on one kind of adapter. Every entry here must round exactly as the others do (autotune.ts's
 * header; test/kernels/autotune.test.ts checks it), so adding one is one line and changes no numbers.
 * Lavapipe: workgroups of 8–32 lanes (see matmulTuning); real GPUs want more invocations in flight.
 */
export interface MatmulCandidate {
  variant: 'blocked-scalar' | 'blocked-vec4' | 'narrow' | 'tiled' | 'subgroup';
  workgroup: number;
  adapters: 'cpu' | 'gpu';
}
export const MATMUL_CANDIDATES: readonly MatmulCandidate[] = [
  { variant: 'blocked-scalar', workgroup: 8, adapters: 'cpu' },
  { variant: 'blocked-scalar', workgroup: 16, adapters: 'cpu' },
  { variant: 'blocked-scalar', workgroup: 32, adapters: 'cpu' },
  { variant: 'blocked-vec4', workgroup: 16, adapters: 'cpu' },
  { variant: 'narrow', workgroup: 8, adapters: 'cpu' },
  // Only where the device runs it (subgroupMatmulRuns) and the shape fits (matmulSubgroupFits).
  { variant: 'subgroup', workgroup: SUBGROUP_LANES, adapters: 'cpu' },
  { variant: 'blocked-scalar', workgroup: 64, adapters: 'gpu' },
  { variant: 'blocked-scalar', workgroup: 128, adapters: 'gpu' },
  { variant: 'blocked-scalar', workgroup: 256, adapters: 'gpu' },
  { variant: 'blocked-vec4', workgroup: 128, adapters: 'gpu' },
  { variant: 'narrow', workgroup: 32, adapters: 'gpu' },
  { variant: 'narrow', workgroup: 64, adapters: 'gpu' },
  // Workgroup-memory tiles: slower than `main` on lavapipe (0.3–0.5×, bench/README.md), for discrete GPUs.
  { variant: 'tiled', workgroup: 256, adapters: 'gpu' },
];

/** A candidate's name in logs and the cache, e.g. "main wg16": its entry and workgroup size. */
export function matmulCandidateName(c: MatmulCandidate): string {
  return runName(matmulEntry(c.variant, NO_TUNING, { M: 1, N: 1, K: 1, transA: false, transB: false }), c.workgroup);
}
/** The three subgroup entries are one candidate (the form picks the entry), named 'subgroup'. */
const runName = (entry: MatmulEntry, workgroup: number) => `${isSubgroupEntry(entry) ? 'subgroup' : entry} wg${workgroup}`;
const NO_TUNING: MatmulTuning = { blockedWorkgroups: [1], narrowWorkgroup: 1, narrowMaxN: 0, vec4TransB: false, subgroups: false };

/**
 * The candidates that can run this shape on this kind of adapter: vec4 where its loads fit, narrow for
 * small N, subgroup where the device runs it and the shape fits.
 */
export function matmulCandidates(isCpuAdapter: boolean, shape: MatmulShape & { vec4Able: boolean }, subgroups = false): MatmulCandidate[] {
  const narrowMaxN = 32;
  return MATMUL_CANDIDATES.filter((c) => c.adapters === (isCpuAdapter ? 'cpu' : 'gpu') &&
    (c.variant !== 'blocked-vec4' || shape.vec4Able) && (c.variant !== 'narrow' || shape.N <= narrowMaxN) &&
    (c.variant !== 'subgroup' || (subgroups && matmulSubgroupFits(shape))));
}

/**
 * The shape class autotune measures once: the form, then M, N and K each up to the next power of two
 * (N ≤ 32 one class, the narrow entry's), the batch count likewise, and whether vec4 loads fit (they
 * decide which candidates exist). E.g. "A·Bᵀ M≤1024 N≤512 K≤128".
 */
export function matmulShapeClass(shape: MatmulShape & { batch: number; vec4Able: boolean }): string {
  const N = shape.N <= 32 ? 32 : powerOfTwoAtLeast(shape.N);
  return `${shape.transA ? 'Aᵀ' : 'A'}·${shape.transB ? 'Bᵀ' : 'B'} M≤${powerOfTwoAtLeast(shape.M)} N≤${N} K≤${powerOfTwoAtLeast(shape.K)}` +
    `${shape.batch > 1 ? ` batch≤${powerOfTwoAtLeast(shape.batch)}` : ''}${shape.vec4Able ? '' : ' no-vec4'}` +
    `${matmulSubgroupFits(shape) ? '' : ' no-subgroup'}`;
}

const KERNEL_VERSION = `matmul@${codeHash(code + subgroupCode)}`;

/**
 * Autotune's choice for this call, or undefined where the context has no autotuner. Candidates run on
 * scratch buffers of the call's shape (packed, batches side by side), never on the caller's: a
 * product that accumulates into C must not be run while measuring.
 */
async function autotunedCandidate(
  ctx: GpuContext, table: MatmulTuning, args: MatmulArgs, transA: boolean, transB: boolean, batches: number, packed: boolean,
): Promise<MatmulCandidate | undefined> {
  const tuner = autotunerFor(ctx);
  if (!tuner) return undefined;
  const { M, N, K } = args;
  const shape = { M, N, K, transA, transB, batch: batches, vec4Able: packed && batches === 1 && matmulVec4Fits(M, K, transA) };
  const candidates = matmulCandidates(ctx.isCpuAdapter, shape, table.subgroups);
  let scratch: GPUBuffer[] | undefined;
  const buffers = () => {
    const f32 = (label: string, n: number) => createStorage(ctx, `autotune scratch ${label}`, 4 * Math.max(4, n));
    scratch ??= [f32('A', batches * M * K), f32('B', batches * K * N), f32('C', batches * M * N), f32('bias', N)];
    return scratch;
  };
  const operand = (size: number): MatmulBatchOperand => ({ base: 0, outer: 0, innerStride: size });
  const tuning: AutotuneCandidate[] = candidates.map((c) => ({
    name: matmulCandidateName(c),
    prepare: () => {
      const [a, b, cOut, bias] = buffers() as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
      return prepareMatmul(ctx, {
        a, b, c: cOut, bias: args.bias ? bias : undefined, M, N, K, transA, transB, accumulate: args.accumulate ?? false,
        variant: c.variant, workgroup: c.workgroup, label: `${args.label ?? 'matmul'} (autotune ${matmulCandidateName(c)})`,
        ...(batches > 1 ? { batch: { count: batches, inner: batches, a: operand(M * K), b: operand(K * N), c: operand(M * N) } } : {}),
      });
    },
  }));
  // What the fixed table runs for this shape: autotune keeps it unless another candidate is clearly faster.
  const tableEntry = matmulEntry('blocked', table, { M, N, K, transA, transB, packed: packed && batches === 1 });
  const fallback = runName(tableEntry, tableEntry === 'narrow' ? table.narrowWorkgroup : isSubgroupEntry(tableEntry) ? SUBGROUP_LANES : blockedWorkgroup(table, N));
  if (!tuning.some((c) => c.name === fallback)) return undefined; // a table outside the candidate list: nothing to measure against
  try {
    const choice = await tuner.choose(ctx, { kernel: KERNEL_VERSION, shapeClass: matmulShapeClass(shape), candidates: tuning, fallback });
    return candidates.find((c) => matmulCandidateName(c) === choice.candidate)!;
  } finally {
    if (scratch) {
      await ctx.device.queue.onSubmittedWorkDone();
      for (const b of scratch) b.destroy();
    }
  }
}

export interface MatmulShape {
  M: number; N: number; K: number; transA: boolean; transB: boolean;
  /** A and B packed and unbatched (what `main_vec4` needs); default true. */
  packed?: boolean;
}

/**
 * Which entry a variant runs. Under 'blocked', vec4 loads can pay only with transB (then B's k
 * values are contiguous per column), and only where the tuning says so; scalar loads were as fast
 * or faster for the other two forms on lavapipe.
 */
export function matmulEntry(variant: MatmulVariant, tuning: MatmulTuning, shape: MatmulShape): MatmulEntry {
  switch (variant) {
    case 'naive': return 'naive';
    case 'narrow': return 'narrow';
    case 'tiled': return 'tiled';
    case 'blocked-scalar': return 'main';
    case 'blocked-vec4': return 'main_vec4';
    case 'subgroup': return shape.transB ? 'sub_abt' : shape.transA ? 'sub_atb' : 'sub_ab';
    case 'blocked':
      // The subgroup entries beat narrow on lavapipe even at N = 10 (autotune: 0.13 vs 0.21 ms for the MLP's output layer).
      if (tuning.subgroups && matmulSubgroupFits(shape)) return matmulEntry('subgroup', tuning, shape);
      if (shape.N <= tuning.narrowMaxN) return 'narrow';
      return tuning.vec4TransB && shape.transB && (shape.packed ?? true) && matmulVec4Fits(shape.M, shape.K, shape.transA) ? 'main_vec4' : 'main';
  }
}

export async function prepareMatmul(ctx: GpuContext, args: MatmulArgs): Promise<Dispatch> {
  const { M, N, K } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const variant = args.variant ?? 'blocked';
  const name = args.label ?? `matmul${transA ? '_tA' : ''}${transB ? '_tB' : ''}`;
  assertWholeNumber(name, 'M', M, 1);
  assertWholeNumber(name, 'N', N, 1);
  assertWholeNumber(name, 'K', K, 1);
  const lda = args.lda ?? (transA ? M : K);
  const ldb = args.ldb ?? (transB ? K : N);
  const ldc = args.ldc ?? N;
  const shape = `M=${M} N=${N} K=${K}`;
  for (const [what, ld, min] of [['lda', lda, transA ? M : K], ['ldb', ldb, transB ? K : N], ['ldc', ldc, N]] as const) {
    if (!Number.isInteger(ld) || ld < min) throw new RangeError(`${name}: ${what} must be a whole number >= ${min}, the stored row length (got ${ld} for ${shape})`);
  }
  const batch = args.batch ?? { count: 1, inner: 1, a: NO_OFFSET, b: NO_OFFSET, c: NO_OFFSET };
  assertWholeNumber(name, 'batch count', batch.count, 1);
  assertWholeNumber(name, 'batch inner', batch.inner, 1);
  if (batch.count > 65535) throw new RangeError(`${name}: at most 65535 batches in one dispatch (got ${batch.count})`);
  // The last float each operand's batches reach: batch offsets plus the stored matrix's extent.
  const lastOffset = (o: MatmulBatchOperand, what: string) => {
    for (const [field, v] of Object.entries(o)) assertWholeNumber(name, `batch ${what}.${field}`, v);
    return o.base + Math.floor((batch.count - 1) / batch.inner) * o.outer + (Math.min(batch.count, batch.inner) - 1) * o.innerStride;
  };
  const need = (what: string, ref: TensorRef, elements: number) => assertHolds(name, what, ref, elements, shape);
  need('A', args.a, lastOffset(batch.a, 'a') + (transA ? (K - 1) * lda + M : (M - 1) * lda + K));
  need('B', args.b, lastOffset(batch.b, 'b') + (transB ? (N - 1) * ldb + K : (K - 1) * ldb + N));
  need('C', args.c, lastOffset(batch.c, 'c') + (M - 1) * ldc + N);
  if (args.bias) need('bias', args.bias, N);
  const reluMask = typeof args.epilogue === 'object' ? args.epilogue.reluMask : undefined;
  if (args.epilogue !== undefined && args.accumulate) {
    throw new RangeError(`${name}: an activation epilogue (${reluMask ? 'ReLU mask' : 'relu'}) cannot accumulate into C: it applies to a whole product; run the product, then the activation`);
  }
  if (reluMask) {
    // The mask sits in the bias's binding (a compatibility adapter allows 4 storage buffers per stage).
    if (args.bias) throw new RangeError(`${name}: the ReLU mask epilogue takes no bias (the backward product dX = dY·W has none)`);
    need('ReLU mask', reluMask, lastOffset(batch.c, 'c') + (M - 1) * ldc + N);
    assertNoOverlap(name, [['C', args.c]], [['ReLU mask', reluMask]]);
  }

  const tuning = matmulTuning(ctx);
  const packed = !args.batch && args.lda === undefined && args.ldb === undefined;
  // An explicit workgroup (a benchmark's) is a forced choice: autotune does not override it.
  const tuned = variant === 'blocked' && args.workgroup === undefined
    ? await autotunedCandidate(ctx, tuning, args, transA, transB, batch.count, packed)
    : undefined;
  const tableEntry = matmulEntry(tuned?.variant ?? variant, tuning, { M, N, K, transA, transB, packed });
  // The subgroup entries load vec4f where every row and batch of A and B starts on 16 bytes (same results, faster).
  const entry = isSubgroupEntry(tableEntry) && subgroupVec4Fits(tableEntry, N, K, lda, ldb, ldc, batch) ? `${tableEntry as SubgroupEntry}4` as const : tableEntry;
  if (entry === 'main_vec4' && (args.batch || args.lda !== undefined || args.ldb !== undefined)) {
    throw new RangeError(`${name}: variant 'blocked-vec4' takes packed, unbatched A and B; use variant 'blocked'`);
  }
  if (entry === 'main_vec4' && !matmulVec4Fits(M, K, transA)) {
    throw new RangeError(
      `${name}: variant 'blocked-vec4' needs K % 4 == 0${transA ? ' and M % 4 == 0 (transA)' : ''} ` +
        `(got M=${M} K=${K}); use variant 'blocked', which falls back to scalar loads`,
    );
  }
  if (isSubgroupEntry(entry)) {
    if (!subgroupMatmulRuns(ctx)) {
      throw new RangeError(`${name}: variant 'subgroup' needs a device with the 'subgroups' feature and subgroups of ` +
        `${SUBGROUP_LANES} or more lanes (this adapter: ${ctx.device.features.has('subgroups') ? `smallest subgroup ${ctx.subgroupMinSize}` : 'no subgroups'}); use variant 'blocked'`);
    }
    if (!matmulSubgroupFits({ M, N, K, transA, transB })) {
      throw new RangeError(`${name}: variant 'subgroup' ${transA && transB ? 'has no Aᵀ·Bᵀ form' : `needs N % 4 == 0${transA ? ' and M % 4 == 0 (transA)' : ''}`} ` +
        `(got M=${M} N=${N}); use variant 'blocked'`);
    }
    if (args.workgroup !== undefined && args.workgroup !== SUBGROUP_LANES) {
      throw new RangeError(`${name}: variant 'subgroup' has a fixed workgroup of ${SUBGROUP_LANES} lanes (got workgroup ${args.workgroup}); pass ${SUBGROUP_LANES} or none`);
    }
  }
  if (entry === 'tiled' && args.workgroup !== undefined && args.workgroup !== TILED_WORKGROUP) {
    throw new RangeError(`${name}: variant 'tiled' has a fixed 16×16 workgroup (got workgroup ${args.workgroup}); pass ${TILED_WORKGROUP} or none`);
  }
  const constants: Record<string, number | boolean> = { TRANS_A: transA, TRANS_B: transB };
  if (entry === 'main' || entry === 'main_vec4') constants.WG = args.workgroup ?? tuned?.workgroup ?? blockedWorkgroup(tuning, N);
  if (entry === 'narrow') constants.WG = args.workgroup ?? tuned?.workgroup ?? tuning.narrowWorkgroup;
  const wg = constants.WG as number | undefined;
  const pipeline = await ctx.pipelines.get({ shader: isSubgroupEntry(entry) ? SUBGROUP_SHADER : SHADER, entry, constants });

  const flags = (args.accumulate ? 1 : 0) | (args.bias ? 2 : 0) | (args.epilogue === 'relu' ? 4 : 0) | (reluMask ? 8 : 0);
  const offsets = (o: MatmulBatchOperand) => [{ u32: o.base }, { u32: o.outer }, { u32: o.innerStride }];
  const params = uniformBuffer(ctx, `${name} params`, [
    { u32: M }, { u32: N }, { u32: K }, { u32: lda }, { u32: ldb }, { u32: ldc }, { u32: flags }, { u32: batch.inner },
    ...offsets(batch.a), ...offsets(batch.b), ...offsets(batch.c), { u32: 0 }, { u32: 0 }, { u32: 0 },
  ]);
  const side = args.bias ?? reluMask ?? dummy(ctx);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.a, args.b, side, args.c]);
  return {
    label: name, pipeline, bindGroup, workgroups: matmulWorkgroups(entry, wg ?? 0, M, N, batch.count),
    matmul: { M, N, K, batch: batch.count, transA, transB, entry },
  };
}

function matmulWorkgroups(entry: MatmulEntry, wg: number, M: number, N: number, batches: number): [number, number, number] {
  switch (entry) {
    case 'main':
    case 'main_vec4':
      return [ceilDiv(N, BLOCK_COLS * wg), ceilDiv(M, BLOCK_ROWS), batches];
    case 'narrow':
      return [ceilDiv(M, NARROW_ROWS * wg), ceilDiv(N, NARROW_COLS), batches];
    case 'naive':
      return [ceilDiv(N, 8), ceilDiv(M, 8), batches];
    case 'tiled':
      return [ceilDiv(N, TILED_BLOCK), ceilDiv(M, TILED_BLOCK), batches];
    case 'sub_abt':
    case 'sub_ab':
    case 'sub_atb':
    case 'sub_abt4':
    case 'sub_ab4':
    case 'sub_atb4':
      return [ceilDiv(N, SUBGROUP_COLS), ceilDiv(M, SUBGROUP_ROWS), batches];
  }
}

function isSubgroupEntry(entry: MatmulEntry): boolean {
  return entry.startsWith('sub_');
}

/**
 * Whether a subgroup entry's vec4f version can run: A's, B's and C's row lengths and batch offsets
 * are multiples of 4 floats, N is (a lane stores 4 adjacent columns), and K too where k goes 4 at a
 * time (not `sub_atb`, which takes one k a step).
 */
function subgroupVec4Fits(entry: MatmulEntry, N: number, K: number, lda: number, ldb: number, ldc: number, batch: MatmulBatch): boolean {
  const offsets = [batch.a, batch.b, batch.c].flatMap((o) => [o.base, o.outer, o.innerStride]);
  return [N, lda, ldb, ldc, ...offsets].every((v) => v % 4 === 0) && (entry === 'sub_atb' || K % 4 === 0);
}

const NO_OFFSET: MatmulBatchOperand = { base: 0, outer: 0, innerStride: 0 };

const dummies = new WeakMap<GpuContext, GPUBuffer>();
/** A placeholder for optional bindings the kernel ignores. */
export function dummy(ctx: GpuContext): GPUBuffer {
  let buffer = dummies.get(ctx);
  if (!buffer) {
    buffer = createStorage(ctx, 'unused binding', 16);
    dummies.set(ctx, buffer);
  }
  return buffer;
}
