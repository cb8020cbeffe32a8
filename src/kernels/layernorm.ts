// LayerNorm over the last dimension (PyTorch's nn.LayerNorm(C): weight, bias, biased variance),
// forward and backward. See shaders/layernorm.wgsl.
import code from '../../shaders/layernorm.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, gridOfQuads, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertNoOverlap } from './overlap.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'layernorm.wgsl', code };
const WORKGROUP = 64;
/** The column kernel's workgroup (the shader's WG_PARAMS): 4 columns per invocation, so 128 columns are 4 workgroups. */
const PARAMS_WORKGROUP = 8;
/** PyTorch's nn.LayerNorm default, and nanoGPT's. */
export const LAYERNORM_EPS = 1e-5;

export interface LayerNormForwardArgs {
  /** [rows, cols] row-major. */
  x: TensorRef;
  /** [cols]. */
  weight: TensorRef;
  /** [cols]. */
  bias: TensorRef;
  /** [rows, cols], written. */
  y: TensorRef;
  /** [rows], written: each row's mean, for the backward. */
  mean: TensorRef;
  /** [rows], written: each row's 1/√(var + eps), for the backward. */
  rstd: TensorRef;
  rows: number;
  cols: number;
  /** Default 1e-5. */
  eps?: number;
  label?: string;
}

export interface LayerNormBackwardArgs {
  /** The forward's input, weight, and its saved mean and rstd. */
  x: TensorRef;
  weight: TensorRef;
  mean: TensorRef;
  rstd: TensorRef;
  /** [rows, cols]: the gradient of the output. */
  dy: TensorRef;
  /** [rows, cols]: the gradient of the input, overwritten or added to (`accumulateDx`). */
  dx: TensorRef;
  /** [cols] each: the parameter gradients, overwritten or added to (`accumulateParams`). */
  dweight: TensorRef;
  dbias: TensorRef;
  rows: number;
  cols: number;
  /** Add into dx: in a transformer dx is the residual stream's gradient, already holding the skip's share. */
  accumulateDx: boolean;
  /** Add into dweight and dbias: gradient accumulation over micro-batches (the first overwrites). */
  accumulateParams: boolean;
  label?: string;
}

export async function prepareLayerNormForward(ctx: GpuContext, args: LayerNormForwardArgs): Promise<Dispatch> {
  const { rows, cols } = args;
  const name = args.label ?? 'layernorm_forward';
  const eps = args.eps ?? LAYERNORM_EPS;
  validateShape(name, rows, cols);
  if (!(Number.isFinite(eps) && eps > 0)) throw new RangeError(`${name}: eps must be a positive number (got ${eps})`);
  const need = needs(name, rows, cols);
  need('x', args.x, rows * cols);
  need('weight', args.weight, cols);
  need('bias', args.bias, cols);
  need('y', args.y, rows * cols);
  need('mean', args.mean, rows);
  need('rstd', args.rstd, rows);
  const reads: [string, TensorRef][] = [['x', args.x], ['weight', args.weight], ['bias', args.bias]];
  assertNoOverlap(name, [['y', args.y], ['mean', args.mean], ['rstd', args.rstd]], reads);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'forward', constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: rows }, { u32: cols }, { u32: 0 }, { f32: eps }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.x, args.weight, args.bias, args.y, args.mean, args.rstd]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(rows, WORKGROUP) };
}

/**
 * Two dispatches, in either order (neither reads what the other writes): dx, one row per
 * invocation, then dweight and dbias, one column per invocation.
 */
export async function prepareLayerNormBackward(ctx: GpuContext, args: LayerNormBackwardArgs): Promise<[Dispatch, Dispatch]> {
  const { rows, cols } = args;
  const name = args.label ?? 'layernorm_backward';
  validateShape(name, rows, cols);
  const need = needs(name, rows, cols);
  need('x', args.x, rows * cols);
  need('weight', args.weight, cols);
  need('mean', args.mean, rows);
  need('rstd', args.rstd, rows);
  need('dy', args.dy, rows * cols);
  need('dx', args.dx, rows * cols);
  need('dweight', args.dweight, cols);
  need('dbias', args.dbias, cols);
  const reads: [string, TensorRef][] = [['x', args.x], ['weight', args.weight], ['mean', args.mean], ['rstd', args.rstd], ['dy', args.dy]];
  assertNoOverlap(name, [['dx', args.dx], ['dweight', args.dweight], ['dbias', args.dbias]], reads);
  const [inputPipeline, paramsPipeline] = await Promise.all([
    ctx.pipelines.get({ shader: SHADER, entry: 'backward_input', constants: { WG: WORKGROUP } }),
    ctx.pipelines.get({ shader: SHADER, entry: 'backward_params', constants: { WG_PARAMS: PARAMS_WORKGROUP } }),
  ]);
  const inputName = `${name} dx`;
  const inputParams = uniformBuffer(ctx, `${inputName} params`, [{ u32: rows }, { u32: cols }, { u32: args.accumulateDx ? 1 : 0 }, { f32: 0 }]);
  const paramsName = `${name} dweight+dbias`;
  const paramsParams = uniformBuffer(ctx, `${paramsName} params`, [{ u32: rows }, { u32: cols }, { u32: args.accumulateParams ? 1 : 0 }, { f32: 0 }]);
  return [
    {
      label: inputName,
      pipeline: inputPipeline,
      bindGroup: createBindGroup(ctx, inputName, inputPipeline, [inputParams, args.x, args.weight, args.mean, args.rstd, args.dy, args.dx]),
      workgroups: grid1d(rows, WORKGROUP),
    },
    {
      label: paramsName,
      pipeline: paramsPipeline,
      bindGroup: createBindGroup(ctx, paramsName, paramsPipeline, [paramsParams, args.x, args.mean, args.rstd, args.dy, args.dweight, args.dbias]),
      workgroups: gridOfQuads(cols, PARAMS_WORKGROUP),
    },
  ];
}

function validateShape(name: string, rows: number, cols: number): void {
  assertWholeNumber(name, 'rows', rows, 1);
  assertWholeNumber(name, 'cols', cols, 1);
}

function needs(name: string, rows: number, cols: number) {
  return (what: string, ref: TensorRef, elements: number) => assertHolds(name, what, ref, elements, `rows=${rows} cols=${cols}`);
}
