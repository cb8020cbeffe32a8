// Chooses the data set a run trains on: real MNIST by default, a synthetic task, or the user's file.
import { loadMnist } from '../data/mnist.js';
import { makeSynthetic } from '../data/synthetic.js';
import { loadDataFile } from '../data/user-data.js';
import { subset, type DataSplit, type Dataset } from '../data/dataset.js';
import { createRng, shuffleInPlace } from '../data/prng.js';

export interface DataChoice {
  data: string;
  evalData?: string | undefined;
  syntheticSamples: number;
  syntheticFeatures: number;
  syntheticClasses: number;
  /** --classes: the class count of a data FILE, when its labels do not show it. */
  classes?: number | undefined;
  seed: number;
}

/** Fraction of a user file held out for evaluation when no --eval-data is given. */
const HOLDOUT = 0.2;

export async function loadTrainingData(c: DataChoice): Promise<DataSplit> {
  if (c.data === 'mnist') return loadMnist();
  if (c.data === 'synthetic') {
    return makeSynthetic({
      trainSamples: c.syntheticSamples,
      testSamples: Math.max(1, Math.round(c.syntheticSamples / 4)),
      features: c.syntheticFeatures,
      classes: c.syntheticClasses,
      // The task is fixed by its own seed, not the run's, so runs with different seeds learn the same task.
      seed: 1234,
    });
  }
  const train = loadDataFile(c.data, { classes: c.classes });
  if (c.evalData) {
    const test = loadDataFile(c.evalData, { classes: train.classes });
    if (test.features !== train.features) {
      throw new Error(`--eval-data ${c.evalData} has ${test.features} features but --data ${c.data} has ${train.features}; they must match`);
    }
    return { train, test };
  }
  return holdOut(train, c.seed);
}

/** A seeded split of one data set into train and test. */
function holdOut(d: Dataset, seed: number): DataSplit {
  const order = new Uint32Array(d.count).map((_, i) => i);
  shuffleInPlace(order, createRng(seed ^ 0x5eed));
  const testCount = Math.max(1, Math.floor(d.count * HOLDOUT));
  return {
    train: subset(d, order.subarray(testCount), `${d.name} (train)`),
    test: subset(d, order.subarray(0, testCount), `${d.name} (held out)`),
  };
}
