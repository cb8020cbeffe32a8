// A worker's view of its data, whichever the model reads: the MLP's samples (a ShardedLoader over
// --data) or the GPT's byte windows (a ByteWindowLoader over --text or the Brown corpus). The loop
// asks it for micro-batch `position` of the run; evaluation asks it for the held-out batches. Where the
// samples come from (the disk, or the master over HTTP for a browser tab) is the platform's business
// (worker-platform.ts): this module imports nothing of Node.
import type { Batch } from '../data/batch.js';
import type { DataSplit } from '../data/dataset.js';
import { evalBatches, ShardedLoader } from '../data/loader.js';
import type { DataShape } from '../nn/model.js';
import type { TrainConfig } from './config.js';

export interface TrainingData {
  /** For the log: the data set, or the text (where it lies) and its validation sample. */
  description: string;
  shape: DataShape;
  /** Samples (windows, for text) of one pass over all ranks' training data, and of the held-out set. */
  trainSamples: number;
  testSamples: number;
  /** Micro-batches of one pass over this rank's part. */
  batchesPerEpoch: number;
  /** Micro-batch `position` of the run (its epochs laid end to end), and the epoch it belongs to. */
  batchAt(position: number): { batch: Batch; epoch: number };
  /** Rows of the evaluation graph. */
  evalBatchSize: number;
  /** The held-out data in batches of evalBatchSize rows (the last may be partial). */
  evalBatches(): Iterable<Batch>;
}

/** Rank `rank`'s view of a split of samples (the MLP's data): a ShardedLoader over its training set. */
export function shardedTrainingData(data: DataSplit, config: TrainConfig, rank: number, worldSize: number): TrainingData {
  const loader = new ShardedLoader(data.train, { batchSize: config.batchSize, shuffle: config.shuffle, seed: config.seed, rank, worldSize });
  const evalBatchSize = Math.min(config.evalBatchSize, data.test.count);
  return {
    description: data.train.name,
    shape: { features: data.train.features, classes: data.train.classes },
    trainSamples: data.train.count,
    testSamples: data.test.count,
    batchesPerEpoch: loader.batchesPerEpoch,
    batchAt: (position) => {
      const epoch = Math.floor(position / loader.batchesPerEpoch);
      return { batch: loader.batch(epoch, position % loader.batchesPerEpoch), epoch };
    },
    evalBatchSize,
    evalBatches: () => evalBatches(data.test, evalBatchSize),
  };
}
