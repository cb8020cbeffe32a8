import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataFile } from '../../src/data/user-data.js';
import { encodeSafetensors, float32Tensor, type SafetensorsDtype, type SafetensorsTensor } from '../../src/io/safetensors.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { BASE_SEED, randomArray, randomLabels, rng } from '../helpers/random.js';

const test = suite('user data');
const dir = mkdtempSync(join(tmpdir(), 'user-data-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function file(ext: string, contents: string | Uint8Array): string {
  const path = join(dir, `data${++fileNo}${ext}`);
  writeFileSync(path, contents);
  return path;
}

function fails(path: string, options: { classes?: number }, ...fragments: string[]): void {
  try {
    loadDataFile(path, options);
  } catch (err) {
    const message = (err as Error).message;
    for (const f of [path, ...fragments]) assert.ok(message.includes(f), `error "${message}" should mention "${f}"`);
    return;
  }
  assert.unreachable(`loading ${path} should fail mentioning ${fragments.join(', ')}`);
}

/** Little-endian bytes of integer labels in `dtype`. */
function labelTensor(dtype: SafetensorsDtype, labels: ArrayLike<number>): SafetensorsTensor {
  const sizes: Partial<Record<SafetensorsDtype, number>> = { I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1 };
  const size = sizes[dtype]!;
  const data = new Uint8Array(labels.length * size);
  const view = new DataView(data.buffer);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (size === 8) view.setBigInt64(i * 8, BigInt(v), true);
    else if (size === 4) view.setInt32(i * 4, v, true);
    else if (size === 2) view.setInt16(i * 2, v, true);
    else view.setInt8(i, v);
  }
  return { dtype, shape: [labels.length], data };
}

const safetensorsFile = (x: SafetensorsTensor | undefined, y: SafetensorsTensor | undefined): string =>
  file('.safetensors', encodeSafetensors([...(x ? [{ name: 'x', ...x }] : []), ...(y ? [{ name: 'y', ...y }] : [])]));

test('a safetensors file loads with each integer label dtype', () => {
  const random = rng(1);
  const [n, features] = [13, 6];
  const x = randomArray(n * features, random);
  const labels = randomLabels(n, 4, random);
  labels.set([3, 2, 1, 0]); // every class present, so that classes = 4 whatever was drawn
  for (const dtype of ['I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8'] as SafetensorsDtype[]) {
    const d = loadDataFile(safetensorsFile(float32Tensor([n, features], x), labelTensor(dtype, labels)));
    assert.is(d.count, n, dtype);
    assert.is(d.features, features, dtype);
    assert.is(d.classes, 4, dtype);
    assertBitwiseEqual(d.x, x, `${dtype} x`);
    assert.equal(Array.from(d.y), Array.from(labels), `${dtype} labels (TEST_SEED=${BASE_SEED})`);
  }
});

test('a CSV file with a header, blank lines and CRLF endings loads; classes default to max label + 1', () => {
  const d = loadDataFile(file('.csv', 'label,a,b\r\n2, 0.5,-1e-3\r\n\r\n0,3,4\r\n  \n1,.25,+7\r\n'));
  assert.is(d.count, 3);
  assert.is(d.features, 2);
  assert.is(d.classes, 3);
  assert.equal(Array.from(d.y), [2, 0, 1]);
  assertBitwiseEqual(d.x, Float32Array.of(0.5, -1e-3, 3, 4, 0.25, 7), 'x');
  assert.is(d.x.buffer.byteLength, 6 * 4, 'x owns exactly its values');
});

test('a CSV file without a header loads, and opts.classes sets the class count', () => {
  const random = rng(2);
  const x = randomArray(20, random);
  const lines = Array.from({ length: 5 }, (_, i) => [i % 2, ...x.subarray(i * 4, i * 4 + 4)].join(','));
  const d = loadDataFile(file('.csv', lines.join('\n')), { classes: 10 });
  assert.is(d.count, 5);
  assert.is(d.classes, 10);
  assertBitwiseEqual(d.x, x, 'x');
});

test('a missing tensor names the tensors the file has', () => {
  fails(safetensorsFile(undefined, labelTensor('I64', [0])), {}, 'tensor "x" is missing', '"y"');
  fails(safetensorsFile(float32Tensor([1, 2], Float32Array.of(1, 2)), undefined), {}, 'tensor "y" is missing', '"x"');
});

test('a wrong dtype or rank of x or y says what is expected', () => {
  fails(safetensorsFile({ dtype: 'F64', shape: [1, 1], data: new Uint8Array(8) }, labelTensor('I64', [0])), {}, '"x" has dtype F64', 'F32', 'astype(np.float32)');
  fails(safetensorsFile(float32Tensor([2], Float32Array.of(1, 2)), labelTensor('I64', [0, 1])), {}, '"x" has shape [2] (rank 1)');
  fails(safetensorsFile(float32Tensor([1, 2], Float32Array.of(1, 2)), float32Tensor([1], Float32Array.of(0))), {}, '"y" has dtype F32', 'integers');
  fails(safetensorsFile(float32Tensor([1, 2], Float32Array.of(1, 2)), { ...labelTensor('I32', [0]), shape: [1, 1] }), {}, '"y" has shape [1, 1] (rank 2)');
});

test('a different number of samples in x and y gives both numbers', () => {
  fails(safetensorsFile(float32Tensor([3, 1], Float32Array.of(1, 2, 3)), labelTensor('I64', [0, 1])), {}, '"x" has 3 samples but tensor "y" has 2 labels');
});

test('negative labels are refused, in safetensors and in CSV', () => {
  fails(safetensorsFile(float32Tensor([2, 1], Float32Array.of(1, 2)), labelTensor('I64', [0, -1])), {}, 'label -1 of sample 1 is negative');
  fails(safetensorsFile(float32Tensor([2, 1], Float32Array.of(1, 2)), labelTensor('I8', [-5, 0])), {}, 'label -5 of sample 0 is negative');
  fails(file('.csv', '0,1\n-1,2\n'), {}, 'line 2', 'label "-1" is not a class index');
});

test('non-integer labels and labels beyond the class count are refused', () => {
  fails(file('.csv', '0,1\n1.5,2\n'), {}, 'line 2', 'label "1.5"');
  fails(file('.csv', '0,1\n7,2\n'), { classes: 5 }, 'label 7 (sample 1) is out of range for 5 classes');
  fails(safetensorsFile(float32Tensor([1, 1], Float32Array.of(1)), labelTensor('U8', [200])), { classes: 10 }, 'label 200', '10 classes');
});

test('a label far past the others (1000 among ten classes, 2^31) is refused naming the file, sample and value, and how to say the count', () => {
  const tenClasses = [...Array.from({ length: 10 }, (_, i) => `${i},0.5`), '1000,1'].join('\n');
  fails(file('.csv', tenClasses), {}, 'label 1000 (sample 10)', 'its labels take 11 distinct values, so they must be 0 … 10', '--classes 1001');
  fails(safetensorsFile(float32Tensor([3, 1], Float32Array.of(1, 2, 3)), labelTensor('U32', [0, 2 ** 31, 1])), {}, `label ${2 ** 31} (sample 1)`, '--classes 2147483649');
  fails(file('.csv', '0,1\n2,1\n'), {}, 'label 2 (sample 1)', 'must be 0 … 1');
  // Asked for, the count is what the user says.
  assert.is(loadDataFile(file('.csv', tenClasses), { classes: 1001 }).classes, 1001);
});

test('a first CSV line that mixes names and numbers is an error naming the cell, not a silently dropped header or row', () => {
  fails(file('.csv', 'label,0.5,b\n0,1,2\n'), {}, 'line 1, column 1: "label" is not a number, but column 2 ("0.5") is', 'a header line holds only names');
  fails(file('.csv', '1,x1,2\n0,1,2\n'), {}, 'line 1, column 2: "x1" is not a number, but column 1 ("1") is');
  // All names: a header.
  assert.is(loadDataFile(file('.csv', 'label,a,b\n0,1,2\n1,3,4\n')).count, 2);
});

test('a non-finite feature names where it is', () => {
  fails(file('.csv', '0,1,2\n1,nan,3\n'), {}, 'line 2, column 2', '"nan" is not finite');
  fails(file('.csv', '0,1,-Infinity\n'), {}, 'line 1, column 3', 'not finite');
  fails(safetensorsFile(float32Tensor([2, 2], Float32Array.of(1, 2, 3, Infinity)), labelTensor('I64', [0, 1])), {}, 'feature 1 of sample 1 is Infinity');
});

test('a ragged CSV row gives its line number and both column counts', () => {
  fails(file('.csv', 'y,a,b\n0,1,2\n\n1,2\n'), {}, 'line 4: 2 columns, but the first data row has 3');
});

test('a non-numeric CSV field after the header gives its line and column', () => {
  fails(file('.csv', 'y,a\n0,1\n1,abc\n'), {}, 'line 3, column 2', '"abc" is not a number');
});

test('an empty file, or one with only a header, holds no samples', () => {
  fails(file('.csv', ''), {}, 'no samples');
  fails(file('.csv', 'label,a,b\n\n'), {}, 'no samples');
  fails(safetensorsFile({ dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) }, labelTensor('I64', [])), {}, 'no samples');
});

test('an unknown extension names both formats', () => {
  fails(file('.npy', 'x'), {}, 'unknown data file extension ".npy"', '.safetensors', '.csv');
});

test('a file that does not exist is named in the error', () => {
  assert.throws(() => loadDataFile(join(dir, 'nope.csv')), /cannot read data file .*nope\.csv/);
});

test.run();
