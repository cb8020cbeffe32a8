import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildLayout, type ParameterLayout } from '../../src/nn/layout.js';
import { mlpLayout } from '../../src/nn/mlp.js';
import { createOptimizer, weightDecayRuns, type OptimizerConfig } from '../../src/nn/optimizer.js';
import type { TensorRole } from '../../src/nn/layout.js';
import { assertClose } from '../helpers/assert.js';
import { closeTestGpu, download, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('optimizers over a layout');

// A weight, a bias, a norm weight and a weight longer than one alignment block: decay runs break
// at every role change.
const layout = buildLayout([
  { name: 'h.weight', shape: [3, 4], role: 'weight' },
  { name: 'h.bias', shape: [5], role: 'bias' },
  { name: 'ln.weight', shape: [7], role: 'norm-weight' },
  { name: 'out.weight', shape: [2, 70], role: 'weight' },
]);

const base = { momentum: 0, weightDecay: 0.5, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

test('weight decay runs: one for a layout whose tensors all decay (the MLP), one per change of decision otherwise', () => {
  const mlp = mlpLayout([20, 16, 5]);
  assert.equal(weightDecayRuns(mlp, undefined), [{ offset: 0, count: mlp.totalFloats, decays: true }]);
  assert.equal(weightDecayRuns(mlp, ['weight', 'bias']), [{ offset: 0, count: mlp.totalFloats, decays: true }]);
  const runs = weightDecayRuns(layout, ['weight']);
  assert.equal(runs.map((r) => r.decays), [true, false, true]);
  assert.is(runs.reduce((s, r) => s + r.count, 0), layout.totalFloats, 'the runs cover the flat buffer');
  runs.forEach((r, i) => assert.is(r.offset, i === 0 ? 0 : runs[i - 1]!.offset + runs[i - 1]!.count));
});

/** One step with zero gradients: only weight decay moves the parameters. */
async function decayStep(kind: 'sgd' | 'adamw', roles: readonly TensorRole[] | undefined): Promise<{ before: Float32Array; after: Float32Array }> {
  const ctx = await testGpu();
  const before = new Float32Array(layout.totalFloats);
  for (const t of layout.tensors) before.set(randomArray(t.size, rng(t.offset + 1)), t.offset);
  const model = { layout, params: upload(ctx, 'params', before), grads: upload(ctx, 'grads', new Float32Array(layout.totalFloats)) };
  const config: OptimizerConfig = { ...base, kind, weightDecayRoles: roles };
  const optimizer = await createOptimizer(ctx, model, config);
  await run(ctx, optimizer.prepareStep(0.1));
  return { before, after: await download(ctx, model.params, layout.totalFloats) };
}

function expectDecay(l: ParameterLayout, before: Float32Array, after: Float32Array, decayed: (role: TensorRole) => boolean, what: string): void {
  for (const t of l.tensors) {
    const b = before.subarray(t.offset, t.offset + t.size);
    const a = after.subarray(t.offset, t.offset + t.size);
    if (decayed(t.role)) assertClose(a, Float64Array.from(b, (v) => v * (1 - 0.1 * 0.5)), `${what}: ${t.name} decays`);
    else assert.equal(Array.from(a), Array.from(b), `${what}: ${t.name} (${t.role}) does not decay`);
  }
}

test('SGD and AdamW decay only the roles asked for, and every tensor when none are named', async () => {
  for (const kind of ['sgd', 'adamw'] as const) {
    const some = await decayStep(kind, ['weight']);
    expectDecay(layout, some.before, some.after, (role) => role === 'weight', `${kind}, weights only`);
    const all = await decayStep(kind, undefined);
    expectDecay(layout, all.before, all.after, () => true, `${kind}, every role`);
  }
});

test.after(() => closeTestGpu());
test.run();
