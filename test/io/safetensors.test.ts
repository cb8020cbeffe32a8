import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSafetensors, DTYPE_BYTES, encodeSafetensors, float32Tensor, tensorToFloat32, type SafetensorsDtype, type SafetensorsTensor } from '../../src/io/safetensors.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/io/safetensors-file.js';
import { BASE_SEED, randomArray, rng } from '../helpers/random.js';

const test = suite('safetensors');
const dirs: string[] = [];
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function randomBytes(n: number, random: () => number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

function tensor(dtype: SafetensorsDtype, shape: number[], random: () => number): SafetensorsTensor {
  return { dtype, shape, data: randomBytes(shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype], random) };
}

/** A file with a hand-written header (object or raw text) and data section. */
function fileWith(header: unknown, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, ...fragments: string[]): void {
  try {
    decodeSafetensors(bytes, 'model.safetensors');
  } catch (err) {
    const message = (err as Error).message;
    for (const f of ['model.safetensors', ...fragments]) assert.ok(message.includes(f), `error "${message}" should mention "${f}"`);
    return;
  }
  assert.unreachable(`decoding should have failed with a message mentioning ${fragments.join(', ')}`);
}

test('a round trip keeps every dtype, shape, byte and metadata entry, scalars and empty tensors included', () => {
  const random = rng(1);
  const dtypes = Object.keys(DTYPE_BYTES) as SafetensorsDtype[];
  const shapes = [[], [0], [7], [3, 5], [2, 0, 3], [2, 3, 4]];
  const tensors = dtypes.map((dtype, i) => ({ name: `t${i}.${dtype}`, ...tensor(dtype, shapes[i % shapes.length]!, random) }));
  const metadata = { format: 'pt', note: `seed ${BASE_SEED}`, empty: '' };
  const { tensors: back, metadata: metaBack } = decodeSafetensors(encodeSafetensors(tensors, metadata), 'round trip');
  assert.equal(metaBack, metadata);
  assert.equal([...back.keys()].sort(), tensors.map((t) => t.name).sort());
  for (const t of tensors) {
    const b = back.get(t.name)!;
    assert.is(b.dtype, t.dtype, t.name);
    assert.equal(b.shape, t.shape, t.name);
    assert.equal(Array.from(b.data), Array.from(t.data), `${t.name} bytes (TEST_SEED=${BASE_SEED})`);
  }
});

test('the byte layout is the format’s: u64 header length, JSON padded with spaces to 8, tensors in order', () => {
  const bytes = encodeSafetensors([
    { name: 'a', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
    { name: 'b', ...float32Tensor([2], Float32Array.of(1.5, -2)) },
  ]);
  // Counted by hand: the JSON below is 107 bytes, padded with 5 spaces to 112; data is 3 + 8 bytes.
  const json = '{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}}';
  assert.is(bytes.length, 8 + 112 + 11);
  assert.equal(Array.from(bytes.subarray(0, 8)), [112, 0, 0, 0, 0, 0, 0, 0]);
  assert.is(new TextDecoder().decode(bytes.subarray(8, 8 + 112)), json + '     ');
  assert.equal(Array.from(bytes.subarray(120, 123)), [1, 2, 3]);
  // 1.5 = 0x3fc00000 and -2 = 0xc0000000, little-endian.
  assert.equal(Array.from(bytes.subarray(123)), [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]);
});

test('metadata comes first in the header, as the Python library writes it', () => {
  const bytes = encodeSafetensors([{ name: 'a', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }], { k: 'v' });
  const json = '{"__metadata__":{"k":"v"},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}';
  assert.is(json.length, 78);
  assert.is(new DataView(bytes.buffer).getBigUint64(0, true), 80n);
  assert.is(new TextDecoder().decode(bytes.subarray(8, 88)), json + '  ');
});

test('tensorToFloat32 gives the values of an unaligned F32 tensor and refuses other dtypes', () => {
  const values = randomArray(5, rng(2));
  const { tensors } = decodeSafetensors(encodeSafetensors([
    { name: 'pad', dtype: 'U8', shape: [3], data: Uint8Array.of(9, 9, 9) },
    { name: 'w', ...float32Tensor([5], values) },
  ]), 'aligned');
  const w = tensors.get('w')!;
  assert.ok(w.data.byteOffset % 4 !== 0, 'the test needs an unaligned tensor');
  assert.equal(Array.from(tensorToFloat32(w, 'w', 'aligned')), Array.from(values));
  assert.throws(() => tensorToFloat32(tensors.get('pad')!, 'pad', 'f.safetensors'), /f\.safetensors.*"pad".*U8, expected F32/);
});

test('files written are read back, and no temporary file is left beside them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
  dirs.push(dir);
  const path = join(dir, 'model.safetensors');
  const w = randomArray(33, rng(3));
  writeSafetensorsFile(path, [{ name: 'w', ...float32Tensor([3, 11], w) }], { step: '7' });
  const { tensors, metadata } = readSafetensorsFile(path);
  assert.equal(metadata, { step: '7' });
  assert.equal(Array.from(tensorToFloat32(tensors.get('w')!, 'w', path)), Array.from(w));
  assert.equal(readdirSync(dir), ['model.safetensors']);
  assert.throws(() => readSafetensorsFile(join(dir, 'missing.safetensors')), /cannot read safetensors file .*missing\.safetensors/);
});

test('encoding refuses data that does not match shape × dtype, duplicate names and non-string metadata', () => {
  assert.throws(() => encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 3], data: new Uint8Array(20) }]), /"w" has 20 bytes but shape \[2, 3\] × F32 \(4 bytes\) needs 24/);
  const a = { name: 'a', dtype: 'U8' as const, shape: [1], data: new Uint8Array(1) };
  assert.throws(() => encodeSafetensors([a, a]), /"a" appears twice/);
  assert.throws(() => encodeSafetensors([a], { n: 1 as unknown as string }), /metadata "n" must be a string/);
});

test('a file shorter than 8 bytes is reported as truncated', () => {
  rejects(new Uint8Array(5), '5 bytes', 'truncated');
});

test('a header length beyond the end of the file is reported with both sizes', () => {
  const bytes = fileWith({});
  new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
  rejects(bytes, 'header length 1000', `${bytes.length} bytes`);
});

test('a header that is not JSON, or not an object, is reported', () => {
  rejects(fileWith('{"a": '), 'not valid UTF-8 JSON');
  rejects(fileWith('[1, 2]'), 'not a JSON object');
});

test('an unknown dtype names the tensor and the dtypes allowed', () => {
  rejects(fileWith({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'tensor "w"', 'unknown dtype "F8"', 'BF16');
});

test('a bad shape or malformed data_offsets name the tensor', () => {
  rejects(fileWith({ w: { dtype: 'U8', shape: [-1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'tensor "w"', 'shape [-1]');
  rejects(fileWith({ w: { dtype: 'U8', shape: [1], data_offsets: [1, 0] } }, new Uint8Array(1)), 'tensor "w"', 'data_offsets [1,0]');
});

test('data_offsets beyond the data section are reported as a truncated file', () => {
  rejects(fileWith({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(12)), 'tensor "w"', '[0, 16]', '12-byte data section');
});

test('data_offsets that do not match shape × dtype size give both sizes', () => {
  rejects(fileWith({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, new Uint8Array(12)), 'tensor "w"', 'span 12 bytes', 'needs 8');
});

test('overlapping tensors name both tensors', () => {
  const header = { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } };
  rejects(fileWith(header, new Uint8Array(6)), 'tensor "b"', 'overlap tensor "a"');
});

test('a gap between tensors and trailing bytes are reported', () => {
  const gap = { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] } };
  rejects(fileWith(gap, new Uint8Array(5)), 'tensor "b"', 'gap after byte 2');
  rejects(fileWith({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(4)), 'cover 2 bytes', 'has 4', 'trailing');
});

test('metadata values that are not strings are reported', () => {
  rejects(fileWith({ __metadata__: { step: 7 } }), '__metadata__["step"] must be a string');
});

test.run();
