// A language model's per-sequence [loss, correct] sums, added on the GPU across micro-batches and
// steps so that the log reads them back only when it prints. See shaders/token-stats.wgsl.
import code from '../../shaders/token-stats.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, grid1d, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { assertNoOverlap } from './overlap.js';
import { assertHolds, assertWholeNumber, uniformBuffer } from './uniforms.js';

const SHADER = { file: 'token-stats.wgsl', code };
const WORKGROUP = 64;

export interface TokenStatsArgs {
  /** [rows·positions, vocab] row-major. */
  logits: TensorRef;
  /** [rows·positions] u32 target ids. */
  targets: TensorRef;
  /** [rows·positions]: each position's cross-entropy (vocab-cross-entropy's `losses`). */
  losses: TensorRef;
  /** [rows, 2], added to: each sequence's loss sum and count of correct next-token predictions. */
  stats: TensorRef;
  /** Sequences. */
  rows: number;
  /** Positions per sequence (T). */
  positions: number;
  vocab: number;
  label?: string;
}

export async function prepareTokenStats(ctx: GpuContext, args: TokenStatsArgs): Promise<Dispatch> {
  const { rows, positions, vocab } = args;
  const name = args.label ?? 'token_stats';
  assertWholeNumber(name, 'rows', rows, 1);
  assertWholeNumber(name, 'positions', positions, 1);
  assertWholeNumber(name, 'vocab', vocab, 1);
  const shape = `rows=${rows} positions=${positions} vocab=${vocab}`;
  const n = rows * positions;
  assertHolds(name, 'logits', args.logits, n * vocab, shape);
  assertHolds(name, 'targets', args.targets, n, shape, 'u32 targets');
  assertHolds(name, 'losses', args.losses, n, shape);
  assertHolds(name, 'stats', args.stats, 2 * rows, shape);
  assertNoOverlap(name, [['stats', args.stats]], [['logits', args.logits], ['targets', args.targets], ['losses', args.losses]]);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'main', constants: { WG: WORKGROUP } });
  const params = uniformBuffer(ctx, `${name} params`, [{ u32: rows }, { u32: positions }, { u32: vocab }, { u32: 0 }]);
  const bindGroup = createBindGroup(ctx, name, pipeline, [params, args.logits, args.targets, args.losses, args.stats]);
  return { label: name, pipeline, bindGroup, workgroups: grid1d(rows, WORKGROUP) };
}
