// Cross-entropy over the vocabulary for every position, one workgroup per row: per-row losses and
// dlogits in one max-subtracted pass. See shaders/vocab-cross-entropy.wgsl.
import code from '../../shaders/vocab-cross-entropy.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'vocab-cross-entropy.wgsl', code };
/**
 * Invocations per row (a power of two). 8 is lavapipe's SIMD width, where a barrier costs least:
 * at 768×256, 8 measured 3.3–8 ms, 32 5.8 ms, 64 9 ms (a loaded 2-core machine; the MLP's
 * one-invocation-per-row kernel 1.5–3.9 ms at the same shape). A real GPU wants 64–256 here.
 */
const WORKGROUP = 8;

export interface VocabCrossEntropyArgs {
  /** [rows, vocab] row-major. */
  logits: TensorRef;
  /** [rows] u32 target token ids; one >= vocab gives that row a NaN loss and NaN dlogits. */
  targets: TensorRef;
  /** [rows, vocab], always overwritten: (softmax − one-hot) · gradScale. May not alias logits. */
  dlogits: TensorRef;
  /** [rows]: each row's loss (not the mean; the caller sums and divides when it logs). */
  losses: TensorRef;
  rows: number;
  vocab: number;
  /** 1/(rows · gradAccumSteps) for the gradient of the mean loss over an accumulated batch. */
  gradScale: number;
  /** Add into losses instead of overwriting them (micro-batches after the first). */
  accumulateLoss: boolean;
  label?: string;
}

export async function prepareVocabCrossEntropy(ctx: GpuContext, args: VocabCrossEntropyArgs): Promise<Dispatch> {
  const { rows, vocab, gradScale } = args;
  const name = args.label ?? 'vocab_cross_entropy';
  assertWholeNumber(name, 'rows', rows, 1);
  assertWholeNumber(name, 'vocab', vocab, 1);
  if (!Number.isFinite(gradScale)) {
    throw new RangeError(`${name}: gradScale must be a finite number, usually 1/(rows·gradAccumSteps) (got ${gradScale})`);
  }
  const need = (what: string, ref: TensorRef, elements: number, unit = 'floats') =>
    assertHolds(name, what, ref, elements, `rows=${rows} vocab=${vocab}`, unit);
  need('logits', args.logits, rows * vocab);
  need('targets', args.targets, rows, 'u32 targets');
  need('dlogits', args.dlogits, rows * vocab);
  need('losses', args.losses, rows);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'main', constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [
    { u32: rows }, { u32: vocab }, { u32: args.accumulateLoss ? 1 : 0 }, { f32: gradScale },
  ]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.logits, args.targets, args.dlogits, args.losses]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(rows, 1) };
}
