// Softmax cross-entropy: loss statistics and dlogits in one fused, max-subtracted pass.
// See shaders/cross-entropy.wgsl.
import code from '../../shaders/cross-entropy.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'cross-entropy.wgsl', code };
const WORKGROUP = 64;

export interface SoftmaxCrossEntropyArgs {
  /** [rows, classes] row-major. */
  logits: TensorRef;
  /** [rows] u32 class indices. A label >= classes gives that row a NaN loss and NaN dlogits. */
  labels: TensorRef;
  /** [rows, classes], always overwritten: (softmax − one-hot) · gradScale. */
  dlogits: TensorRef;
  /** [2·rows]: per row (loss, 1 if the argmax is right else 0); the caller sums them when it logs. */
  stats: TensorRef;
  rows: number;
  classes: number;
  /** 1/(rows · gradAccumSteps) for the gradient of the mean loss over an accumulated batch. */
  gradScale: number;
  /** Add into stats instead of overwriting them (accumulation over micro-batches and steps). */
  accumulateStats: boolean;
  label?: string;
}

export async function prepareSoftmaxCrossEntropy(ctx: GpuContext, args: SoftmaxCrossEntropyArgs): Promise<Dispatch> {
  const { rows, classes, gradScale } = args;
  const name = args.label ?? 'softmax_cross_entropy';
  assertWholeNumber(name, 'rows', rows, 1);
  assertWholeNumber(name, 'classes', classes, 1);
  if (!Number.isFinite(gradScale)) {
    throw new RangeError(`${name}: gradScale must be a finite number, usually 1/(rows·gradAccumSteps) (got ${gradScale})`);
  }
  const need = (what: string, ref: TensorRef, elements: number, unit = 'floats') =>
    assertHolds(name, what, ref, elements, `rows=${rows} classes=${classes}`, unit);
  need('logits', args.logits, rows * classes);
  need('labels', args.labels, rows, 'u32 labels');
  need('dlogits', args.dlogits, rows * classes);
  need('stats', args.stats, 2 * rows);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'main', constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [
    { u32: rows }, { u32: classes }, { u32: args.accumulateStats ? 1 : 0 }, { f32: gradScale },
  ]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.logits, args.labels, args.dlogits, args.stats]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(rows, WORKGROUP) };
}
