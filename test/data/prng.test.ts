import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRng, deriveSeed, shuffleInPlace } from '../../src/data/prng.js';
import { BASE_SEED, mulberry32 } from '../helpers/random.js';

const test = suite('prng');
const seed = BASE_SEED;

test('next() is mulberry32: the same sequence as the test helpers’ reference, in [0, 1)', () => {
  const rng = createRng(seed);
  const ref = mulberry32(seed);
  for (let i = 0; i < 10_000; i++) {
    const v = rng.next();
    assert.is(v, ref(), `draw ${i} (TEST_SEED=${seed})`);
    assert.ok(v >= 0 && v < 1, `draw ${i} = ${v} is outside [0, 1)`);
  }
});

test('the same seed gives the same normals and different seeds give different ones', () => {
  const draw = (s: number): number[] => {
    const rng = createRng(s);
    return Array.from({ length: 101 }, () => rng.normal());
  };
  assert.equal(draw(seed), draw(seed));
  assert.not.equal(draw(seed), draw(seed + 1));
});

test('normal() has mean 0, variance 1 and the tails of a Gaussian', () => {
  const rng = createRng(seed);
  const n = 200_000;
  let sum = 0;
  let sq = 0;
  let beyond2 = 0;
  for (let i = 0; i < n; i++) {
    const v = rng.normal();
    assert.ok(Number.isFinite(v), `normal() gave ${v}`);
    sum += v;
    sq += v * v;
    if (Math.abs(v) > 2) beyond2++;
  }
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  // Five standard errors: fails by chance about once in 3 million runs.
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean} (TEST_SEED=${seed})`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance} (TEST_SEED=${seed})`);
  const p = 0.0455; // P(|Z| > 2)
  assert.ok(Math.abs(beyond2 / n - p) < 5 * Math.sqrt((p * (1 - p)) / n), `P(|z| > 2) = ${beyond2 / n}, expected ${p}`);
});

test('int(n) covers 0 … n-1 evenly and rejects n that is not a whole number ≥ 1', () => {
  const rng = createRng(seed);
  const counts = new Array<number>(7).fill(0);
  for (let i = 0; i < 70_000; i++) counts[rng.int(7)]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `counts ${counts} (TEST_SEED=${seed})`);
  assert.throws(() => rng.int(0), /integer from 1 to 2\^32 \(got 0\)/);
  assert.throws(() => rng.int(2.5), /got 2\.5/);
});

test('shuffleInPlace gives a permutation that depends on the seed', () => {
  const identity = Uint32Array.from({ length: 1000 }, (_, i) => i);
  const a = identity.slice();
  const b = identity.slice();
  const c = identity.slice();
  shuffleInPlace(a, createRng(seed));
  shuffleInPlace(b, createRng(seed));
  shuffleInPlace(c, createRng(seed + 1));
  assert.equal(Array.from(a).sort((x, y) => x - y), Array.from(identity));
  assert.equal(a, b);
  assert.not.equal(a, c);
  const fixed = a.filter((v, i) => v === i).length;
  assert.ok(fixed < 10, `${fixed} of 1000 elements stayed in place; a shuffle leaves about 1`);
});

test('derived seeds differ between streams and between base seeds', () => {
  const seeds = new Set<number>();
  for (let s = 0; s < 10; s++) for (let stream = 0; stream < 10; stream++) seeds.add(deriveSeed(seed + s, stream));
  assert.is(seeds.size, 100);
});

test('a seed that is not a number is refused', () => {
  assert.throws(() => createRng(Number.NaN), /seed must be a finite number \(got NaN\)/);
});

test.run();
