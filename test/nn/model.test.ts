import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createModel, modelConfigSchema, modelKinds, registerModel } from '../../src/nn/model.js';
import { Mlp } from '../../src/nn/mlp.js';
import { closeTestGpu, testGpu } from '../helpers/gpu.js';

const test = suite('createModel');

test('the config\'s model field is a discriminated union on kind, with the MLP and its defaults', () => {
  assert.equal(modelKinds(), ['mlp', 'gpt']);
  assert.equal(modelConfigSchema().parse({ kind: 'mlp' }), { kind: 'mlp', hidden: [256], activation: 'relu' });
  assert.equal(modelConfigSchema().parse({ kind: 'mlp', hidden: [64, 32] }), { kind: 'mlp', hidden: [64, 32], activation: 'relu' }, 'the parsed form parses again');
  assert.throws(() => modelConfigSchema().parse({ kind: 'transformer' }), /Invalid discriminator value/);
  assert.throws(() => modelConfigSchema().parse({ kind: 'mlp', nLayer: 2 }), /Unrecognized key/);
});

test('createModel builds the MLP the config names, sized by the data, with its layout and init', async () => {
  const ctx = await testGpu();
  const model = await createModel(ctx, { kind: 'mlp', hidden: [16], activation: 'gelu' }, { features: 20, classes: 5 });
  assert.instance(model, Mlp);
  assert.is(model.description, 'MLP 20-16-5');
  assert.equal(model.layout.tensors.map((t) => t.shape), [[16, 20], [16], [5, 16], [5]]);
  assert.is(model.params.size, model.layout.totalFloats * 4);
  assert.equal(model.initialParameters(3), model.initialParameters(3), 'the same seed, the same start on every rank');
  const graph = await model.graph(2, 1);
  assert.throws(() => graph.upload({ tokens: new Uint32Array(8), targets: new Uint32Array(8), size: 2 }), /MLP 20-16-5 reads float features .* this batch holds token ids/);
  assert.throws(() => graph.upload({ x: new Float32Array(20), y: new Uint32Array(2), size: 2 }), /a batch of 2 rows needs x of 2 × 20 floats/);
  // A device that only created buffers and is then destroyed left the next test file's new
  // device hanging (Dawn, lavapipe); letting its queue go idle first avoids that.
  await ctx.device.queue.onSubmittedWorkDone();
});

test('registering a model checks its kind; an unknown kind names the known ones', async () => {
  const ctx = await testGpu();
  try {
    await createModel(ctx, { kind: 'nope' } as never, { features: 1, classes: 2 });
    assert.unreachable('an unknown kind must be refused');
  } catch (e) {
    assert.match((e as Error).message, /no model "nope" \(known: mlp, gpt\); register it with registerModel/);
  }
  const schema = z.object({ kind: z.literal('other') }).strict();
  assert.throws(() => registerModel('mlp', { schema, create: () => { throw new Error('unused'); } }), /model "mlp" is already registered/);
  assert.throws(() => registerModel('elsewhere' as 'mlp', { schema, create: () => { throw new Error('unused'); } }), /kind must be z\.literal\('elsewhere'\)/);
});

test.after(() => closeTestGpu());
test.run();
