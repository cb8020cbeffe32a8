import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseTrainArgs, UsageError } from '../../src/cli/config.js';
import { run } from '../../src/cli/run.js';
import { makeSynthetic } from '../../src/data/synthetic.js';
import { initParameters } from '../../src/nn/init.js';
import { modelKinds } from '../../src/nn/model.js';
import { trainConfigSchema } from '../../src/train/config.js';
import { SAVE_EVERY_RANK_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { simulateDataParallel } from '../helpers/cpu-trainer.js';
import { readWeights, tempDir } from '../helpers/train-run.js';
import { LINEAR_INIT, linearLayout } from './linear-model.js';

const test = suite('a model defined outside src/');
const dir = tempDir();
const LINEAR_WORKER = fileURLToPath(new URL('./fixtures/linear-worker.js', import.meta.url));
const TASK = [
  '--model', 'linear', '--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
  '--batch-size', '16', '--momentum', '0', '--lr', '0.1', '--seed', '5', '--quiet',
];

test('registering it makes --model linear a valid choice whose config survives the JSON trip to workers; MLP settings are refused for it', () => {
  assert.equal(modelKinds(), ['mlp', 'gpt', 'linear']);
  const config = parseTrainArgs(TASK);
  assert.equal(config.model, { kind: 'linear' });
  assert.equal(trainConfigSchema.parse(JSON.parse(JSON.stringify(config))), config);
  assert.throws(() => parseTrainArgs([...TASK, '--hidden', '16']), (e: Error) => e instanceof UsageError && /--hidden does not apply to --model linear/.test(e.message));
  assert.throws(() => parseTrainArgs(['--model', 'rnn']), (e: Error) => /--model must be one of mlp, gpt, linear \(got "rnn"\)/.test(e.message));
});

test('two workers train it with Local SGD through createModel: every rank ends bit-identical, equal to a float64 CPU simulation', async () => {
  const save = dir.file('linear.safetensors');
  const metrics = dir.file('linear.jsonl');
  process.env[SAVE_EVERY_RANK_ENV] = '1'; // the workers inherit this process's environment
  try {
    const config = parseTrainArgs([...TASK, '--procs', '2', '--max-steps', '10', '--local-sgd-steps', '3', '--save', save, '--metrics', metrics]);
    await run(config, { workerScript: LINEAR_WORKER });
  } finally {
    delete process.env[SAVE_EVERY_RANK_ENV];
  }
  const summary = JSON.parse(readFileSync(metrics, 'utf8').trim().split('\n').at(-1)!);
  assert.is(summary.parameterRounds, 4, 'rounds after steps 3, 6, 9 and the closing one after step 10');

  const saved = readWeights(save);
  assert.equal([...saved.byName.keys()].filter((n) => !n.startsWith('optimizer.')), ['weight', 'bias'], 'the model\'s own tensor names');
  assert.equal(JSON.parse(saved.metadata.layers!).map((t: { role: string }) => t.role), ['weight', 'bias']);
  const weights = (path: string) => {
    const { byName } = readWeights(path);
    return Float32Array.from([...byName.get('weight')!, ...byName.get('bias')!]);
  };
  assertBitwiseEqual(weights(`${save}.rank1`), weights(`${save}.rank0`), 'rank 1 vs rank 0 after the closing average');
  assertBitwiseEqual(weights(save), weights(`${save}.rank0`), 'the saved model is the averaged one');

  const data = makeSynthetic({ trainSamples: 1024, testSamples: 256, features: 20, classes: 5, seed: 1234 });
  const layout = linearLayout(20, 5);
  const reference = simulateDataParallel({
    layout, sizes: [20, 5], init: initParameters(layout, 5, LINEAR_INIT), dataset: data.train, worldSize: 2,
    batchSize: 16, steps: 10, lr: 0.1, seed: 5, shuffle: true, localSgdSteps: 3,
  });
  const [w, b] = layout.tensors;
  const flatRef = Float64Array.from([...reference.subarray(w!.offset, w!.offset + w!.size), ...reference.subarray(b!.offset, b!.offset + b!.size)]);
  assertClose(weights(save), flatRef, '2 workers vs CPU simulation', 1e-5);
});

test.after(() => dir.remove());
test.run();
