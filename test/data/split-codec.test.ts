import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DataSplit, Dataset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { decodeDataSplit, encodeDataSplit } from '../../src/data/split-codec.js';
import { makeSynthetic } from '../../src/data/synthetic.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { assertBitwiseEqual } from '../helpers/assert.js';

const test = suite('data split codec');

function assertSameSplit(a: DataSplit, b: DataSplit): void {
  for (const part of ['train', 'test'] as const) {
    const [x, y]: [Dataset, Dataset] = [a[part], b[part]];
    assert.equal([y.name, y.count, y.features, y.classes], [x.name, x.count, x.features, x.classes], `${part}: name, count, features, classes`);
    assertBitwiseEqual(y.x, x.x, `${part}.x`);
    assert.equal(y.y, x.y, `${part}.y`);
  }
}

test('MNIST round-trips bit for bit, its 256 pixel values sent as a palette in under a third of the float32 bytes', async () => {
  const mnist = await loadMnist();
  const bytes = encodeDataSplit(mnist);
  assertSameSplit(mnist, decodeDataSplit(bytes, 'the test'));
  const float32Bytes = (mnist.train.x.byteLength + mnist.test.x.byteLength);
  assert.ok(bytes.byteLength < float32Bytes / 3, `encoded ${bytes.byteLength} bytes, float32 features alone ${float32Bytes}`);
});

test('features with more than 256 distinct values travel as float32, bit for bit', () => {
  const split = makeSynthetic({ trainSamples: 301, testSamples: 7, features: 13, classes: 3, seed: 5 });
  const bytes = encodeDataSplit(split);
  assert.is(decodeSafetensors(bytes, 'the test').tensors.get('train.x')!.dtype, 'F32');
  assertSameSplit(split, decodeDataSplit(bytes, 'the test'));
});

test('a palette keeps -0 and +0 apart, and a single-sample set round-trips', () => {
  const one: Dataset = { name: 'one', x: Float32Array.of(-0, 0, 1.5), y: Uint32Array.of(1), count: 1, features: 3, classes: 2 };
  const decoded = decodeDataSplit(encodeDataSplit({ train: one, test: one }), 'the test');
  assert.ok(Object.is(decoded.train.x[0], -0) && Object.is(decoded.train.x[1], 0), `got ${Array.from(decoded.train.x)}`);
  assertSameSplit({ train: one, test: one }, decoded);
});

test('bytes that are not a data split are refused, naming what is wrong', () => {
  const other = encodeSafetensors([], { format: 'something else' });
  assert.throws(() => decodeDataSplit(other, 'the page\'s download'), /the page's download: not a data split \(format "something else"/);
  const split = makeSynthetic({ trainSamples: 20, testSamples: 4, features: 2, classes: 2, seed: 1 });
  const { tensors, metadata } = decodeSafetensors(encodeDataSplit(split), 'x');
  const withoutLabels = [...tensors].filter(([name]) => name !== 'test.y').map(([name, t]) => ({ name, ...t }));
  assert.throws(() => decodeDataSplit(encodeSafetensors(withoutLabels, metadata), 'the download'), /the download: tensor "test.y" is missing/);
});

test('a label out of range is refused, as from any data source', () => {
  const bad: Dataset = { name: 'bad', x: Float32Array.of(1, 2), y: Uint32Array.of(0, 5), count: 2, features: 1, classes: 2 };
  assert.throws(() => decodeDataSplit(encodeDataSplit({ train: bad, test: bad }), 'the download'), /label 5 of sample 1 is out of range for 2 classes/);
});

test.run();
