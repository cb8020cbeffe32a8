import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stratifiedSplit, subset, validateDataset, type Dataset } from '../../src/data/dataset.js';
import { createRng } from '../../src/data/prng.js';
import { BASE_SEED, randomArray, randomLabels, rng } from '../helpers/random.js';

const test = suite('dataset');

function dataset(count: number, features: number, classes: number, seedOffset = 0): Dataset {
  const random = rng(seedOffset);
  return { name: 'toy', x: randomArray(count * features, random), y: randomLabels(count, classes, random), count, features, classes };
}

test('a consistent data set passes validation', () => {
  validateDataset(dataset(17, 3, 4), 'toy.csv');
});

test('validation names the source and the values when shapes, labels or features are wrong', () => {
  const d = dataset(5, 3, 4);
  assert.throws(() => validateDataset({ ...d, x: d.x.subarray(1) }, 'a.csv'), /a\.csv.*x has 14 values but count × features = 5 × 3 = 15/);
  assert.throws(() => validateDataset({ ...d, y: d.y.subarray(1) }, 'a.csv'), /a\.csv.*y has 4 labels but count is 5/);
  const y = d.y.slice();
  y[2] = 4;
  assert.throws(() => validateDataset({ ...d, y }, 'a.csv'), /label 4 of sample 2 is out of range for 4 classes/);
  const x = d.x.slice();
  x[7] = Number.NaN;
  assert.throws(() => validateDataset({ ...d, x }, 'a.csv'), /feature 1 of sample 2 is NaN/);
  assert.throws(() => validateDataset({ ...d, classes: 0 }, 'a.csv'), /classes must be an integer ≥ 1 \(got 0\)/);
});

test('subset copies the chosen rows in the order given', () => {
  const d = dataset(9, 4, 3);
  const s = subset(d, Uint32Array.of(8, 0, 3), 'part');
  assert.is(s.count, 3);
  assert.equal(Array.from(s.x), [...d.x.subarray(32, 36), ...d.x.subarray(0, 4), ...d.x.subarray(12, 16)]);
  assert.equal(Array.from(s.y), [d.y[8], d.y[0], d.y[3]]);
});

test('a stratified split is disjoint and complete, keeps class proportions, and depends only on the seed', () => {
  const d = dataset(997, 1, 7, 5);
  const testSamples = 201;
  const { train, test: held } = stratifiedSplit(d.y, 7, testSamples, createRng(BASE_SEED));
  assert.is(held.length, testSamples);
  assert.equal([...train, ...held].sort((a, b) => a - b), Array.from({ length: 997 }, (_, i) => i));
  for (let c = 0; c < 7; c++) {
    const total = d.y.filter((l) => l === c).length;
    const inTest = held.filter((i) => d.y[i] === c).length;
    const expected = (testSamples * total) / 997;
    assert.ok(Math.abs(inTest - expected) < 1, `class ${c}: ${inTest} test samples, expected ${expected.toFixed(2)} (TEST_SEED=${BASE_SEED})`);
  }
  const again = stratifiedSplit(d.y, 7, testSamples, createRng(BASE_SEED));
  assert.equal(again.test, held);
  assert.equal(again.train, train);
  assert.not.equal(stratifiedSplit(d.y, 7, testSamples, createRng(BASE_SEED + 1)).test, held);
  assert.throws(() => stratifiedSplit(d.y, 7, 997, createRng(0)), /from 1 to 996 for 997 samples \(got 997\)/);
});

test.run();
