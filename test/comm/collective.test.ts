import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CollectiveMismatchError, CollectiveTracker } from '../../src/comm/collective.js';
import { meanOf, weightedMeanOf } from '../../src/comm/reduce.js';
import { randomArray, rng, BASE_SEED } from '../helpers/random.js';

const test = suite('collective');
const f = (n: number) => new Float32Array(n);

test('a collective completes when every rank has delivered, with payloads in rank order', () => {
  const t = new CollectiveTracker(3);
  for (const rank of [2, 0, 1]) t.enter(rank, 'params', 0, 4);
  assert.equal(t.waiting(), [0, 1, 2]);
  const payloads = [0, 1, 2].map((r) => f(4).fill(r));
  assert.is(t.deliver(2, payloads[2]!, 1), undefined);
  assert.is(t.deliver(0, payloads[0]!, 2), undefined);
  const done = t.deliver(1, payloads[1]!, 3)!;
  assert.ok(done, 'complete after the third delivery');
  assert.equal(done.payloads.map((p) => p![0]), [0, 1, 2]);
  assert.is(t.open, undefined);
  assert.is(t.completed.params, 1);
});

test('a rank entering a round other than its next one is named with both rounds', () => {
  const t = new CollectiveTracker(2);
  assert.throws(() => t.enter(1, 'params', 1, 4), (e: Error) => e instanceof CollectiveMismatchError && /rank 1 sent allreduce 'params' round 1, but its next 'params' round is 0/.test(e.message));
});

test('rounds are numbered per tag', () => {
  const t = new CollectiveTracker(1);
  t.enter(0, 'params', 0, 2);
  t.deliver(0, f(2), 0);
  t.enter(0, 'grads', 0, 2); // grads starts at 0 too
  t.deliver(0, f(2), 0);
  t.enter(0, 'params', 1, 2);
  assert.ok(t.deliver(0, f(2), 0));
});

test('a different tag while another rank waits is a mismatch naming both ranks and both collectives', () => {
  const t = new CollectiveTracker(2);
  t.enter(0, 'params', 0, 4);
  assert.throws(() => t.enter(1, 'grads', 0, 4), (e: Error) =>
    e instanceof CollectiveMismatchError && /rank 1 entered allreduce 'grads' round 0 while rank 0 waits in allreduce 'params' round 0/.test(e.message));
});

test('a broadcast while another rank waits in an all-reduce is a mismatch', () => {
  const t = new CollectiveTracker(2);
  t.enter(1, 'params', 0, 4);
  assert.throws(() => t.enter(0, 'broadcast', 0, 4), (e: Error) => e instanceof CollectiveMismatchError && /rank 0 entered broadcast round 0 while rank 1 waits/.test(e.message));
});

test('different counts are a mismatch naming both ranks and counts', () => {
  const t = new CollectiveTracker(3);
  t.enter(0, 'params', 0, 10);
  t.enter(1, 'params', 0, 10);
  assert.throws(() => t.enter(2, 'params', 0, 11), (e: Error) => /rank 2 sent 11 floats but rank 0 sent 10/.test(e.message));
});

test('in a broadcast only rank 0 sends data, and its count may arrive last', () => {
  const t = new CollectiveTracker(3);
  t.enter(2, 'broadcast', 0, 0);
  assert.throws(() => new CollectiveTracker(2).enter(1, 'broadcast', 0, 5), /only the source sends data in a broadcast \(rank 0, the lowest live rank\)/);
  t.enter(1, 'broadcast', 0, 0);
  t.enter(0, 'broadcast', 0, 5);
  assert.is(t.open!.count, 5);
});

test('once rank 0 is dropped, the lowest survivor is the broadcast source: it may send data, the others may not', () => {
  const t = new CollectiveTracker(3);
  t.drop(0);
  assert.is(t.source, 1);
  assert.throws(() => t.enter(2, 'broadcast', 0, 5), /only the source sends data in a broadcast \(rank 1, the lowest live rank\)/);
  const u = new CollectiveTracker(3);
  u.drop(0);
  u.enter(2, 'broadcast', 0, 0);
  u.enter(1, 'broadcast', 0, 5);
  assert.is(u.open!.count, 5);
});

test('a dropped rank leaves the open round with its payload, and the round completes with the survivors alone', () => {
  const t = new CollectiveTracker(3);
  for (const rank of [0, 1]) t.enter(rank, 'params', 0, 2);
  t.deliver(1, f(2).fill(1), 1); // rank 1 delivered, then died
  t.deliver(0, f(2).fill(0), 2);
  assert.is(t.drop(1), undefined, 'rank 2 is still missing');
  assert.equal(t.waiting(), [0]);
  t.enter(2, 'params', 0, 2);
  const done = t.deliver(2, f(2).fill(2), 3)!;
  assert.ok(done, 'complete once both survivors delivered');
  assert.equal(done.payloads.map((p) => p?.[0]), [0, undefined, 2]);
  // Later rounds wait for the survivors only.
  t.enter(2, 'params', 1, 2);
  t.enter(0, 'params', 1, 2);
  t.deliver(2, f(2), 4);
  assert.ok(t.deliver(0, f(2), 5), 'round 1 completes without rank 1');
  assert.equal([...t.members].sort(), [0, 2]);
});

test('dropping the only rank a round still waits for completes it', () => {
  const t = new CollectiveTracker(3);
  for (const rank of [0, 2]) {
    t.enter(rank, 'grads', 0, 1);
    t.deliver(rank, f(1).fill(rank), rank);
  }
  const done = t.drop(1)!;
  assert.ok(done);
  assert.is(done.kind, 'grads');
  assert.is(t.open, undefined);
  assert.is(t.completed.grads, 1);
});

test('a reset rank stays a member: the open round waits for its new process, which enters at the first round not completed', () => {
  const t = new CollectiveTracker(2);
  for (const rank of [0, 1]) t.enter(rank, 'params', 0, 1);
  t.deliver(0, f(1), 0);
  t.deliver(1, f(1), 0);
  t.enter(1, 'params', 1, 1); // rank 1 entered round 1, delivered, then died
  t.deliver(1, f(1).fill(9), 1);
  t.enter(0, 'params', 1, 1);
  t.reset(1);
  assert.is(t.deliver(0, f(1), 2), undefined, 'rank 1 is still a member, so round 1 waits for it');
  assert.throws(() => t.enter(1, 'params', 2, 1), /next 'params' round is 1/);
  t.enter(1, 'params', 1, 1);
  const done = t.deliver(1, f(1).fill(5), 3)!;
  assert.ok(done);
  assert.is(done.payloads[1]![0], 5, "the new process's payload, not the dead one's");
});

test('resetting rank 0 in an open broadcast forgets its size, so a new rank 0 may send again', () => {
  const t = new CollectiveTracker(2);
  t.enter(0, 'broadcast', 0, 5);
  t.deliver(0, f(5), 0);
  t.enter(1, 'broadcast', 0, 0);
  t.reset(0);
  assert.is(t.open!.count, -1);
  t.enter(0, 'broadcast', 0, 5);
  t.deliver(1, f(0), 1);
  assert.ok(t.deliver(0, f(5), 2));
});

test('meanOf is the float64 mean in rank order rounded once, which float32 accumulation is not', () => {
  const random = rng(11);
  const n = 4099;
  // Mixed magnitudes make float32 accumulation lose low bits that float64 keeps.
  const inputs = Array.from({ length: 5 }, (_, r) => randomArray(n, random, 10 ** (r - 2)));
  const out = meanOf(inputs, f(n), new Float64Array(2));
  let float32Differs = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let sum32 = Math.fround(0);
    for (const x of inputs) {
      sum += x[i]!;
      sum32 = Math.fround(sum32 + x[i]!);
    }
    assert.ok(Object.is(out[i], Math.fround(sum / 5)), `[${i}] ${out[i]} vs ${Math.fround(sum / 5)} (TEST_SEED=${BASE_SEED})`);
    if (Math.fround(sum32 / 5) !== out[i]) float32Differs++;
  }
  assert.ok(float32Differs > 0, 'inputs too tame: float32 accumulation should differ somewhere, or this test proves nothing');
});

test('meanOf rejects inputs of the wrong length, naming which', () => {
  assert.throws(() => meanOf([f(3), f(2)], f(3)), /input 1 has 2 floats, expected 3/);
});

test('ranks that disagree on the step of a parameter round are a mismatch naming both steps', () => {
  const t = new CollectiveTracker(2);
  t.enter(0, 'params', 0, 4, 'f32', 8);
  assert.throws(() => t.enter(1, 'params', 0, 4, 'f32', 16), (e: Error) =>
    e instanceof CollectiveMismatchError && /step mismatch in allreduce 'params' round 0: rank 1 averages after step 16 but rank 0 after step 8/.test(e.message));
  t.enter(1, 'params', 0, 4, 'f32', 8);
  assert.is(t.open!.step, 8);
});

test('weightedMeanOf with weights of 1 gives the unweighted mean\'s bytes', () => {
  const random = rng(12);
  const inputs = Array.from({ length: 3 }, (_, r) => randomArray(1031, random, 10 ** (r - 1)));
  assert.equal([...weightedMeanOf(inputs, [1, 1, 1], f(1031))], [...meanOf(inputs, f(1031))]);
});

test('weightedMeanOf is the float64 Σ wᵢxᵢ / Σ wᵢ rounded once: weights 2 and 1 equal the mean of [a, a, b]', () => {
  const random = rng(13);
  const n = 517;
  const [a, b] = [randomArray(n, random, 1), randomArray(n, random, 100)];
  const out = weightedMeanOf([a, b], [2, 1], f(n));
  for (let i = 0; i < n; i++) assert.ok(Object.is(out[i], Math.fround((2 * a[i]! + b[i]!) / 3)), `[${i}] (TEST_SEED=${BASE_SEED})`);
  assert.equal([...out], [...meanOf([a, a, b], f(n))]);
  const odd = weightedMeanOf([a, b], [3, 4], f(n));
  for (let i = 0; i < n; i++) assert.ok(Object.is(odd[i], Math.fround((3 * a[i]! + 4 * b[i]!) / 7)), `[${i}] weights 3 and 4`);
});

test('weightedMeanOf rejects a weight per input missing, or one that is not positive, naming it', () => {
  assert.throws(() => weightedMeanOf([f(2), f(2)], [1], f(2)), /1 weights for 2 inputs/);
  assert.throws(() => weightedMeanOf([f(2), f(2)], [1, 0], f(2)), /weight 1 is 0; weights must be finite and > 0/);
});

test.run();
