// The exact GELU, x·Φ(x) (PyTorch's nn.GELU() default, nanoGPT's), forward and backward.
// See shaders/gelu-erf.wgsl for the erfc approximation and its precision. The tanh approximation
// the MLP uses is activation.ts's 'gelu'.
import code from '../../shaders/gelu-erf.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, gridOfQuads, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertNoOverlap } from './overlap.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'gelu-erf.wgsl', code };
const WORKGROUP = 256;

export interface GeluErfForwardArgs {
  z: TensorRef;
  /** Written: gelu(z). */
  h: TensorRef;
  count: number;
  label?: string;
}

export interface GeluErfBackwardArgs {
  /** The pre-activation saved by the forward pass. */
  z: TensorRef;
  dh: TensorRef;
  /** dh·gelu'(z), or that added to what dz holds. */
  dz: TensorRef;
  count: number;
  /** Add into dz instead of overwriting it. */
  accumulate: boolean;
  label?: string;
}

export function prepareGeluErfForward(ctx: GpuContext, args: GeluErfForwardArgs): Promise<Dispatch> {
  const name = args.label ?? 'gelu_erf_forward';
  assertNoOverlap(name, [['h', args.h]], [['z', args.z]]);
  return prepare(ctx, name, 'forward', args.count, 0, [['z', args.z], ['h', args.h]]);
}

export function prepareGeluErfBackward(ctx: GpuContext, args: GeluErfBackwardArgs): Promise<Dispatch> {
  const name = args.label ?? 'gelu_erf_backward';
  assertNoOverlap(name, [['dz', args.dz]], [['z', args.z], ['dh', args.dh]]);
  return prepare(ctx, name, 'backward', args.count, args.accumulate ? 1 : 0, [['z', args.z], ['dh', args.dh], ['dz', args.dz]]);
}

async function prepare(
  ctx: GpuContext, name: string, entry: 'forward' | 'backward', count: number, flags: number, tensors: [string, TensorRef][],
): Promise<Dispatch> {
  assertWholeNumber(name, 'count', count, 1);
  for (const [what, ref] of tensors) assertHolds(name, what, ref, count);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry, constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: count }, { u32: flags }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, ...tensors.map(([, ref]) => ref)]);
  return { label: name, pipeline, bindGroup, workgroups: gridOfQuads(count, WORKGROUP) };
}
