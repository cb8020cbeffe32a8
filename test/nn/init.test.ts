import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { initParameters, ones, zeros } from '../../src/nn/init.js';
import { buildLayout, tensorNamed } from '../../src/nn/layout.js';
import { MLP_INIT, mlpLayout } from '../../src/nn/mlp.js';

const test = suite('initialisation by tensor role');

const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

test('the MLP starts from the same bytes as before initialisation was chosen by role', () => {
  // Digests of the weights the name-suffix rule gave (kaiming-uniform for `.weight`, zeros elsewhere).
  assert.is(digest(initParameters(mlpLayout([784, 256, 10]), 0, MLP_INIT)), '757037944673664597fc805672aebe633bf8ef075c1683bdc3994a35c67f3905');
  assert.is(digest(initParameters(mlpLayout([20, 16, 5]), 5, MLP_INIT)), 'a5168cbcf8edf61964c1948d1bc3968c07a22a990b4b457a4d32ac767f214cfa');
  assert.is(digest(initParameters(mlpLayout([7, 33, 65, 1]), 3, MLP_INIT)), '5de2a208b2bb48d24fabfe8e5f4de301cfd090f65cd1af22a8e77ffb1eecc6d2');
});

test('each role gets its own initializer: kaiming bound from the fan-in, norm weights at 1, biases at 0, embeddings normal', () => {
  const layout = buildLayout([
    { name: 'wte.weight', shape: [50, 8], role: 'embedding' },
    { name: 'ln.weight', shape: [8], role: 'norm-weight' },
    { name: 'ln.bias', shape: [8], role: 'norm-bias' },
    { name: 'conv.weight', shape: [4, 3, 5], role: 'weight' },
    { name: 'conv.bias', shape: [4], role: 'bias' },
  ]);
  const params = initParameters(layout, 1, {
    embedding: { kind: 'normal', std: 0.02 }, 'norm-weight': ones, 'norm-bias': zeros, weight: { kind: 'kaiming-uniform' }, bias: zeros,
  });
  const values = (name: string) => { const t = tensorNamed(layout, name); return Array.from(params.subarray(t.offset, t.offset + t.size)); };
  assert.ok(values('ln.weight').every((v) => v === 1), 'a LayerNorm weight starts at 1, not at a kaiming bound');
  assert.ok(values('ln.bias').every((v) => v === 0));
  assert.ok(values('conv.bias').every((v) => v === 0));
  const bound = Math.sqrt(6 / 15); // fan-in of [4, 3, 5]: 3 × 5, as PyTorch counts it
  const conv = values('conv.weight');
  assert.ok(conv.every((v) => Math.abs(v) <= bound) && Math.max(...conv.map(Math.abs)) > bound / 2, `kaiming within ±${bound}`);
  const emb = values('wte.weight');
  const std = Math.sqrt(emb.reduce((s, v) => s + v * v, 0) / emb.length);
  assert.ok(std > 0.015 && std < 0.025, `embedding std ${std}, expected about 0.02`);
});

test('a role the scheme does not cover, or kaiming on a 1-D tensor, is an error that names the tensor', () => {
  const layout = buildLayout([{ name: 'ln.weight', shape: [8], role: 'norm-weight' }]);
  assert.throws(() => initParameters(layout, 0, MLP_INIT), /tensor "ln\.weight" has role norm-weight, which this model's scheme does not cover/);
  assert.throws(() => initParameters(layout, 0, { 'norm-weight': { kind: 'kaiming-uniform' } }), /kaiming-uniform needs a tensor of 2 or more dimensions.*"ln\.weight" has shape \[8\]/);
});

test('the same seed gives the same parameters; adding a constant tensor leaves the others unchanged', () => {
  const a = buildLayout([{ name: 'w', shape: [3, 4], role: 'weight' }, { name: 'v', shape: [2, 4], role: 'weight' }]);
  const b = buildLayout([{ name: 'w', shape: [3, 4], role: 'weight' }, { name: 'n', shape: [4], role: 'norm-weight' }, { name: 'v', shape: [2, 4], role: 'weight' }]);
  const scheme = { weight: { kind: 'kaiming-uniform' }, 'norm-weight': ones } as const;
  assert.equal(initParameters(a, 9, scheme), initParameters(a, 9, scheme));
  const pa = initParameters(a, 9, scheme);
  const pb = initParameters(b, 9, scheme);
  const slice = (p: Float32Array, layout: typeof a, name: string) => { const t = tensorNamed(layout, name); return Array.from(p.subarray(t.offset, t.offset + t.size)); };
  assert.equal(slice(pb, b, 'v'), slice(pa, a, 'v'), 'constant initializers draw no random numbers');
});

test.run();
