// A worker's view of its data, whichever the model reads: the MLP's samples (a ShardedLoader over
// --data) or the GPT's byte windows (a ByteWindowLoader over --text or the Brown corpus). The loop
// asks it for micro-batch `position` of the run; evaluation asks it for the held-out batches.
import type { Batch } from '../data/batch.js';
import { evalBatches, ShardedLoader } from '../data/loader.js';
import type { DataShape } from '../nn/model.js';
import type { TrainConfig } from './config.js';
import { loadTrainingData } from './data.js';
import { ByteWindowLoader, loadTextData, textDataShape, toTokenBatch, validationBatches } from './text-data.js';

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

export async function prepareTrainingData(config: TrainConfig, rank: number, worldSize: number): Promise<TrainingData> {
  if (config.model.kind === 'gpt') return textTrainingData(config, config.model.blockSize, rank, worldSize);
  const data = await loadTrainingData(config);
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

/**
 * Byte windows: micro-batch `position` is ByteWindowLoader's batch `position` (random windows drawn
 * from a stream seeded by (seed + rank, position), or with --no-shuffle the consecutive windows),
 * so a resumed run reads what an uninterrupted one would. An epoch is one pass of consecutive windows.
 */
function textTrainingData(config: TrainConfig, blockSize: number, rank: number, worldSize: number): TrainingData {
  const text = loadTextData({ text: config.text, valText: config.valText, procs: worldSize, valWindows: config.valWindows }, blockSize);
  const loader = new ByteWindowLoader(text.split.train, { rank, worldSize, batchSize: config.batchSize, blockSize, shuffle: config.shuffle, seed: config.seed });
  const batchesPerEpoch = Math.max(1, Math.floor(loader.windowsPerPass / config.batchSize));
  const evalBatchSize = Math.min(config.evalBatchSize, text.validationWindows);
  return {
    description: text.description,
    shape: textDataShape(blockSize),
    trainSamples: loader.windowsPerPass * worldSize,
    testSamples: text.validationWindows,
    batchesPerEpoch,
    batchAt: (position) => ({ batch: toTokenBatch(loader.batch(position)), epoch: Math.floor(position / batchesPerEpoch) }),
    evalBatchSize,
    evalBatches: () => validationBatches(text, blockSize, evalBatchSize),
  };
}
