import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Dataset } from '../../src/data/dataset.js';
import { makeSynthetic, type SyntheticOptions } from '../../src/data/synthetic.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { BASE_SEED } from '../helpers/random.js';

const test = suite('synthetic');
const seed = BASE_SEED;
const small: SyntheticOptions = { trainSamples: 1500, testSamples: 500, features: 20, classes: 5, seed };

const classCounts = (d: Dataset): number[] => {
  const counts = new Array<number>(d.classes).fill(0);
  for (const l of d.y) counts[l]!++;
  return counts;
};

/** Test accuracy of softmax regression fitted by full-batch gradient descent: a deliberately weak learner. */
function linearAccuracy(train: Dataset, held: Dataset): number {
  const { features: f, classes: c } = train;
  const w = new Float64Array(c * (f + 1));
  const logits = (d: Dataset, n: number, out: Float64Array): void => {
    for (let k = 0; k < c; k++) {
      let s = w[k * (f + 1) + f]!;
      for (let i = 0; i < f; i++) s += w[k * (f + 1) + i]! * d.x[n * f + i]!;
      out[k] = s;
    }
  };
  const z = new Float64Array(c);
  for (let step = 0; step < 60; step++) {
    const grad = new Float64Array(w.length);
    for (let n = 0; n < train.count; n++) {
      logits(train, n, z);
      const m = Math.max(...z);
      let total = 0;
      for (let k = 0; k < c; k++) total += (z[k] = Math.exp(z[k]! - m));
      for (let k = 0; k < c; k++) {
        const d = z[k]! / total - (train.y[n] === k ? 1 : 0);
        for (let i = 0; i < f; i++) grad[k * (f + 1) + i]! += d * train.x[n * f + i]!;
        grad[k * (f + 1) + f]! += d;
      }
    }
    for (let j = 0; j < w.length; j++) w[j]! -= (0.5 * grad[j]!) / train.count;
  }
  let correct = 0;
  for (let n = 0; n < held.count; n++) {
    logits(held, n, z);
    if (z.indexOf(Math.max(...z)) === held.y[n]) correct++;
  }
  return correct / held.count;
}

test('the same seed gives the same data and another seed different data', () => {
  const a = makeSynthetic(small);
  const b = makeSynthetic(small);
  const c = makeSynthetic({ ...small, seed: seed + 1 });
  assertBitwiseEqual(a.train.x, b.train.x, 'train x');
  assert.equal(a.train.y, b.train.y);
  assert.equal(a.test.y, b.test.y);
  assert.not.equal(a.train.y, c.train.y);
  assert.not.equal(Array.from(a.train.x.subarray(0, 10)), Array.from(c.train.x.subarray(0, 10)));
});

test('shapes match the options, and x is standard normal', () => {
  const { train, test: held } = makeSynthetic({ ...small, features: 33 });
  assert.is(train.count, 1500);
  assert.is(held.count, 500);
  assert.is(train.x.length, 1500 * 33);
  assert.is(held.x.length, 500 * 33);
  let sum = 0;
  let sq = 0;
  for (const v of train.x) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / train.x.length;
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean} (TEST_SEED=${seed})`);
  assert.ok(Math.abs(sq / train.x.length - 1) < 0.03, `second moment ${sq / train.x.length} (TEST_SEED=${seed})`);
});

test('every class is present and none dominates, for few and many classes', () => {
  for (const classes of [2, 5, 10, 37]) {
    const { train, test: held } = makeSynthetic({ ...small, trainSamples: 200 * classes, classes });
    for (const d of [train, held]) {
      const counts = classCounts(d);
      assert.ok(counts.every((c) => c > 0), `${classes} classes: a class is missing in ${d.name}: ${counts} (TEST_SEED=${seed})`);
    }
    const share = Math.max(...classCounts(train)) / train.count;
    assert.ok(share < 2 / classes, `${classes} classes: the largest class has ${(share * 100).toFixed(1)}% of the samples (TEST_SEED=${seed})`);
  }
});

test('labels follow from the inputs: even a linear model learns them far above chance', () => {
  const { train, test: held } = makeSynthetic(small);
  const accuracy = linearAccuracy(train, held);
  assert.ok(accuracy > 2 / small.classes, `test accuracy ${accuracy}, chance ${1 / small.classes} (TEST_SEED=${seed})`);
});

test('the test set does not change when the training set grows', () => {
  const a = makeSynthetic(small);
  const b = makeSynthetic({ ...small, trainSamples: 3000 });
  assertBitwiseEqual(a.test.x, b.test.x, 'test x');
  assert.equal(a.test.y, b.test.y);
});

test('sizes that are not whole numbers, and a single class, are refused', () => {
  assert.throws(() => makeSynthetic({ ...small, trainSamples: 0 }), /trainSamples must be an integer ≥ 1 \(got 0\)/);
  assert.throws(() => makeSynthetic({ ...small, features: 2.5 }), /features must be an integer ≥ 1 \(got 2\.5\)/);
  assert.throws(() => makeSynthetic({ ...small, classes: 1 }), /classes must be an integer ≥ 2 \(got 1\)/);
});

test.run();
