import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mlpLayout } from '../../src/nn/mlp.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { randomArray, rng } from '../helpers/random.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('checkpoint');
const dir = tempDir();
const layout = mlpLayout([7, 5, 3]);
const withSgd = { withOptimizer: true, optimizerKind: 'sgd', optimizerStates: ['momentum'] } as const;

test('a whole-run checkpoint keeps the outer momentum as outer.momentum.<name> tensors and the outer settings in metadata', () => {
  const random = rng(3);
  // Values in the tensors, zeros in the alignment padding between them (which is not saved).
  const flat = () => {
    const out = new Float32Array(layout.totalFloats);
    for (const t of layout.tensors) out.set(randomArray(t.size, random), t.offset);
    return out;
  };
  const params = flat();
  const momentumBuffer = flat();
  const path = dir.file('run.safetensors');
  saveCheckpoint(path, layout, { params, step: 40, outer: { kind: 'nesterov', lr: 0.7, momentum: 0.9, rounds: 12, momentumBuffer } });
  const { byName, metadata } = readWeights(path);
  for (const t of layout.tensors) assert.ok(byName.has(`outer.momentum.${t.name}`), `outer.momentum.${t.name} saved`);
  assert.equal(JSON.parse(metadata.outer!), { optimizer: 'nesterov', lr: 0.7, momentum: 0.9, rounds: 12 });
  const loaded = loadCheckpoint(path, layout, withSgd);
  assert.is(loaded.step, 40);
  assert.is(loaded.optimizer, undefined, 'no worker optimizer state: it is local to each worker');
  assertBitwiseEqual(loaded.params, params, 'weights (θ)');
  assertBitwiseEqual(loaded.outer!.momentumBuffer, momentumBuffer, 'outer momentum');
  assert.equal([loaded.outer!.kind, loaded.outer!.lr, loaded.outer!.momentum, loaded.outer!.rounds], ['nesterov', 0.7, 0.9, 12]);
});

test('weights alone (no optimizer, no outer state) still cannot --resume', () => {
  const path = dir.file('weights.safetensors');
  saveCheckpoint(path, layout, { params: new Float32Array(layout.totalFloats), step: 3 });
  assert.throws(() => loadCheckpoint(path, layout, withSgd), /holds no optimizer state, so it cannot --resume a run; use --init/);
});

test.after(() => dir.remove());
test.run();
