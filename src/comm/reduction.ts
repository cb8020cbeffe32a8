// What the server does with a completed collective's payloads: the mean (reduce.ts), stepped by
// the outer optimizer (DiLoCo) when there is one, and for compressed 'params' rounds the delta
// codec around it (decode each rank's 16-bit delta onto the anchor, encode the result as the
// update every rank applies). It holds the state that outlives a round: the last mean per tag,
// the anchor, θ. It knows nothing of connections or ranks beyond naming them in errors.
import { DeltaCodec, type CommDtype } from './delta-codec.js';
import type { OuterOptimizer } from './outer-optimizer.js';
import { ProtocolError, type CollectiveKind, type ReduceTag } from './protocol.js';
import { meanOfSums, weightedMeanOf } from './reduce.js';

export interface ReductionOptions {
  /** The workers' --comm-dtype: unless f32, each f32 'params' result is kept as the next round's anchor. */
  commDtype?: CommDtype;
  outerOptimizer?: OuterOptimizer | undefined;
}

export interface Reduced {
  /** The weights (or gradients) every rank holds after the round: the server's buffer, reused next round. */
  result: Float32Array;
  /** A compressed round's 16-bit update, which travels instead of `result`. */
  encoded: Uint8Array | undefined;
  reduceMs: number;
}

export class Reduction {
  private readonly averaged = new Map<ReduceTag, Float32Array>();
  private scratch: Float64Array | undefined;
  private readonly codec = new DeltaCodec();
  private readonly commDtype: CommDtype;
  private readonly outerOptimizer: OuterOptimizer | undefined;

  constructor(options: ReductionOptions) {
    this.commDtype = options.commDtype ?? 'f32';
    this.outerOptimizer = options.outerOptimizer;
  }

  /** The last result for `tag` (the server's buffer), or undefined before the first round. */
  last(tag: ReduceTag): Float32Array | undefined {
    return this.averaged.get(tag);
  }

  /** Keeps `result` (the level above's) as the last result for `tag`, as if reduced here; returns the kept buffer. */
  record(tag: ReduceTag, result: Float32Array): Float32Array {
    let out = this.averaged.get(tag);
    if (out?.length !== result.length) this.averaged.set(tag, (out = new Float32Array(result.length)));
    out.set(result);
    return out;
  }

  /** Throws a ProtocolError naming `rank` unless a frame of `dtype` may be sent in `kind` now. */
  checkDtype(rank: number, what: string, kind: CollectiveKind, dtype: CommDtype): void {
    if (dtype === 'f32') return;
    let why: string | undefined;
    if (kind !== 'params') why = `only 'params' rounds may be compressed`;
    else if (dtype !== this.commDtype) why = `this run's --comm-dtype is ${this.commDtype}`;
    else if (!this.codec.hasAnchor) why = `no f32 'params' round has set the anchor yet (a run's first parameter round travels in f32)`;
    if (why) throw new ProtocolError(`rank ${rank} sent ${what} in ${dtype}, but ${why}`);
  }

  /** A compressed round's delta decoded to weights as it arrives, so reduce() sees float32 weights whatever travelled. */
  decode(rank: number, dtype: Exclude<CommDtype, 'f32'>, payload: Uint8Array, into: Float32Array): Float32Array {
    return this.codec.decode(rank, dtype, payload, into);
  }

  /** A broadcast's data is the weights every worker starts its local steps from: the outer optimizer's θ. */
  broadcast(weights: Float32Array): void {
    this.outerOptimizer?.setGlobal(weights);
  }

  /** Reduces one all-reduce round's inputs (in rank order; `weights` per input, each 1 when absent). */
  reduce(tag: ReduceTag, dtype: CommDtype, inputs: readonly Float32Array[], weights?: readonly number[]): Reduced {
    const t = performance.now();
    const count = inputs[0]!.length;
    return this.finish(tag, dtype, weightedMeanOf(inputs, weights, this.output(tag, count), this.scratchOf(count)), t);
  }

  /** Across machines: the mean from each machine's float64 sum of its workers' tensors (reduce.ts, meanOfSums), `total` workers in all. */
  reduceSums(tag: ReduceTag, sums: readonly Float64Array[], total: number): Reduced {
    const t = performance.now();
    const count = sums[0]!.length;
    return this.finish(tag, 'f32', meanOfSums(sums, total, this.output(tag, count), this.scratchOf(count)), t);
  }

  private output(tag: ReduceTag, count: number): Float32Array {
    let out = this.averaged.get(tag);
    if (out?.length !== count) this.averaged.set(tag, (out = new Float32Array(count)));
    return out;
  }

  private scratchOf(count: number): Float64Array {
    if (!this.scratch || this.scratch.length < count) this.scratch = new Float64Array(count);
    return this.scratch;
  }

  /** The outer step and, for compressed rounds, the 16-bit update: what the mean becomes before it travels. */
  private finish(tag: ReduceTag, dtype: CommDtype, mean: Float32Array, startedAt: number): Reduced {
    let result = mean;
    if (tag === 'params' && this.outerOptimizer) result = this.outerOptimizer.step(result);
    // Compressed rounds: send the 16-bit update from the anchor; `result` becomes the new anchor,
    // the weights every worker will hold. An f32 round's result is the next one's anchor.
    let encoded: Uint8Array | undefined;
    if (dtype !== 'f32') {
      encoded = this.codec.encode(dtype, result);
      // The workers now hold θ rounded through 16 bits (encode wrote it into result); the outer
      // optimizer's θ must be those bytes, or every later Δ would carry the rounding.
      this.outerOptimizer?.setGlobal(result);
    } else if (tag === 'params' && this.commDtype !== 'f32') this.codec.setAnchor(result);
    return { result, encoded, reduceMs: performance.now() - startedAt };
  }
}
