// PyTorch DistributedSampler semantics (drop_last=True) with fixed-size batches: each rank gets a
// disjoint, equally long shard, and every epoch the same seeded permutation is computed on every
// rank, so no process has to tell another which samples it took.
import type { FeatureBatch } from './batch.js';
import type { Dataset } from './dataset.js';
import { createRng, shuffleInPlace } from './prng.js';

export interface LoaderOptions {
  rank: number;
  worldSize: number;
  batchSize: number;
  shuffle: boolean;
  seed: number;
}

export class ShardedLoader {
  /** floor(count / worldSize): the data is cut to a multiple of worldSize so shards are equal. */
  readonly samplesPerRank: number;
  /**
   * floor(samplesPerRank / batchSize). The last partial batch is dropped: the GPU buffers are
   * preallocated for one batch size, and every rank must take the same number of steps, or the
   * averaging rounds of Local SGD would wait forever for a rank that finished early.
   */
  readonly batchesPerEpoch: number;

  readonly #dataset: Dataset;
  readonly #opts: LoaderOptions;
  readonly #x: Float32Array;
  readonly #y: Uint32Array;
  #epoch = -1;
  #shard: Uint32Array;

  constructor(dataset: Dataset, opts: LoaderOptions) {
    const { rank, worldSize, batchSize, seed } = opts;
    const name = `data set "${dataset.name}"`;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new Error(`ShardedLoader: worldSize must be an integer ≥ 1 (got ${worldSize})`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new Error(`ShardedLoader: rank must be an integer from 0 to worldSize-1 = ${worldSize - 1} (got ${rank})`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`ShardedLoader: batch size must be an integer ≥ 1 (got ${batchSize}); set --batch-size`);
    if (!Number.isFinite(seed)) throw new Error(`ShardedLoader: seed must be a finite number (got ${seed})`);
    this.samplesPerRank = Math.floor(dataset.count / worldSize);
    if (this.samplesPerRank === 0) {
      throw new Error(`ShardedLoader: ${name} has ${dataset.count} samples, fewer than the ${worldSize} processes; use fewer --procs or more data`);
    }
    if (batchSize > this.samplesPerRank) {
      throw new Error(
        `ShardedLoader: batch size ${batchSize} is larger than the ${this.samplesPerRank} samples each of ${worldSize} processes gets from ${name} ` +
          `(${dataset.count} samples); use --batch-size ${this.samplesPerRank} or less, or fewer --procs`,
      );
    }
    this.batchesPerEpoch = Math.floor(this.samplesPerRank / batchSize);
    this.#dataset = dataset;
    this.#opts = { ...opts };
    this.#x = new Float32Array(batchSize * dataset.features);
    this.#y = new Uint32Array(batchSize);
    this.#shard = new Uint32Array(this.samplesPerRank);
  }

  /** Batch `index` (0-based) of `epoch`, copied into the loader's own reusable arrays (no allocation per batch); the views are valid until the next call. */
  batch(epoch: number, index: number): FeatureBatch {
    if (!Number.isInteger(index) || index < 0 || index >= this.batchesPerEpoch) {
      throw new Error(`ShardedLoader.batch: index must be an integer from 0 to ${this.batchesPerEpoch - 1} (got ${index}); an epoch has ${this.batchesPerEpoch} batches`);
    }
    const shard = this.#shardFor(epoch);
    const { batchSize } = this.#opts;
    const { x, y, features } = this.#dataset;
    for (let row = 0; row < batchSize; row++) {
      const sample = shard[index * batchSize + row]!;
      this.#x.set(x.subarray(sample * features, (sample + 1) * features), row * features);
      this.#y[row] = y[sample]!;
    }
    return { x: this.#x, y: this.#y, size: batchSize };
  }

  /** Dataset indices of this rank's shard for `epoch`, in order (for tests and resume). */
  shardIndices(epoch: number): Uint32Array {
    return this.#shardFor(epoch).slice();
  }

  #shardFor(epoch: number): Uint32Array {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`ShardedLoader: epoch must be an integer ≥ 0 (got ${epoch})`);
    if (epoch === this.#epoch) return this.#shard;
    const { rank, worldSize, shuffle, seed } = this.#opts;
    // As DistributedSampler does: permute all samples, then cut the tail, so the few samples
    // dropped to make shards equal differ from epoch to epoch.
    const order = new Uint32Array(this.#dataset.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (shuffle) shuffleInPlace(order, createRng(seed + epoch));
    for (let i = 0; i < this.samplesPerRank; i++) this.#shard[i] = order[rank + i * worldSize]!;
    this.#epoch = epoch;
    return this.#shard;
  }
}

/**
 * Every sample exactly once, in order, in batches of `batchSize`. The last batch may be partial:
 * its arrays are still batchSize long, zero-padded, and `size` says how many rows are real, since
 * the GPU evaluates fixed-size batches and the caller ignores padded rows. The arrays are reused
 * from batch to batch; copy them to keep one.
 */
export function* evalBatches(dataset: Dataset, batchSize: number): Generator<FeatureBatch, void, undefined> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`evalBatches: batch size must be an integer ≥ 1 (got ${batchSize})`);
  const { features, count } = dataset;
  const x = new Float32Array(batchSize * features);
  const y = new Uint32Array(batchSize);
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    x.set(dataset.x.subarray(start * features, (start + size) * features));
    y.set(dataset.y.subarray(start, start + size));
    if (size < batchSize) {
      x.fill(0, size * features);
      y.fill(0, size);
    }
    yield { x, y, size };
  }
}
