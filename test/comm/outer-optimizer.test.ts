import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OuterOptimizer, type OuterOptimizerOptions } from '../../src/comm/outer-optimizer.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { BASE_SEED, randomArray, rng } from '../helpers/random.js';

const test = suite('outer optimizer (DiLoCo)');

/** Worker means that drift from θ by a small random step, with the awkward values averaging can produce. */
function meanNear(theta: ArrayLike<number>, random: () => number, withSpecials = true): Float32Array {
  const out = new Float32Array(theta.length);
  for (let i = 0; i < out.length; i++) out[i] = theta[i]! - (random() * 2 - 1) * 0.05 * 10 ** Math.floor(random() * 4 - 2);
  if (!withSpecials) return out;
  const specials = [-0, 0, 1e-42, -1e-42, 3.4e38, -1.2e-38, 1];
  for (const [k, v] of specials.entries()) if (k < out.length) out[k] = v;
  return out;
}

/** PyTorch's SGD(momentum, nesterov, dampening 0) on the pseudo-gradient, all in float64. */
function reference(options: OuterOptimizerOptions, theta0: Float32Array, means: Float32Array[]): Float64Array {
  const theta = Float64Array.from(theta0);
  const buf = new Float64Array(theta.length);
  for (const mean of means) {
    for (let i = 0; i < theta.length; i++) {
      const g = theta[i]! - mean[i]!;
      buf[i] = options.momentum * buf[i]! + g;
      const u = options.kind === 'nesterov' ? g + options.momentum * buf[i]! : buf[i]!;
      theta[i] = theta[i]! - options.lr * u;
    }
  }
  return theta;
}

for (const count of [1, 7, 33, 4099]) {
  test(`sgd with lr 1 and momentum 0 returns the mean's exact bytes, round after round (${count} floats)`, () => {
    const random = rng(count);
    const outer = new OuterOptimizer({ kind: 'sgd', lr: 1, momentum: 0 });
    assert.ok(outer.isPlainAveraging);
    outer.setGlobal(randomArray(count, random));
    for (let round = 0; round < 4; round++) {
      const mean = meanNear(outer.theta!, random);
      const expected = mean.slice();
      const result = outer.step(mean);
      assert.is(result, mean, 'the step works in place on the mean');
      assertBitwiseEqual(result, expected, `round ${round} (TEST_SEED=${BASE_SEED})`);
      assertBitwiseEqual(outer.theta!, expected, `θ after round ${round}`);
    }
  });
}

for (const options of [
  { kind: 'sgd', lr: 0.7, momentum: 0 },
  { kind: 'sgd', lr: 0.5, momentum: 0.9 },
  { kind: 'nesterov', lr: 0.7, momentum: 0.9 },
  { kind: 'nesterov', lr: 1.3, momentum: 0.5 },
] as const) {
  test(`${options.kind} lr ${options.lr} momentum ${options.momentum} follows a float64 PyTorch SGD over 6 rounds`, () => {
    const random = rng(17);
    const theta0 = randomArray(1000, random);
    const outer = new OuterOptimizer(options);
    outer.setGlobal(theta0);
    // Each round's mean drifts from the current θ, as the workers' would.
    const means: Float32Array[] = [];
    for (let round = 0; round < 6; round++) {
      const mean = meanNear(outer.theta!, random, false);
      means.push(mean.slice());
      outer.step(mean);
    }
    assertClose(outer.theta!, reference(options, theta0, means), `${options.kind} after 6 rounds (TEST_SEED=${BASE_SEED})`, 1e-6);
  });
}

test('a constant pseudo-gradient d moves θ by lr·d·Σ c_t, the closed form of momentum and Nesterov', () => {
  const random = rng(23);
  const d = randomArray(64, random, 0.01);
  const rounds = 8;
  for (const options of [{ kind: 'sgd', lr: 0.7, momentum: 0.9 }, { kind: 'nesterov', lr: 0.7, momentum: 0.9 }] as const) {
    const theta0 = randomArray(64, random);
    const outer = new OuterOptimizer(options);
    outer.setGlobal(theta0);
    for (let t = 0; t < rounds; t++) {
      const mean = new Float32Array(64);
      for (let i = 0; i < 64; i++) mean[i] = outer.theta![i]! - d[i]!;
      outer.step(mean);
    }
    // buf_t = d(1 − μ^t)/(1 − μ); SGD's u_t = buf_t, Nesterov's u_t = d + μ·buf_t.
    const mu = options.momentum;
    let total = 0;
    for (let t = 1; t <= rounds; t++) {
      const buf = (1 - mu ** t) / (1 - mu);
      total += options.kind === 'nesterov' ? 1 + mu * buf : buf;
    }
    const expectedMove = Array.from(d, (di) => -options.lr * di * total);
    const move = Array.from(outer.theta!, (v, i) => v - theta0[i]!);
    assertClose(move, expectedMove, `${options.kind}: θ_T − θ_0 (TEST_SEED=${BASE_SEED})`, 1e-5);
  }
});

test('state carried over (θ and momentum, as a checkpoint holds them) continues bit for bit', () => {
  const random = rng(31);
  const options = { kind: 'nesterov', lr: 0.7, momentum: 0.9 } as const;
  const theta0 = randomArray(500, random);
  const means: Float32Array[] = [];
  const whole = new OuterOptimizer(options);
  whole.setGlobal(theta0);
  for (let round = 0; round < 6; round++) {
    const mean = meanNear(whole.theta!, random, false);
    means.push(mean.slice());
    whole.step(mean);
  }
  const first = new OuterOptimizer(options);
  first.setGlobal(theta0);
  for (const mean of means.slice(0, 3)) first.step(mean.slice());
  const resumed = new OuterOptimizer(options);
  resumed.loadMomentum(first.momentumBuffer!, first.rounds);
  resumed.setGlobal(first.theta!);
  for (const mean of means.slice(3)) resumed.step(mean.slice());
  assertBitwiseEqual(resumed.theta!, whole.theta!, 'resumed after 3 of 6 rounds');
  assertBitwiseEqual(resumed.momentumBuffer!, whole.momentumBuffer!, 'momentum after 6 rounds');
  assert.is(resumed.rounds, 6);
});

test('bad settings and misuse are errors that say what is wrong', () => {
  assert.throws(() => new OuterOptimizer({ kind: 'sgd', lr: 0, momentum: 0 }), /lr must be a positive number \(got 0\)/);
  assert.throws(() => new OuterOptimizer({ kind: 'sgd', lr: 1, momentum: 1 }), /momentum must be in \[0, 1\) \(got 1\)/);
  assert.throws(() => new OuterOptimizer({ kind: 'nesterov', lr: 1, momentum: 0 }), /Nesterov needs a momentum > 0/);
  const outer = new OuterOptimizer({ kind: 'sgd', lr: 1, momentum: 0 });
  assert.throws(() => outer.step(new Float32Array(3)), /step\(\) before setGlobal/);
  outer.setGlobal(new Float32Array(3));
  assert.throws(() => outer.step(new Float32Array(4)), /mean of 4 floats for θ of 3/);
  assert.throws(() => outer.loadMomentum(new Float32Array(5), 1), /momentum buffer of 5 floats for weights of 3/);
});

test.run();
