import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTrainArgs } from '../../src/cli/config.js';
import { hooksFromEnvironment, sigkillAt, TEST_SIGKILL_ENV } from '../../src/train/debug-hooks.js';
import { combineHooks, type TrainHooks } from '../../src/train/hooks.js';
import { trainWorker } from '../../src/train/train-worker.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';
import { nodePlatform } from '../../src/train/node-platform.js';

const test = suite('training hooks');
const dir = tempDir();

test('the loop tells the hooks when training starts, around every step, and after the closing average, with the weights', async () => {
  const events: string[] = [];
  let finalWeights: Float32Array | undefined;
  const hooks: TrainHooks = {
    beforeTraining: (e) => events.push(`start ${e.step}`),
    beforeStep: (e) => events.push(`before ${e.step}`),
    afterStep: async (e) => {
      events.push(`after ${e.step}`);
      assert.is((await e.readParameters()).length, e.layout.totalFloats);
    },
    afterTraining: async (e) => {
      events.push(`end ${e.step} rank ${e.rank} restarts ${e.restarts}`);
      finalWeights = await e.readParameters();
    },
  };
  const save = dir.file('hooked.safetensors');
  await trainWorker(parseTrainArgs(['--procs', '1', ...SMALL_TASK, '--max-steps', '3', '--save', save]), { platform: nodePlatform, onLog: () => {}, hooks });
  assert.equal(events, ['start 0', 'before 0', 'after 1', 'before 1', 'after 2', 'before 2', 'after 3', 'end 3 rank 0 restarts 0']);
  const { byName } = readWeights(save);
  const layer0 = byName.get('layers.0.weight')!;
  assertBitwiseEqual(finalWeights!.subarray(0, layer0.length), layer0, 'afterTraining sees the weights that are saved');
});

test('combined hooks run in the order given; the environment installs only what it names', async () => {
  const calls: string[] = [];
  const tag = (name: string): TrainHooks => ({ beforeStep: () => calls.push(name), afterTraining: async () => void calls.push(`${name} end`) });
  const both = combineHooks(tag('a'), tag('b'));
  both.beforeStep!({ rank: 0, step: 0, restarts: 0 });
  await both.afterTraining!({ rank: 0, step: 1, restarts: 0, layout: { tensors: [], totalFloats: 64, parameterCount: 0 }, readParameters: async () => new Float32Array(64) });
  assert.equal(calls, ['a', 'b', 'a end', 'b end']);
  // No variables set: nothing happens at any step (a SIGKILL hook would end this test process).
  const none = hooksFromEnvironment({ save: 'x' }, {});
  none.beforeStep!({ rank: 0, step: 0, restarts: 0 });
  // A SIGKILL asked for another rank or after a restart leaves this process alone.
  sigkillAt('1:0').beforeStep!({ rank: 0, step: 0, restarts: 0 });
  sigkillAt('0:0').beforeStep!({ rank: 0, step: 0, restarts: 1 });
});

test(`a malformed ${TEST_SIGKILL_ENV} is an error that shows the expected form`, () => {
  assert.throws(() => hooksFromEnvironment({}, { [TEST_SIGKILL_ENV]: '1' }), /LOCALSGD_TEST_SIGKILL must be <rank>:<step> or <rank>:<step>:always \(got "1"\)/);
  assert.throws(() => sigkillAt('1:5:sometimes'), /must be <rank>:<step> or <rank>:<step>:always/);
});

test.after(() => dir.remove());
test.run();
