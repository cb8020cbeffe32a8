import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Dataset } from '../../src/data/dataset.js';
import { evalBatches, ShardedLoader, type LoaderOptions } from '../../src/data/loader.js';
import { BASE_SEED, randomArray, randomLabels, rng } from '../helpers/random.js';

const test = suite('loader');

function dataset(count: number, features: number): Dataset {
  const random = rng(count * 31 + features);
  return { name: 'toy', x: randomArray(count * features, random), y: randomLabels(count, 10, random), count, features, classes: 10 };
}

const loaders = (d: Dataset, worldSize: number, o: Partial<LoaderOptions> = {}): ShardedLoader[] =>
  Array.from({ length: worldSize }, (_, rank) => new ShardedLoader(d, { rank, worldSize, batchSize: 4, shuffle: true, seed: BASE_SEED, ...o }));

for (const shuffle of [true, false]) {
  test(`shards are equal, disjoint, and together cover the data cut to a multiple of worldSize (shuffle ${shuffle})`, () => {
    const d = dataset(103, 2);
    for (const worldSize of [1, 2, 3, 4, 7]) {
      const all = loaders(d, worldSize, { shuffle });
      for (const epoch of [0, 1]) {
        const seen = new Set<number>();
        for (const l of all) {
          const shard = l.shardIndices(epoch);
          assert.is(shard.length, Math.floor(103 / worldSize));
          assert.is(l.samplesPerRank, shard.length);
          for (const i of shard) {
            assert.ok(i < 103, `index ${i}`);
            assert.not.ok(seen.has(i), `sample ${i} is in two shards (worldSize ${worldSize}, TEST_SEED=${BASE_SEED})`);
            seen.add(i);
          }
        }
        assert.is(seen.size, Math.floor(103 / worldSize) * worldSize);
      }
    }
  });
}

test('without shuffling, rank r takes samples r, r+W, r+2W, … in order, every epoch', () => {
  const d = dataset(23, 1);
  loaders(d, 3, { shuffle: false }).forEach((l, rank) => {
    const expected = Array.from({ length: 7 }, (_, i) => rank + 3 * i);
    assert.equal(Array.from(l.shardIndices(0)), expected);
    assert.equal(Array.from(l.shardIndices(5)), expected);
  });
});

test('the same seed gives the same order, and another epoch or seed a different one', () => {
  const d = dataset(200, 1);
  const [a] = loaders(d, 2);
  const [b] = loaders(d, 2);
  const [c] = loaders(d, 2, { seed: BASE_SEED + 1000 });
  assert.equal(a!.shardIndices(3), b!.shardIndices(3));
  assert.not.equal(a!.shardIndices(3), a!.shardIndices(4));
  assert.not.equal(a!.shardIndices(3), c!.shardIndices(3));
  // Going back to an epoch gives its order again (the cache is per epoch, not a running state).
  const first = a!.shardIndices(0);
  a!.shardIndices(1);
  assert.equal(a!.shardIndices(0), first);
});

test('the samples dropped to equalise shards change from epoch to epoch when shuffling', () => {
  const d = dataset(10, 1);
  const used = (epoch: number): number[] => loaders(d, 3, { batchSize: 1 }).flatMap((l) => Array.from(l.shardIndices(epoch))).sort((p, q) => p - q);
  const dropped = new Set<number>();
  for (let epoch = 0; epoch < 20; epoch++) for (let i = 0; i < 10; i++) if (!used(epoch).includes(i)) dropped.add(i);
  assert.ok(dropped.size > 1, `only sample(s) ${[...dropped]} were ever dropped`);
});

test('batches copy the right rows and labels of the shard, and drop the last partial batch', () => {
  const features = 5;
  const d = dataset(61, features);
  const [l] = loaders(d, 2, { rank: 1, batchSize: 7 }).slice(1);
  assert.is(l!.samplesPerRank, 30);
  assert.is(l!.batchesPerEpoch, 4);
  for (const epoch of [0, 2]) {
    const shard = l!.shardIndices(epoch);
    for (let b = 0; b < l!.batchesPerEpoch; b++) {
      const batch = l!.batch(epoch, b);
      assert.is(batch.size, 7);
      assert.is(batch.x.length, 7 * features);
      for (let row = 0; row < 7; row++) {
        const s = shard[b * 7 + row]!;
        assert.equal(Array.from(batch.x.subarray(row * features, (row + 1) * features)), Array.from(d.x.subarray(s * features, (s + 1) * features)));
        assert.is(batch.y[row], d.y[s]);
      }
    }
  }
  assert.is(l!.batch(0, 0).x, l!.batch(0, 1).x, 'batch arrays are reused, not allocated per batch');
  assert.throws(() => l!.batch(0, 4), /index must be an integer from 0 to 3 \(got 4\)/);
});

test('impossible settings are refused with the values and the fix', () => {
  const d = dataset(20, 1);
  const o = { rank: 0, worldSize: 4, batchSize: 6, shuffle: true, seed: 0 };
  assert.throws(() => new ShardedLoader(d, o), /batch size 6 is larger than the 5 samples each of 4 processes.*--batch-size 5 or less, or fewer --procs/);
  assert.throws(() => new ShardedLoader(d, { ...o, worldSize: 21, batchSize: 1 }), /20 samples, fewer than the 21 processes/);
  assert.throws(() => new ShardedLoader(d, { ...o, rank: 4 }), /rank must be an integer from 0 to worldSize-1 = 3 \(got 4\)/);
  assert.throws(() => new ShardedLoader(d, { ...o, batchSize: 0 }), /batch size must be an integer ≥ 1 \(got 0\)/);
  assert.throws(() => new ShardedLoader(d, { ...o, batchSize: 1 }).batch(-1, 0), /epoch must be an integer ≥ 0 \(got -1\)/);
});

test('evalBatches yields every sample once, in order, and zero-pads the last batch', () => {
  const features = 3;
  for (const [count, batchSize] of [[10, 4], [12, 4], [1, 8], [5, 1]] as const) {
    const d = dataset(count, features);
    // With count 10 and batch 4 the padded rows held real rows of the batch before: they must be zeroed, not stale.
    let next = 0;
    let batches = 0;
    for (const batch of evalBatches(d, batchSize)) {
      batches++;
      assert.is(batch.x.length, batchSize * features);
      assert.is(batch.y.length, batchSize);
      assert.is(batch.size, Math.min(batchSize, count - next));
      for (let row = 0; row < batchSize; row++) {
        const got = Array.from(batch.x.subarray(row * features, (row + 1) * features));
        if (row < batch.size) {
          assert.equal(got, Array.from(d.x.subarray((next + row) * features, (next + row + 1) * features)));
          assert.is(batch.y[row], d.y[next + row]);
        } else {
          assert.equal(got, new Array(features).fill(0), `padded row ${row} of the last batch`);
          assert.is(batch.y[row], 0);
        }
      }
      next += batch.size;
    }
    assert.is(next, count);
    assert.is(batches, Math.ceil(count / batchSize));
  }
});

test.run();
