// The data of a worker in a Node process: the MLP's samples (MNIST, synthetic or --data FILE) or the
// GPT's byte windows (--text FILE or the Brown corpus), read from the disk.
import type { TrainConfig } from './config.js';
import { loadTrainingData } from './data.js';
import { ByteWindowLoader, loadTextData, textDataShape, toTokenBatch, validationBatches } from './text-data.js';
import { shardedTrainingData, type TrainingData } from './training-data.js';

export async function prepareTrainingData(config: TrainConfig, rank: number, worldSize: number): Promise<TrainingData> {
  if (config.model.kind === 'gpt') return textTrainingData(config, config.model.blockSize, rank, worldSize);
  return shardedTrainingData(await loadTrainingData(config), config, rank, worldSize);
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
