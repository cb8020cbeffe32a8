import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildLayout, parameterLayoutSchema, TENSOR_ALIGNMENT } from '../../src/nn/layout.js';
import { mlpLayout } from '../../src/nn/mlp.js';

const test = suite('parameter layout');

test('the MLP layout keeps nn.Linear names and shapes, with each tensor\'s role, at aligned offsets', () => {
  const layout = mlpLayout([784, 256, 10]);
  assert.equal(layout.tensors.map((t) => [t.name, t.shape, t.role]), [
    ['layers.0.weight', [256, 784], 'weight'],
    ['layers.0.bias', [256], 'bias'],
    ['layers.1.weight', [10, 256], 'weight'],
    ['layers.1.bias', [10], 'bias'],
  ]);
  assert.ok(layout.tensors.every((t) => t.offset % TENSOR_ALIGNMENT === 0), 'offsets are multiples of 64 floats (256 bytes)');
  assert.is(layout.parameterCount, 784 * 256 + 256 + 256 * 10 + 10);
  assert.ok(layout.totalFloats >= layout.parameterCount);
});

test('a layout survives JSON and the schema, as it does on its way from a worker to the coordinator', () => {
  const layout = mlpLayout([20, 16, 5]);
  assert.equal(parameterLayoutSchema.parse(JSON.parse(JSON.stringify(layout))), layout);
  const broken = JSON.parse(JSON.stringify(layout));
  broken.tensors[0].role = 'kernel';
  assert.throws(() => parameterLayoutSchema.parse(broken));
});

test('two tensors with one name are refused', () => {
  assert.throws(() => buildLayout([{ name: 'w', shape: [2], role: 'bias' }, { name: 'w', shape: [3], role: 'bias' }]), /tensor "w" appears twice/);
});

test.run();
