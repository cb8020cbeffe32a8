import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRng, deriveSeed, fillNormal, shuffleInPlace } from '../../src/data/prng.js';
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

test('fillNormal (ziggurat) matches the standard normal CDF from the centre to beyond its tail cut at 3.44', () => {
  const n = 1_000_000;
  const z = new Float64Array(n);
  fillNormal(z, createRng(seed));
  // Φ(q) to 6 digits, from tables; |q| ≥ 3.5 lies in the ziggurat's tail, the rest in its layers and wedges.
  const cdf: [number, number][] = [
    [-4, 0.0000317], [-3.5, 0.000233], [-3, 0.00135], [-2, 0.02275], [-1, 0.158655], [-0.5, 0.308538], [0, 0.5],
    [0.3, 0.617911], [1, 0.841345], [2, 0.97725], [3, 0.99865], [3.5, 0.999767], [4, 0.9999683],
  ];
  const below = new Array<number>(cdf.length).fill(0);
  let sum = 0;
  for (const v of z) {
    assert.ok(Number.isFinite(v), `fillNormal gave ${v}`);
    sum += v;
    cdf.forEach(([q], i) => { if (v < q) below[i]!++; });
  }
  assert.ok(Math.abs(sum / n) < 5 / Math.sqrt(n), `mean ${sum / n} (TEST_SEED=${seed})`);
  cdf.forEach(([q, p], i) => {
    const tolerance = 5 * Math.sqrt((p * (1 - p)) / n) + 1e-6; // five standard errors, plus the table's rounding
    assert.ok(Math.abs(below[i]! / n - p) < tolerance, `P(z < ${q}) = ${below[i]! / n}, expected ${p} (TEST_SEED=${seed})`);
  });
  const again = new Float64Array(1000);
  fillNormal(again, createRng(seed));
  assert.equal(Array.from(again), Array.from(z.subarray(0, 1000)), 'the same seed gives the same values');
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
