import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ByteWindowLoader, evalTextBatches, evalWindowStarts, evaluateText, loadTextFiles, readTextFile, splitTrainVal, trainBytesOf, type TokenBatch,
} from '../../src/data/text.js';
import { BASE_SEED, rng } from '../helpers/random.js';

const test = suite('byte-level text');
const dir = mkdtempSync(join(tmpdir(), 'text-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes 0, 1, 2, … (mod 256): every byte says where it came from. */
const counting = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % 256);

function randomBytes(n: number, random: () => number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

function writeFile(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

test('the split is prepare.py\'s: the first int(0.9·n) bytes train and the rest validate, nothing lost or shared', () => {
  for (const n of [1, 9, 10, 11, 99, 100, 1001, 5_965_653]) {
    const bytes = counting(n);
    const { train, val } = splitTrainVal(bytes, 'x');
    assert.is(train.length, Math.floor(n * 0.9), `n = ${n}`);
    assert.is(train.length + val.length, n);
    if (val.length > 0) assert.is(val[0], bytes[train.length]);
  }
  assert.is(trainBytesOf(10), 9);
  assert.is(trainBytesOf(5_965_653), 5_369_087); // int(5965653 * 0.9) in Python
});

test('--text reads any bytes, binary included, and splits them 90/10; --val-text takes the validation part from its own file', () => {
  const bytes = randomBytes(1000, rng(1));
  const path = writeFile('binary.bin', bytes);
  const split = loadTextFiles(path, 16);
  assert.equal(Array.from(split.train), Array.from(bytes.subarray(0, 900)));
  assert.equal(Array.from(split.val), Array.from(bytes.subarray(900)));
  const valPath = writeFile('val.txt', new TextEncoder().encode('héllo wörld, validation text'));
  const own = loadTextFiles(path, 16, valPath);
  assert.is(own.train.length, 1000);
  assert.is(new TextDecoder().decode(own.val), 'héllo wörld, validation text');
});

test('a missing file, a directory and a file shorter than block_size + 1 bytes are refused, naming the file and the sizes', () => {
  const sub = join(dir, 'a-directory');
  mkdirSync(sub, { recursive: true });
  assert.throws(() => readTextFile(join(dir, 'nope.txt'), 8), /--text .*nope\.txt: no such file/);
  assert.throws(() => readTextFile(sub, 8), /--text .*a-directory: is a directory/);
  const short = writeFile('short.txt', counting(8));
  assert.throws(() => readTextFile(short, 8), /short\.txt: has 8 bytes, fewer than one window of block_size \+ 1 = 9 bytes/);
  assert.is(readTextFile(short, 7).length, 8, 'exactly block_size + 1 bytes is one window');
  assert.throws(() => loadTextFiles(short, 7, join(dir, 'missing-val.txt')), /--val-text .*missing-val\.txt: no such file/);
  // 100 bytes: 90 train, 10 validate; a block of 10 fits the training part but not the validation part.
  const hundred = writeFile('hundred.txt', counting(100));
  assert.throws(() => loadTextFiles(hundred, 10), /the validation part \(last 10 % of the bytes\) has 10 bytes, fewer than one window of block_size \+ 1 = 11/);
  assert.is(loadTextFiles(hundred, 9).val.length, 10);
});

test('evaluation windows start at 0, T, 2T, …; inputs are [s, s+T), targets [s+1, s+T+1), and a window past the end is dropped', () => {
  const bytes = counting(11);
  assert.equal(evalWindowStarts(11, 3), [0, 3, 6]); // s = 9 would need byte 12
  assert.equal(evalWindowStarts(10, 3), [0, 3, 6]); // s = 6 needs bytes 6 … 9: exactly fits
  assert.equal(evalWindowStarts(9, 3), [0, 3]);
  assert.equal(evalWindowStarts(4, 3), [0]);
  assert.equal(evalWindowStarts(3, 3), []);
  assert.equal(evalWindowStarts(0, 3), []);
  assert.equal(evalWindowStarts(1, 1), []);
  assert.equal(evalWindowStarts(2, 1), [0]);
  // The generator reuses its arrays: copy each batch before the next.
  const batches = [];
  for (const b of evalTextBatches(bytes, 3, 2)) batches.push({ inputs: Array.from(b.inputs), targets: Array.from(b.targets), rows: b.rows });
  assert.equal(batches, [
    { inputs: [0, 1, 2, 3, 4, 5], targets: [1, 2, 3, 4, 5, 6], rows: 2 },
    { inputs: [6, 7, 8, 0, 0, 0], targets: [7, 8, 9, 0, 0, 0], rows: 1 }, // the padding row is zero
  ]);
});

test('every byte from the second up to the end of the last window is a target exactly once, for random lengths, blocks and batches', () => {
  const random = rng(2);
  for (let trial = 0; trial < 100; trial++) {
    // At most 256 bytes, so a byte's value is its position.
    const n = 1 + Math.floor(random() * 256);
    const T = 1 + Math.floor(random() * 20);
    const B = 1 + Math.floor(random() * 5);
    const timesTarget = new Uint32Array(n);
    for (const b of evalTextBatches(counting(n), T, B)) {
      for (let i = 0; i < b.rows * T; i++) {
        assert.is(b.targets[i], b.inputs[i]! + 1, 'the target of an input is the byte after it');
        timesTarget[b.targets[i]!]!++;
      }
    }
    const windows = Math.floor((n - 1) / T);
    const what = `n ${n}, T ${T}, B ${B} (TEST_SEED=${BASE_SEED})`;
    timesTarget.forEach((times, position) => assert.is(times, position >= 1 && position <= windows * T ? 1 : 0, `${what}: byte ${position}`));
    assert.ok(windows * T + 1 <= n && (windows + 1) * T + 1 > n, `${what}: the next window would not fit`);
  }
});

test('evaluateText is the mean over all targets of the summed loss, whatever the batch size', async () => {
  const random = rng(3);
  const bytes = randomBytes(1000, random);
  // A bigram model with fixed random log-probabilities: the loss of a target depends on its input.
  const logp = Array.from({ length: 256 }, () => {
    const w = Array.from({ length: 256 }, () => random() * 3);
    const z = Math.log(w.reduce((a, x) => a + Math.exp(x), 0));
    return w.map((x) => x - z);
  });
  const T = 7;
  let direct = 0;
  let count = 0;
  for (let s = 0; s + T + 1 <= bytes.length; s += T) {
    for (let t = 0; t < T; t++) direct -= logp[bytes[s + t]!]![bytes[s + t + 1]!]!;
    count += T;
  }
  const sumLoss = (b: TokenBatch): number => {
    let sum = 0;
    for (let i = 0; i < b.rows * T; i++) sum -= logp[b.inputs[i]!]![b.targets[i]!]!;
    return sum;
  };
  for (const B of [1, 4, 12, 500]) {
    const result = await evaluateText(bytes, T, B, sumLoss);
    assert.is(result.targets, count);
    assert.is(result.targets, 142 * 7);
    assert.ok(Math.abs(result.loss - direct / count) < 1e-12, `B ${B}: ${result.loss} vs ${direct / count}`);
    assert.ok(Math.abs(result.bitsPerByte - result.loss / Math.LN2) < 1e-15);
  }
  // A uniform model scores ln 256 nats, 8 bits per byte.
  const uniform = await evaluateText(bytes, T, 5, (b) => b.rows * T * Math.log(256));
  assert.ok(Math.abs(uniform.bitsPerByte - 8) < 1e-12);
  // An asynchronous sumLoss (a GPU read-back) gives the same.
  const later = await evaluateText(bytes, T, 4, async (b) => sumLoss(b));
  assert.is(later.loss, (await evaluateText(bytes, T, 4, sumLoss)).loss);
  const short = await evaluateText(bytes.subarray(0, 7), 7, 1, sumLoss).then(() => undefined, (e: Error) => e);
  assert.match(short?.message ?? 'no error', /7 bytes hold no window of block_size \+ 1 = 8 bytes/);
});

test('ranks own disjoint, contiguous slices of the training bytes, and every window stays inside its rank\'s slice', () => {
  const n = 10_007;
  const T = 16;
  const train = counting(n);
  for (const worldSize of [1, 2, 3, 4, 7]) {
    const L = Math.floor(n / worldSize);
    const owner = new Int32Array(n).fill(-1);
    for (let rank = 0; rank < worldSize; rank++) {
      for (const shuffle of [true, false]) {
        const loader = new ByteWindowLoader(train, { rank, worldSize, batchSize: 12, blockSize: T, shuffle, seed: 5 });
        assert.is(loader.bytesPerRank, L);
        assert.is(loader.sliceStart, rank * L);
        for (let step = 0; step < 40; step++) {
          for (const start of loader.windowStarts(step)) {
            assert.ok(start >= 0 && start + T + 1 <= L, `rank ${rank}/${worldSize}: window at ${start} leaves the slice of ${L} bytes`);
            for (let i = start; i <= start + T; i++) {
              const at = loader.sliceStart + i;
              assert.ok(owner[at] === -1 || owner[at] === rank, `byte ${at} read by ranks ${owner[at]} and ${rank}`);
              owner[at] = rank;
            }
          }
        }
      }
    }
  }
});

test('a batch holds the windows it names: inputs are bytes [s, s+T) of the slice and targets [s+1, s+T+1)', () => {
  const train = randomBytes(5000, rng(4));
  const T = 9;
  for (const shuffle of [true, false]) {
    const loader = new ByteWindowLoader(train, { rank: 1, worldSize: 3, batchSize: 5, blockSize: T, shuffle, seed: 11 });
    for (const step of [0, 1, 17, 1000]) {
      const starts = loader.windowStarts(step);
      const { inputs, targets, rows } = loader.batch(step);
      assert.is(rows, 5);
      starts.forEach((s, row) => {
        const at = loader.sliceStart + s;
        assert.equal(Array.from(inputs.subarray(row * T, (row + 1) * T)), Array.from(train.subarray(at, at + T)));
        assert.equal(Array.from(targets.subarray(row * T, (row + 1) * T)), Array.from(train.subarray(at + 1, at + T + 1)));
      });
    }
  }
});

test('without shuffling the windows are consecutive, T apart, and wrap around after a pass', () => {
  // 100 bytes, one rank, T = 10: windows at 0, 10, …, 80 (9 of them; 90 would need byte 100).
  const loader = new ByteWindowLoader(counting(100), { rank: 0, worldSize: 1, batchSize: 4, blockSize: 10, shuffle: false, seed: 0 });
  assert.is(loader.windowsPerPass, 9);
  assert.equal(loader.windowStarts(0), [0, 10, 20, 30]);
  assert.equal(loader.windowStarts(1), [40, 50, 60, 70]);
  assert.equal(loader.windowStarts(2), [80, 0, 10, 20]);
  assert.equal(loader.windowStarts(9), [0, 10, 20, 30], 'after 9 batches of 4 = 4 passes it starts over');
  // The seed does not matter without shuffling.
  const other = new ByteWindowLoader(counting(100), { rank: 0, worldSize: 1, batchSize: 4, blockSize: 10, shuffle: false, seed: 99 });
  assert.equal(other.windowStarts(5), loader.windowStarts(5));
});

test('random windows are a function of (seed, rank, step): a resumed loader draws the same batches; seeds and ranks differ', () => {
  const train = counting(100_000);
  const opts = { rank: 0, worldSize: 2, batchSize: 12, blockSize: 64, shuffle: true, seed: 3 };
  const a = new ByteWindowLoader(train, opts);
  const seq = Array.from({ length: 10 }, (_, s) => a.windowStarts(s));
  const resumed = new ByteWindowLoader(train, opts);
  assert.equal(resumed.windowStarts(7), seq[7]);
  assert.equal(a.windowStarts(3), seq[3], 'asking again gives the same batch');
  assert.not.equal(new ByteWindowLoader(train, { ...opts, seed: 4 }).windowStarts(0), seq[0]);
  assert.not.equal(new ByteWindowLoader(train, { ...opts, rank: 1 }).windowStarts(0), seq[0]);
  assert.not.equal(seq[0], seq[1]);
});

test('random window starts are uniform over [0, L − T) of the slice: every start reachable, none beyond', () => {
  // L = 30, T = 10: 20 possible starts; 2000 windows hit each about 100 times.
  const loader = new ByteWindowLoader(counting(60), { rank: 1, worldSize: 2, batchSize: 20, blockSize: 10, shuffle: true, seed: BASE_SEED });
  const hits = new Array<number>(30).fill(0);
  for (let step = 0; step < 100; step++) for (const s of loader.windowStarts(step)) hits[s]!++;
  for (let s = 0; s < 20; s++) assert.ok(hits[s]! > 50 && hits[s]! < 160, `start ${s} drawn ${hits[s]} times of 2000 (TEST_SEED=${BASE_SEED})`);
  for (let s = 20; s < 30; s++) assert.is(hits[s], 0, `start ${s} leaves no room for T + 1 bytes`);
});

test('a slice too small for one window, and bad ranks, sizes and steps, are refused with the numbers', () => {
  const train = counting(100);
  const base = { rank: 0, worldSize: 1, batchSize: 2, blockSize: 8, shuffle: true, seed: 0 };
  assert.throws(() => new ByteWindowLoader(train, { ...base, worldSize: 12 }), /100 training bytes give each of 12 processes 8 bytes, fewer than one window of block_size \+ 1 = 9/);
  assert.ok(new ByteWindowLoader(train, { ...base, worldSize: 11 }).bytesPerRank === 9);
  assert.throws(() => new ByteWindowLoader(train, { ...base, rank: 1 }), /rank must be an integer from 0 to worldSize-1 = 0 \(got 1\)/);
  assert.throws(() => new ByteWindowLoader(train, { ...base, batchSize: 0 }), /batch size must be an integer ≥ 1 \(got 0\)/);
  assert.throws(() => new ByteWindowLoader(train, { ...base, blockSize: 0 }), /block size must be an integer ≥ 1 \(got 0\)/);
  assert.throws(() => new ByteWindowLoader(train, base).windowStarts(-1), /step must be an integer ≥ 0 \(got -1\)/);
});

test.run();
