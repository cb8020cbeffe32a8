// db[j] (+)= Σ_i dy[i, j], the bias gradient of a linear layer. See shaders/bias-grad.wgsl.
import code from '../../shaders/bias-grad.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, gridOfQuads, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'bias-grad.wgsl', code };
/** The shader's WG: 4 columns per invocation, so a layer of 128 columns is 4 workgroups. */
const WORKGROUP = 8;

export interface BiasGradArgs {
  /** [rows, cols] row-major: the layer's output gradient. */
  dy: TensorRef;
  /** [cols]. */
  db: TensorRef;
  rows: number;
  cols: number;
  /** Add into db instead of overwriting it (gradient accumulation over micro-batches). */
  accumulate: boolean;
  label?: string;
}

export async function prepareBiasGrad(ctx: GpuContext, args: BiasGradArgs): Promise<Dispatch> {
  const { rows, cols } = args;
  const name = args.label ?? 'bias_grad';
  assertWholeNumber(name, 'rows', rows, 1);
  assertWholeNumber(name, 'cols', cols, 1);
  const need = (what: string, ref: TensorRef, elements: number) => assertHolds(name, what, ref, elements, `rows=${rows} cols=${cols}`);
  need('dy', args.dy, rows * cols);
  need('db', args.db, cols);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'main', constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: rows }, { u32: cols }, { u32: args.accumulate ? 1 : 0 }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.dy, args.db]);
  return { label: name, pipeline, bindGroup, workgroups: gridOfQuads(cols, WORKGROUP) };
}
