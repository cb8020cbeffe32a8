// The causal, scaled row softmax of attention and its backward, in place on [Z, T, T] score
// matrices. See shaders/softmax.wgsl.
import code from '../../shaders/softmax.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { bindingResource, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'softmax.wgsl', code };

export interface CausalSoftmaxArgs {
  /** Z = batch·heads matrices of T × T. */
  matrices: number;
  T: number;
  /** Multiplies the scores before the softmax (1/√head width). */
  scale: number;
  /** [Z, T, T]: scores in, probabilities out (forward); dP in, dS out (backward). */
  x: TensorRef;
  /** Forward: [Z·T], overwritten with each row's log Σ exp(scale·score). */
  lse?: TensorRef;
  /** Backward: [Z, T, T], the forward's probabilities. */
  att?: TensorRef;
  label?: string;
}

function prepare(ctx: GpuContext, entry: 'causal_forward' | 'causal_backward', args: CausalSoftmaxArgs, name: string): Promise<Dispatch> {
  const { matrices: Z, T } = args;
  assertWholeNumber(name, 'matrices', Z, 1);
  assertWholeNumber(name, 'T', T, 1);
  if (!Number.isFinite(args.scale)) throw new RangeError(`${name}: scale must be finite (got ${args.scale})`);
  const shape = `matrices=${Z} T=${T}`;
  assertHolds(name, 'x', args.x, Z * T * T, shape);
  const wg = ctx.isCpuAdapter ? 8 : 64;
  return (async () => {
    const pipeline = await ctx.pipelines.get({ shader: SHADER, entry, constants: { WG: wg } });
    const params = uniformBuffer(ctx, `${name} params`, [{ u32: Z * T }, { u32: T }, { f32: args.scale }, { u32: 0 }]);
    const extra: [number, TensorRef] = entry === 'causal_forward' ? [2, args.lse!] : [3, args.att!];
    const bindGroup = ctx.device.createBindGroup({
      label: name,
      layout: pipeline.getBindGroupLayout(0),
      entries: ([[0, params], [1, args.x], extra] as [number, TensorRef][]).map(([binding, ref]) => ({ binding, resource: bindingResource(ref) })),
    });
    return { label: name, pipeline, bindGroup, workgroups: grid1d(Z * T, wg) };
  })();
}

/** P = softmax(scale·S) over s ≤ t per row, in place, and the rows' log-sum-exp. */
export async function prepareCausalSoftmaxForward(ctx: GpuContext, args: CausalSoftmaxArgs & { lse: TensorRef }): Promise<Dispatch> {
  const name = args.label ?? 'causal_softmax_forward';
  assertHolds(name, 'lse', args.lse, args.matrices * args.T, `matrices=${args.matrices} T=${args.T}`);
  return prepare(ctx, 'causal_forward', args, name);
}

/** dS = scale·P∘(dP − Σ_s P·dP) per row, in place over dP. */
export async function prepareCausalSoftmaxBackward(ctx: GpuContext, args: CausalSoftmaxArgs & { att: TensorRef }): Promise<Dispatch> {
  const name = args.label ?? 'causal_softmax_backward';
  assertHolds(name, 'att', args.att, args.matrices * args.T * args.T, `matrices=${args.matrices} T=${args.T}`);
  return prepare(ctx, 'causal_backward', args, name);
}

