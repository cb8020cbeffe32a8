// The residual connection y = a + b and its backward (da (+)= dy, db (+)= dy). See shaders/residual.wgsl.
import code from '../../shaders/residual.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, gridOfQuads, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertNoOverlap } from './overlap.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'residual.wgsl', code };
const WORKGROUP = 256;

export interface ResidualAddArgs {
  a: TensorRef;
  b: TensorRef;
  /** Written: a + b. Must not overlap a or b (WebGPU forbids it). */
  y: TensorRef;
  count: number;
  label?: string;
}

export interface ResidualBackwardArgs {
  dy: TensorRef;
  /** Gradient of the first input (the skip connection): dy, or dy added to what it holds. */
  da: TensorRef;
  /** Gradient of the second input (the branch): dy, or dy added to what it holds. */
  db: TensorRef;
  count: number;
  /** Add into da instead of overwriting it. */
  accumulateA: boolean;
  /** Add into db instead of overwriting it. */
  accumulateB: boolean;
  label?: string;
}

export async function prepareResidualAdd(ctx: GpuContext, args: ResidualAddArgs): Promise<Dispatch> {
  const name = args.label ?? 'residual_add';
  const tensors: [string, TensorRef][] = [['a', args.a], ['b', args.b], ['y', args.y]];
  validate(name, args.count, tensors);
  assertNoOverlap(name, [['y', args.y]], [['a', args.a], ['b', args.b]]);
  return prepare(ctx, name, 'forward', args.count, 0, tensors);
}

export async function prepareResidualBackward(ctx: GpuContext, args: ResidualBackwardArgs): Promise<Dispatch> {
  const name = args.label ?? 'residual_backward';
  const tensors: [string, TensorRef][] = [['dy', args.dy], ['da', args.da], ['db', args.db]];
  validate(name, args.count, tensors);
  assertNoOverlap(name, [['da', args.da], ['db', args.db]], [['dy', args.dy]]);
  const flags = (args.accumulateA ? 1 : 0) | (args.accumulateB ? 2 : 0);
  return prepare(ctx, name, 'backward', args.count, flags, tensors);
}

function validate(name: string, count: number, tensors: [string, TensorRef][]): void {
  assertWholeNumber(name, 'count', count, 1);
  for (const [what, ref] of tensors) assertHolds(name, what, ref, count);
}

async function prepare(
  ctx: GpuContext, name: string, entry: 'forward' | 'backward', count: number, flags: number, tensors: [string, TensorRef][],
): Promise<Dispatch> {
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry, constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: count }, { u32: flags }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, ...tensors.map(([, ref]) => ref)]);
  return { label: name, pipeline, bindGroup, workgroups: gridOfQuads(count, WORKGROUP) };
}
