// The global gradient norm over several tensors and clipping by it (PyTorch's clip_grad_norm_),
// entirely on the GPU: a deterministic two-pass reduction, then an in-place scale that reads the
// clip coefficient from a GPU buffer, so a training step needs no read-back. See shaders/grad-norm.wgsl.
import code from '../../shaders/grad-norm.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createStorage } from '../gpu/buffers.js';
import { createBindGroup, ceilDiv, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'grad-norm.wgsl', code };
const WORKGROUP = 256;
/** Elements per invocation in pass 1, the shader's PER; each invocation writes one partial sum. */
const PER = 64;

export interface GradTensor {
  grads: TensorRef;
  /** Elements of `grads` that count (a flat buffer's whole gradient, or one tensor of it). */
  count: number;
}

export interface GradNormClipArgs {
  /** The tensors whose joint L2 norm is taken and which are scaled; usually the one flat gradient buffer. */
  tensors: readonly GradTensor[];
  /** PyTorch's max_norm (nanoGPT's grad_clip, 1.0). */
  maxNorm: number;
  /** [2] f32 output: (norm before clipping, the scale applied). Read it back only when logging. */
  clip: TensorRef;
  label?: string;
}

export interface PreparedGradNormClip {
  /** Pass 1 per tensor, then pass 2: clip[0..2) = (norm, scale). Gradients are not changed. */
  norm: Dispatch[];
  /** grads *= clip[1] for every tensor; encode after `norm`. */
  scale: Dispatch[];
  /** norm then scale: clip_grad_norm_ in one list. */
  dispatches: Dispatch[];
}

export async function prepareGradNormClip(ctx: GpuContext, args: GradNormClipArgs): Promise<PreparedGradNormClip> {
  const name = args.label ?? 'grad_norm_clip';
  if (args.tensors.length === 0) throw new RangeError(`${name}: needs at least one gradient tensor`);
  if (!(Number.isFinite(args.maxNorm) && args.maxNorm > 0)) {
    throw new RangeError(`${name}: maxNorm must be a finite number > 0, e.g. 1.0 (got ${args.maxNorm}); to disable clipping, do not encode these dispatches`);
  }
  args.tensors.forEach((t, i) => {
    assertWholeNumber(name, `tensors[${i}].count`, t.count, 1);
    assertHolds(name, `tensors[${i}].grads`, t.grads, t.count);
  });
  assertHolds(name, 'clip', args.clip, 2, 'its (norm, scale) pair');
  const [partialPipeline, finishPipeline, clipPipeline] = await Promise.all(['partial_sumsq', 'finish', 'clip'].map((entry) =>
    ctx.pipelines.get({ shader: SHADER, entry, constants: { WG: WORKGROUP } })));

  const perTensor = args.tensors.map((t) => ceilDiv(t.count, PER));
  const partialCount = perTensor.reduce((a, b) => a + b, 0);
  const partials = createStorage(ctx, `${name} partial sums of squares`, partialCount * 4);
  const norm: Dispatch[] = [];
  const scale: Dispatch[] = [];
  let offset = 0;
  args.tensors.forEach((t, i) => {
    const label = `${name} sum of squares [${i}]`;
    const params = uniformBuffer(ctx, `${label} params`, [{ u32: t.count }, { u32: offset }]);
    norm.push({
      label, pipeline: partialPipeline,
      bindGroup: createBindGroup(ctx, label, partialPipeline, [params, t.grads, partials]),
      workgroups: grid1d(perTensor[i]!, WORKGROUP),
    });
    offset += perTensor[i]!;
    const clipLabel = `${name} scale [${i}]`;
    const clipParams = uniformBuffer(ctx, `${clipLabel} params`, [{ u32: t.count }]);
    scale.push({
      label: clipLabel, pipeline: clipPipeline,
      bindGroup: createBindGroup(ctx, clipLabel, clipPipeline, [clipParams, args.clip, t.grads]),
      workgroups: grid1d(t.count, WORKGROUP),
    });
  });
  const finishParams = uniformBuffer(ctx, `${name} finish params`, [{ u32: partialCount }, { f32: args.maxNorm }]);
  norm.push({
    label: `${name} finish`, pipeline: finishPipeline,
    bindGroup: createBindGroup(ctx, `${name} finish`, finishPipeline, [finishParams, partials, args.clip]),
    workgroups: [1, 1, 1],
  });
  return { norm, scale, dispatches: [...norm, ...scale] };
}
