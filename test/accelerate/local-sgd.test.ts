import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { makeSynthetic } from '../../src/data/synthetic.js';
import { mlpLayout } from '../../src/nn/layout.js';
import { initMlpParameters } from '../../src/nn/init.js';
import type { RunSummary } from '../../src/train/summary.js';
import { SAVE_EVERY_RANK_ENV } from '../../src/train/train-worker.js';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { simulateDataParallel } from '../helpers/cpu-trainer.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('Local SGD across worker processes');
const dir = tempDir();
const PLAIN_SGD = [...SMALL_TASK, '--momentum', '0', '--lr', '0.1', '--seed', '5'];

function summaryOf(metricsPath: string): RunSummary {
  const lines = readFileSync(metricsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const summary = lines.at(-1);
  assert.is(summary.kind, 'summary', 'the last metrics record is the summary');
  return summary as RunSummary;
}

async function trainOk(args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await runTrain(args, env);
  assert.is(r.code, 0, `train.js ${args.join(' ')} failed:\n${r.stderr}`);
}

/** Weights in file order, without optimizer state. */
function weights(path: string): Float32Array {
  const { byName } = readWeights(path);
  const parts = [...byName].filter(([n]) => !n.startsWith('optimizer.')).map(([, v]) => v);
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('K=1 Local SGD gives the weights of synchronous SGD: averaging weights every step is averaging gradients', async () => {
  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '8', '--local-sgd-steps', '1', '--save', dir.file('k1.safetensors')]);
  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '8', '--no-local-sgd', '--save', dir.file('sync.safetensors')]);
  assertClose(weights(dir.file('k1.safetensors')), weights(dir.file('sync.safetensors')), 'K=1 vs sync', 1e-5);
});

test('K=3 over 10 steps equals a float64 CPU simulation of the same workers, shards and averaging', async () => {
  for (const procs of [2, 3]) {
    await trainOk([...PLAIN_SGD, '--procs', String(procs), '--max-steps', '10', '--local-sgd-steps', '3', '--save', dir.file(`k3-${procs}.safetensors`)]);
    const data = makeSynthetic({ trainSamples: 1024, testSamples: 256, features: 20, classes: 5, seed: 1234 });
    const sizes = [20, 16, 5];
    const layout = mlpLayout(sizes);
    const reference = simulateDataParallel({
      layout, sizes, init: initMlpParameters(layout, 5), dataset: data.train, worldSize: procs,
      batchSize: 16, steps: 10, lr: 0.1, seed: 5, shuffle: true, localSgdSteps: 3,
    });
    const flatRef = new Float64Array(layout.parameterCount);
    let o = 0;
    for (const t of layout.tensors) {
      flatRef.set(reference.subarray(t.offset, t.offset + t.size), o);
      o += t.size;
    }
    assertClose(weights(dir.file(`k3-${procs}.safetensors`)), flatRef, `${procs} workers vs CPU simulation`, 1e-5);
  }
});

test('averaging rounds: every K steps plus one at close; --no-local-sgd never averages weights; all ranks end identical', async () => {
  await trainOk([...PLAIN_SGD, '--procs', '3', '--max-steps', '10', '--local-sgd-steps', '3', '--metrics', dir.file('k3.jsonl'), '--save', dir.file('ranks.safetensors')], { [SAVE_EVERY_RANK_ENV]: '1' });
  const local = summaryOf(dir.file('k3.jsonl'));
  assert.is(local.parameterRounds, 4, 'rounds after steps 3, 6, 9 and the closing one after step 10');
  assert.is(local.gradientRounds, 0, 'Local SGD never averages gradients');
  const rank0 = weights(dir.file('ranks.safetensors.rank0'));
  for (const r of [1, 2]) assertBitwiseEqual(weights(dir.file(`ranks.safetensors.rank${r}`)), rank0, `rank ${r} vs rank 0 after the closing average`);
  assertBitwiseEqual(weights(dir.file('ranks.safetensors')), rank0, 'the saved model is the averaged one');

  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '9', '--local-sgd-steps', '3', '--metrics', dir.file('k3-even.jsonl')]);
  assert.is(summaryOf(dir.file('k3-even.jsonl')).parameterRounds, 3, 'no extra closing round when the last step was just averaged');

  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '10', '--no-local-sgd', '--metrics', dir.file('sync.jsonl')]);
  const sync = summaryOf(dir.file('sync.jsonl'));
  assert.is(sync.parameterRounds, 0, 'synchronous mode never exchanges weights');
  assert.is(sync.gradientRounds, 10, 'synchronous mode averages gradients every optimizer step');
});

test.after(() => dir.remove());
test.run();
