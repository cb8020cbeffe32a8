// h = act(z) and dz = dh · act'(z), element-wise. See shaders/activation.wgsl.
import code from '../../shaders/activation.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'activation.wgsl', code };
const WORKGROUP = 256;

/** gelu is the tanh approximation (PyTorch's GELU(approximate='tanh')). */
export type Activation = 'relu' | 'gelu' | 'none';

const ACTIVATION_CODE: Record<Activation, number> = { none: 0, relu: 1, gelu: 2 };

export interface ActivationForwardArgs {
  z: TensorRef;
  h: TensorRef;
  count: number;
  activation: Activation;
  label?: string;
}

export interface ActivationBackwardArgs {
  /** The pre-activation saved by the forward pass. */
  z: TensorRef;
  dh: TensorRef;
  dz: TensorRef;
  count: number;
  activation: Activation;
  label?: string;
}

export function prepareActivationForward(ctx: GpuContext, args: ActivationForwardArgs): Promise<Dispatch> {
  const name = args.label ?? `${args.activation}_forward`;
  return prepare(ctx, name, 'forward', args.activation, args.count, [['z', args.z], ['h', args.h]]);
}

export function prepareActivationBackward(ctx: GpuContext, args: ActivationBackwardArgs): Promise<Dispatch> {
  const name = args.label ?? `${args.activation}_backward`;
  return prepare(ctx, name, 'backward', args.activation, args.count, [['z', args.z], ['dh', args.dh], ['dz', args.dz]]);
}

async function prepare(
  ctx: GpuContext, name: string, entry: 'forward' | 'backward', activation: Activation, count: number,
  tensors: [string, TensorRef][],
): Promise<Dispatch> {
  const code = ACTIVATION_CODE[activation];
  if (code === undefined) {
    throw new RangeError(`${name}: unknown activation "${String(activation)}"; use one of ${Object.keys(ACTIVATION_CODE).join(', ')}`);
  }
  assertWholeNumber(name, 'count', count, 1);
  for (const [what, ref] of tensors) assertHolds(name, what, ref, count);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry, constants: { ACTIVATION: code, WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: count }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, ...tensors.map(([, ref]) => ref)]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(count, WORKGROUP) };
}
