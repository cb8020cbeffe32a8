// MNIST's samples, as bytes, into the float training and test sets: the same numbers whether the bytes
// came from the disk (mnist.ts, in Node) or from the master over HTTP (a browser tab), so a tab trains
// on exactly what a Node worker of the same rank would.
import { stratifiedSplit, subset, validateDataset, type DataSplit, type Dataset } from './dataset.js';
import { createRng } from './prng.js';

export const MNIST_FEATURES = 28 * 28;
export const MNIST_CLASSES = 10;

/** Pixel value of byte k, exactly as the package's JSON writes it. */
export const MNIST_PIXEL_VALUES = Float32Array.from({ length: 256 }, (_, k) => Math.round((k * 1000) / 255) / 1000);

export interface MnistSplitOptions {
  /** Default 2000; the rest is the training set. */
  testSamples?: number;
  /** Seed of the split, default 0. */
  seed?: number;
}

/** All samples in package order: [count, 784] pixel bytes (see MNIST_PIXEL_VALUES) and their labels. */
export interface MnistBytes {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export function splitMnist(samples: MnistBytes, opts: MnistSplitOptions = {}): DataSplit {
  const testSamples = opts.testSamples ?? 2000;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(testSamples) || testSamples < 1 || testSamples >= samples.count) {
    throw new Error(`MNIST: testSamples must be an integer from 1 to ${samples.count - 1} (got ${testSamples})`);
  }
  const x = new Float32Array(samples.pixels.length);
  for (let i = 0; i < x.length; i++) x[i] = MNIST_PIXEL_VALUES[samples.pixels[i]!]!;
  const all: Dataset = { name: 'mnist', x, y: Uint32Array.from(samples.labels), count: samples.count, features: MNIST_FEATURES, classes: MNIST_CLASSES };
  // The split depends only on the samples (in package order) and the seed, never on the cache.
  const split = stratifiedSplit(all.y, MNIST_CLASSES, testSamples, createRng(seed));
  const train = subset(all, split.train, 'mnist-train');
  const test = subset(all, split.test, 'mnist-test');
  validateDataset(train, 'mnist');
  validateDataset(test, 'mnist');
  return { train, test };
}

