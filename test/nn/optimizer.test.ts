import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeBuffer } from '../../src/gpu/buffers.js';
import type { Dispatch } from '../../src/gpu/dispatch.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { prepareGradNormClip } from '../../src/kernels/grad-norm.js';
import { prepareAdamW, prepareSgd } from '../../src/kernels/optimizers.js';
import { gptLayout } from '../../src/nn/gpt.js';
import { buildLayout, type ParameterLayout } from '../../src/nn/layout.js';
import { mlpLayout } from '../../src/nn/mlp.js';
import { createOptimizer, weightDecayRuns, type OptimizerConfig } from '../../src/nn/optimizer.js';
import type { TensorRole } from '../../src/nn/layout.js';
import { assertClose } from '../helpers/assert.js';
import { closeTestGpu, createStorage, download, run, testGpu, upload } from '../helpers/gpu.js';
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

/**
 * The optimizer as it was before the fused step: one dispatch per run of tensors with the same decay
 * decision (weight decay 0 for the others), each over its slice of the flat buffers, after
 * clip_grad_norm_'s separate scaling pass. The fused step must reproduce its bits.
 */
async function perRunReference(ctx: GpuContext, l: ParameterLayout, params: GPUBuffer, grads: GPUBuffer, config: OptimizerConfig, maxNorm: number | undefined) {
  const count = l.totalFloats;
  const runs = weightDecayRuns(l, config.weightDecayRoles);
  const slice = (buffer: GPUBuffer, r: { offset: number; count: number }) => ({ buffer, offset: r.offset * 4, size: r.count * 4 });
  const decay = (r: { decays: boolean }) => (r.decays ? config.weightDecay : 0);
  const clipping = maxNorm === undefined ? undefined
    : await prepareGradNormClip(ctx, { tensors: [{ grads, count }], maxNorm, clip: createStorage(ctx, 'reference clip', 8) });
  const state = [createStorage(ctx, 'reference state 0', count * 4), createStorage(ctx, 'reference state 1', count * 4)] as const;
  let step = 0;
  let prepare: (lr: number) => Dispatch[];
  if (config.kind === 'sgd') {
    const kernels = await Promise.all(runs.map(async (r) => ({ r, k: await prepareSgd(ctx, { params: slice(params, r), grads: slice(grads, r), momentumBuffer: slice(state[0], r), count: r.count }) })));
    prepare = (lr) => kernels.map(({ r, k }) => {
      k.setHyper({ lr, momentum: config.momentum, weightDecay: decay(r), nesterov: config.nesterov, firstStep: step === 0 });
      return k.dispatch;
    });
  } else {
    const kernels = await Promise.all(runs.map(async (r) => ({ r, k: await prepareAdamW(ctx, { params: slice(params, r), grads: slice(grads, r), m: slice(state[0], r), v: slice(state[1], r), count: r.count }) })));
    prepare = (lr) => kernels.map(({ r, k }) => {
      k.setHyper({ lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps, weightDecay: decay(r), step: step + 1 });
      return k.dispatch;
    });
  }
  return {
    runs: runs.length,
    state: config.kind === 'sgd' ? [state[0]] : [...state],
    step(lr: number): Dispatch[] {
      const dispatches = [...(clipping?.dispatches ?? []), ...prepare(lr)];
      step++;
      return dispatches;
    },
  };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

test('the one fused dispatch leaves the bits of one dispatch per decay run and a separate clip pass (GPT and MLP layouts, SGD and AdamW, 3 steps)', async () => {
  const ctx = await testGpu();
  const gpt = gptLayout({ vocabSize: 65, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64 });
  const mlp = mlpLayout([784, 256, 10]);
  const adamw: OptimizerConfig = { ...base, kind: 'adamw', weightDecay: 0.1, beta2: 0.95 };
  const sgd: OptimizerConfig = { ...base, kind: 'sgd', weightDecay: 0.01, momentum: 0.9 };
  const cases: [string, ParameterLayout, OptimizerConfig, number | undefined][] = [
    ['GPT, AdamW decaying weights and embeddings, clip', gpt, { ...adamw, weightDecayRoles: ['weight', 'embedding'] }, 0.5],
    ['GPT, AdamW decaying weights and embeddings, no clip', gpt, { ...adamw, weightDecayRoles: ['weight', 'embedding'] }, undefined],
    ['GPT, Nesterov SGD decaying weights, clip', gpt, { ...sgd, nesterov: true, weightDecayRoles: ['weight'] }, 0.5],
    ['GPT, plain SGD decaying weights, no clip', gpt, { ...sgd, momentum: 0, weightDecayRoles: ['weight'] }, undefined],
    ['MLP, SGD with momentum decaying every role, no clip', mlp, { ...sgd, weightDecayRoles: ['weight', 'bias'] }, undefined],
    ['MLP, SGD with momentum decaying every role, clip', mlp, { ...sgd, weightDecayRoles: ['weight', 'bias'] }, 0.5],
    ['MLP, AdamW decaying weights only, clip', mlp, { ...adamw, weightDecayRoles: ['weight'] }, 0.5],
    ['MLP, AdamW decaying no role', mlp, { ...adamw, weightDecayRoles: [] }, undefined],
  ];
  for (const [what, l, config, clipTo] of cases) {
    const count = l.totalFloats;
    const start = randomArray(count, rng(7));
    const ours = { params: upload(ctx, 'params', start), grads: createStorage(ctx, 'grads', count * 4), layout: l };
    const theirs = { params: upload(ctx, 'reference params', start), grads: createStorage(ctx, 'reference grads', count * 4) };
    const clip = createStorage(ctx, 'clip', 8);
    const optimizer = await createOptimizer(ctx, ours, config, clipTo === undefined ? {} : { gradScale: clip });
    const norm = clipTo === undefined ? [] : (await prepareGradNormClip(ctx, { tensors: [{ grads: ours.grads, count }], maxNorm: clipTo, clip })).norm;
    const reference = await perRunReference(ctx, l, theirs.params, theirs.grads, config, clipTo);
    for (let step = 0; step < 3; step++) {
      // Gradients of norm ≈ 0.58·√count ≫ 0.5, so the clip scales them.
      const grads = randomArray(count, rng(100 + step));
      writeBuffer(ctx, ours.grads, grads);
      writeBuffer(ctx, theirs.grads, grads);
      const lr = 0.01 * (step + 1);
      const fused = [...norm, ...optimizer.prepareStep(lr)];
      assert.is(fused.length, norm.length + 1, `${what}: the optimizer step is one dispatch`);
      await run(ctx, fused);
      await run(ctx, reference.step(lr));
    }
    if (l === gpt) assert.ok(reference.runs > 10, `${what}: the reference took one dispatch per run (${reference.runs})`);
    const [p, q] = [await download(ctx, ours.params, count), await download(ctx, theirs.params, count)];
    assert.ok(p.some((x, i) => x !== start[i]), `${what}: the parameters moved`);
    assert.equal(bits(p), bits(q), `${what}: parameters, bit for bit`);
    const state = await optimizer.readState();
    for (const [i, name] of optimizer.stateNames.entries()) {
      const s = await download(ctx, reference.state[i]!, count);
      if (!(config.kind === 'sgd' && config.momentum === 0)) assert.ok(s.some((x) => x !== 0), `${what}: ${name} is not all zero`);
      assert.equal(bits(state.get(name)!), bits(s), `${what}: ${name}, bit for bit`);
    }
  }
});

test.after(() => closeTestGpu());
test.run();
