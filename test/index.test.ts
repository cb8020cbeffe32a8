import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/index.js';

const test = suite('src/index.ts: the public entry point');

test('a training script finds the loop, the launcher, the worker channel, the model interface, data and evaluation there', () => {
  for (const name of ['Accelerator', 'LocalSGD', 'launch', 'WorkerChannel', 'createModel', 'registerModel', 'Mlp', 'initParameters', 'createOptimizer', 'loadMnist', 'makeSynthetic', 'loadDataFile', 'evaluate', 'submitDispatches'] as const) {
    assert.type(api[name], 'function', `${name} is exported`);
  }
  assert.type(api.ENV.rank, 'string', 'the environment names launch() sets for workers');
  for (const error of [api.WorkerFailedError, api.WorkerTimeoutError, api.InterruptedError]) assert.ok(error.prototype instanceof Error, `${error.name} is an Error a caller can catch by class`);
});

test.run();
