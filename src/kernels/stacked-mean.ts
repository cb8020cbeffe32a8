// output = the mean of n stacked vectors, on the GPU. Not what a run uses: the coordinator averages on
// the CPU in float64 (comm/reduce.ts), which measured as fast for this memory-bound job (bench:kernels
// times both); kept as that benchmark's GPU side and as the GC-hazard test's workload.
// See shaders/stacked-mean.wgsl.
import code from '../../shaders/stacked-mean.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, refLabel, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'stacked-mean.wgsl', code };
const WORKGROUP = 256;

export interface StackedMeanArgs {
  /** [n, count] row-major: vector r at floats r·count ... */
  inputs: TensorRef;
  /** [count]; a different buffer from inputs. */
  output: TensorRef;
  count: number;
  n: number;
  label?: string;
}

export async function prepareStackedMean(ctx: GpuContext, args: StackedMeanArgs): Promise<Dispatch> {
  const { count, n } = args;
  const name = args.label ?? 'average';
  assertWholeNumber(name, 'count', count, 1);
  assertWholeNumber(name, 'n', n, 1);
  if (n * count > 0xffffffff) {
    throw new RangeError(`${name}: n·count = ${n * count} elements overflows the kernel's 32-bit index; average fewer or smaller vectors per dispatch`);
  }
  const need = (what: string, ref: TensorRef, elements: number) => assertHolds(name, what, ref, elements, `n=${n} count=${count}`);
  need('inputs', args.inputs, n * count);
  need('output', args.output, count);
  if (bufferOf(args.inputs) === bufferOf(args.output)) {
    throw new RangeError(`${name}: output and inputs are the same buffer (${refLabel(args.output)}); WebGPU cannot bind one buffer as both read-only and writable storage in a dispatch, so give the output its own buffer`);
  }
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'main', constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: count }, { u32: n }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.inputs, args.output]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(count, WORKGROUP) };
}

function bufferOf(ref: TensorRef): GPUBuffer {
  return 'buffer' in ref ? ref.buffer : ref;
}
