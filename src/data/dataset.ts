// The in-memory form every data source produces and the loader consumes.
import { shuffleInPlace, type Rng } from './prng.js';

export interface Dataset {
  name: string;
  /** [count, features] row-major. */
  x: Float32Array;
  /** Class labels in [0, classes). */
  y: Uint32Array;
  count: number;
  features: number;
  classes: number;
}

export interface DataSplit {
  train: Dataset;
  test: Dataset;
}

/** Throws if the shapes disagree, a label is out of range or a feature is not finite. */
export function validateDataset(d: Dataset, source: string): void {
  const where = `${source} (data set "${d.name}")`;
  for (const key of ['count', 'features', 'classes'] as const) {
    const v = d[key];
    const min = key === 'count' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`${where}: ${key} must be an integer ≥ ${min} (got ${v})`);
    }
  }
  if (d.x.length !== d.count * d.features) {
    throw new Error(
      `${where}: x has ${d.x.length} values but count × features = ${d.count} × ${d.features} = ${d.count * d.features}; ` +
        'x must be [count, features] row-major',
    );
  }
  if (d.y.length !== d.count) {
    throw new Error(`${where}: y has ${d.y.length} labels but count is ${d.count}; give one label per sample`);
  }
  for (let i = 0; i < d.count; i++) {
    if (d.y[i]! >= d.classes) {
      throw new Error(
        `${where}: label ${d.y[i]} of sample ${i} is out of range for ${d.classes} classes; ` +
          'labels must be 0 … classes-1 (raise the class count or fix the label)',
      );
    }
  }
  for (let i = 0; i < d.x.length; i++) {
    if (!Number.isFinite(d.x[i]!)) {
      const row = Math.floor(i / d.features);
      throw new Error(
        `${where}: feature ${i % d.features} of sample ${row} is ${d.x[i]}; every feature must be finite (clean or impute the data)`,
      );
    }
  }
}

/** The samples at `indices`, in that order, as a new data set. */
export function subset(d: Dataset, indices: Uint32Array, name: string): Dataset {
  const x = new Float32Array(indices.length * d.features);
  const y = new Uint32Array(indices.length);
  indices.forEach((sample, row) => {
    x.set(d.x.subarray(sample * d.features, (sample + 1) * d.features), row * d.features);
    y[row] = d.y[sample]!;
  });
  return { name, x, y, count: indices.length, features: d.features, classes: d.classes };
}

/**
 * Indices of a train/test split with the same class proportions in both parts: class c gives
 * testSamples × count_c / total test samples, rounded by largest remainder so the sizes add up.
 * Which samples of a class go to test, and the order of both parts, follow `rng` alone.
 */
export function stratifiedSplit(
  y: Uint32Array,
  classes: number,
  testSamples: number,
  rng: Rng,
): { train: Uint32Array; test: Uint32Array } {
  if (!Number.isInteger(testSamples) || testSamples < 1 || testSamples >= y.length) {
    throw new Error(`stratifiedSplit: test samples must be an integer from 1 to ${y.length - 1} for ${y.length} samples (got ${testSamples})`);
  }
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  y.forEach((label, i) => byClass[label]!.push(i));
  const exact = byClass.map((members) => (testSamples * members.length) / y.length);
  const quota = exact.map(Math.floor);
  let missing = testSamples - quota.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, c) => ({ c, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.c - b.c);
  for (const { c } of byRemainder) {
    if (missing === 0) break;
    quota[c]!++;
    missing--;
  }
  const test: number[] = [];
  const train: number[] = [];
  byClass.forEach((members, c) => {
    const order = Uint32Array.from(members);
    shuffleInPlace(order, rng);
    order.forEach((sample, k) => (k < quota[c]! ? test : train).push(sample));
  });
  // Shuffled, not grouped by class: a loader without shuffling still sees mixed batches.
  const trainIdx = Uint32Array.from(train);
  const testIdx = Uint32Array.from(test);
  shuffleInPlace(trainIdx, rng);
  shuffleInPlace(testIdx, rng);
  return { train: trainIdx, test: testIdx };
}
