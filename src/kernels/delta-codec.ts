// The delta codec (--comm-dtype f16|bf16) on the worker's device: f32 deltas from the anchor packed to
// f16/bf16, and the 16-bit update applied to the anchor and the parameters. See shaders/delta-codec.wgsl.
import code from '../../shaders/delta-codec.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'delta-codec.wgsl', code };
const WORKGROUP = 256;

export type HalfDtype = 'f16' | 'bf16';

export interface CompressArgs {
  dtype: HalfDtype;
  /** [count] f32: the worker's parameters. */
  params: TensorRef;
  /** [count] f32: the last averaged parameters. */
  anchor: TensorRef;
  /** [ceil(count/2)] u32: count 16-bit values, two per word, low half first. */
  packed: TensorRef;
  count: number;
  label?: string;
}

export interface PreparedCompress {
  /** packed ← to16(params − anchor). */
  encodeDelta: Dispatch;
  /** anchor ← anchor + from16(packed); params ← anchor. */
  applyUpdate: Dispatch;
}

/** Both entries over one bind group: the buffers of one model's compressed rounds. */
export async function prepareCompress(ctx: GpuContext, args: CompressArgs): Promise<PreparedCompress> {
  const { count, dtype } = args;
  const name = args.label ?? `compress ${dtype}`;
  if (dtype !== 'f16' && dtype !== 'bf16') throw new RangeError(`${name}: dtype must be f16 or bf16 (got ${String(dtype)})`);
  assertWholeNumber(name, 'count', count, 1);
  const words = Math.ceil(count / 2);
  assertHolds(name, 'params', args.params, count);
  assertHolds(name, 'anchor', args.anchor, count);
  assertHolds(name, 'packed', args.packed, words, `count=${count} (two 16-bit values per word)`, 'u32 words');
  const buffers = [args.params, args.anchor, args.packed].map((r) => ('buffer' in r ? r.buffer : r));
  if (new Set(buffers).size !== 3) {
    throw new RangeError(`${name}: params, anchor and packed must be three different buffers (WebGPU forbids binding one buffer twice as writable storage)`);
  }
  const constants = { WG: WORKGROUP, BF16: dtype === 'bf16' };
  const [encode, apply] = await Promise.all([
    ctx.pipelines.get({ shader: SHADER, entry: 'encode_delta', constants }),
    ctx.pipelines.get({ shader: SHADER, entry: 'apply_update', constants }),
  ]);
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: count }]);
  const refs = [params, args.params, args.anchor, args.packed];
  const workgroups = grid1d(words, WORKGROUP);
  return {
    encodeDelta: { label: `${name} encode_delta`, pipeline: encode, bindGroup: createBindGroup(ctx, `${name} encode_delta`, encode, refs), workgroups },
    applyUpdate: { label: `${name} apply_update`, pipeline: apply, bindGroup: createBindGroup(ctx, `${name} apply_update`, apply, refs), workgroups },
  };
}
