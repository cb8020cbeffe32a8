import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Dataset } from '../../src/data/dataset.js';
import { loadMnist, MNIST_PIXEL_VALUES, readMnistSamples } from '../../src/data/mnist.js';
import { assertBitwiseEqual } from '../helpers/assert.js';

const test = suite('mnist');
const cacheDir = mkdtempSync(join(tmpdir(), 'mnist-test-'));
test.after(() => rmSync(cacheDir, { recursive: true, force: true }));
const packageJson = createRequire(import.meta.url).resolve('mnist/package.json');
const cacheFile = join(cacheDir, `mnist-${(JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version}.safetensors`);

function assertSameData(a: Dataset, b: Dataset, what: string): void {
  assert.is(a.count, b.count, `${what}: count`);
  assertBitwiseEqual(a.x, b.x, `${what}: x`);
  assert.equal(a.y, b.y, `${what}: y`);
}

const classCounts = (y: Uint32Array): number[] => {
  const counts = new Array<number>(10).fill(0);
  for (const l of y) counts[l]!++;
  return counts;
};

test('a cold load from the JSON and a warm load from the cache give identical data', async () => {
  assert.not.ok(existsSync(cacheFile), 'the cache directory must start empty');
  const cold = await loadMnist({ cacheDir });
  assert.ok(existsSync(cacheFile), `the cold load should have written ${cacheFile}`);
  assert.is((await readMnistSamples(cacheDir)).source, 'cache');
  const warm = await loadMnist({ cacheDir });
  assertSameData(cold.train, warm.train, 'train');
  assertSameData(cold.test, warm.test, 'test');
});

test('pixels are exactly the values in the package’s JSON', async () => {
  const samples = await readMnistSamples(cacheDir);
  const digit = 4;
  const json = (JSON.parse(readFileSync(join(dirname(packageJson), 'src', 'digits', `${digit}.json`), 'utf8')) as { data: number[] }).data;
  const start = samples.labels.indexOf(digit);
  assert.is(samples.labels.lastIndexOf(digit) - start + 1, json.length / 784, `samples of digit ${digit}`);
  const decoded = Float32Array.from(samples.pixels.subarray(start * 784, start * 784 + json.length), (k) => MNIST_PIXEL_VALUES[k]!);
  assertBitwiseEqual(decoded, Float32Array.from(json), `digit ${digit} pixels`);
});

test('the split has 10 classes, 784 features, values in [0, 1], and 2000 test samples by default', async () => {
  const { train, test: held } = await loadMnist({ cacheDir });
  for (const d of [train, held]) {
    assert.is(d.features, 784);
    assert.is(d.classes, 10);
    assert.is(d.x.length, d.count * 784);
    let min = Infinity;
    let max = -Infinity;
    for (const v of d.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.is(min, 0, `${d.name} min`);
    assert.is(max, 1, `${d.name} max`);
    assert.ok(classCounts(d.y).every((c) => c > 0), `${d.name} lacks a class: ${classCounts(d.y)}`);
  }
  assert.is(held.count, 2000);
  assert.is(train.count + held.count, (await readMnistSamples(cacheDir)).count);
});

test('the split is stratified: each class’s share of the test set matches its share of the data', async () => {
  const { train, test: held } = await loadMnist({ cacheDir, testSamples: 1234 });
  const total = train.count + held.count;
  const all = classCounts(train.y).map((c, k) => c + classCounts(held.y)[k]!);
  classCounts(held.y).forEach((c, k) => {
    const expected = (1234 * all[k]!) / total;
    assert.ok(Math.abs(c - expected) < 1, `class ${k}: ${c} test samples, expected ${expected.toFixed(2)}`);
  });
});

test('the split is the same for the same seed and differs for another seed', async () => {
  const a = await loadMnist({ cacheDir, seed: 3 });
  const b = await loadMnist({ cacheDir, seed: 3 });
  const c = await loadMnist({ cacheDir, seed: 4 });
  assertSameData(a.test, b.test, 'seed 3 twice');
  assert.not.equal(a.test.y, c.test.y);
});

test('the training set is not grouped by class, so batches mix digits even without shuffling', async () => {
  const { train } = await loadMnist({ cacheDir });
  const first = classCounts(train.y.subarray(0, 200));
  assert.ok(first.every((c) => c > 0), `the first 200 training labels cover only some classes: ${first}`);
});

test('a damaged cache file is rebuilt and gives the same data', async () => {
  const before = await loadMnist({ cacheDir });
  writeFileSync(cacheFile, 'not a safetensors file');
  const after = await loadMnist({ cacheDir });
  assertSameData(before.train, after.train, 'train after rebuild');
  assert.is((await readMnistSamples(cacheDir)).source, 'cache');
});

test('a test size that leaves no training data is refused with the range', async () => {
  try {
    await loadMnist({ cacheDir, testSamples: 0 });
  } catch (err) {
    assert.match((err as Error).message, /testSamples must be an integer from 1 to \d+ \(got 0\)/);
    return;
  }
  assert.unreachable('testSamples 0 should be refused');
});

test.run();
