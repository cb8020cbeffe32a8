// C = op(A)·op(B) (+ bias), optionally accumulating into C. See shaders/matmul.wgsl.
import code from '../../shaders/matmul.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { ceilDiv, createBindGroup, refBytes, refLabel, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { createStorage } from '../gpu/buffers.js';
import { assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'matmul.wgsl', code };
const ROWS_PER_INVOCATION = 8;
const COLS_PER_INVOCATION = 16;

export type MatmulVariant = 'blocked' | 'naive';

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
  variant?: MatmulVariant;
  label?: string;
}

export interface MatmulTuning {
  workgroupX: number;
  workgroupY: number;
}

/** Workgroup shape per adapter: 8×8 measured best on lavapipe; GPUs want more invocations. */
export function matmulTuning(ctx: GpuContext): MatmulTuning {
  return ctx.isCpuAdapter ? { workgroupX: 8, workgroupY: 8 } : { workgroupX: 16, workgroupY: 8 };
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
  const need = (what: string, ref: TensorRef, elements: number) => {
    if (refBytes(ref) < elements * 4) {
      throw new RangeError(`${name}: ${what} (${refLabel(ref)}) holds ${refBytes(ref) / 4} floats, needs ${elements} for M=${M} N=${N} K=${K}`);
    }
  };
  need('A', args.a, M * K);
  need('B', args.b, K * N);
  need('C', args.c, M * N);
  if (args.bias) need('bias', args.bias, N);

  const tuning = matmulTuning(ctx);
  const constants: Record<string, number | boolean> = { TRANS_A: transA, TRANS_B: transB };
  if (variant === 'blocked') Object.assign(constants, { WG_X: tuning.workgroupX, WG_Y: tuning.workgroupY });
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: variant === 'blocked' ? 'main' : 'naive', constants });

  const flags = (args.accumulate ? 1 : 0) | (args.bias ? 2 : 0);
  const params = uniformBuffer(ctx, `${name} params`, [
    { u32: M }, { u32: N }, { u32: K },
    { u32: transA ? M : K }, // lda: row length of A as stored
    { u32: transB ? K : N }, // ldb
    { u32: N }, // ldc
    { u32: flags }, { u32: 0 },
  ]);
  const bias = args.bias ?? dummy(ctx);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.a, args.b, bias, args.c]);
  const workgroups: [number, number, number] =
    variant === 'blocked'
      ? [ceilDiv(N, COLS_PER_INVOCATION * tuning.workgroupX), ceilDiv(M, ROWS_PER_INVOCATION * tuning.workgroupY), 1]
      : [ceilDiv(N, 8), ceilDiv(M, 8), 1];
  return { label: name, pipeline, bindGroup, workgroups };
}

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
