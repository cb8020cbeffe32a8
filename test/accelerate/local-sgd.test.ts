import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { makeSynthetic } from '../../src/data/synthetic.js';
import { initParameters } from '../../src/nn/init.js';
import { MLP_INIT, mlpLayout } from '../../src/nn/mlp.js';
import { readMetrics } from '../../src/train/metrics.js';
import type { RunSummary } from '../../src/train/summary.js';
import { LocalSGD, nextAveragingStep } from '../../src/accelerate/local-sgd.js';
import type { Accelerator, FlatModel } from '../../src/accelerate/accelerator.js';
import { SAVE_EVERY_RANK_ENV, TRACE_WEIGHTS_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual, assertClose, relativeError } from '../helpers/assert.js';
import { simulateDataParallel } from '../helpers/cpu-trainer.js';
import { runTrain } from '../helpers/processes.js';
import { withFlags } from '../helpers/args.js';
import { readWeights, SMALL_TASK, tempDir, TINY_GPT, writeWordSalad } from '../helpers/train-run.js';

const test = suite('Local SGD across worker processes');
const dir = tempDir();
const PLAIN_SGD = [...SMALL_TASK, '--momentum', '0', '--lr', '0.1', '--seed', '5'];

function summaryOf(metricsPath: string): RunSummary {
  const summary = readMetrics(metricsPath).at(-1)!;
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

// Plain SGD on the GPT too: no weight decay, and no gradient clipping, which would clip each
// worker's gradient under Local SGD but the averaged one in synchronous mode.
const GPT_PLAIN_SGD = withFlags([...TINY_GPT, '--text', writeWordSalad(dir.file('words.txt')), '--seed', '5'],
  ['--optimizer', 'sgd', '--momentum', '0', '--lr', '0.1', '--weight-decay', '0', '--grad-clip', '0']);

for (const [model, task] of [['MLP', PLAIN_SGD], ['GPT', GPT_PLAIN_SGD]] as const) {
  test(`${model}: K=1 Local SGD gives the weights of synchronous SGD: averaging weights every step is averaging gradients; in synchronous SGD the workers are bit-identical after every step`, async () => {
    await trainOk([...task, '--procs', '2', '--max-steps', '8', '--local-sgd-steps', '1', '--save', dir.file(`k1-${model}.safetensors`)]);
    const trace = dir.file(`sync-${model}`);
    await trainOk([...task, '--procs', '2', '--max-steps', '8', '--no-local-sgd', '--save', dir.file(`sync-${model}.safetensors`)], { [TRACE_WEIGHTS_ENV]: trace });
    assertClose(weights(dir.file(`k1-${model}.safetensors`)), weights(dir.file(`sync-${model}.safetensors`)), `${model}: K=1 vs sync`, 1e-5);
    const agree = agreement(trace, 2);
    assert.equal([...agree.keys()], [1, 2, 3, 4, 5, 6, 7, 8]);
    for (const [step, same] of agree) assert.ok(same, `${model}, synchronous: the workers hold the same bytes after step ${step}`);
  });
}

test('K=3 over 10 steps equals a float64 CPU simulation of the same workers, shards and averaging', async () => {
  for (const procs of [2, 3]) {
    await trainOk([...PLAIN_SGD, '--procs', String(procs), '--max-steps', '10', '--local-sgd-steps', '3', '--save', dir.file(`k3-${procs}.safetensors`)]);
    const data = makeSynthetic({ trainSamples: 1024, testSamples: 256, features: 20, classes: 5, seed: 1234 });
    const sizes = [20, 16, 5];
    const layout = mlpLayout(sizes);
    const reference = simulateDataParallel({
      layout, sizes, init: initParameters(layout, 5, MLP_INIT), dataset: data.train, worldSize: procs,
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

test('post-local SGD then K=3 with a Nesterov outer optimizer (DiLoCo) equals a float64 CPU simulation, and differs from plain averaging', async () => {
  const outer = { kind: 'nesterov', lr: 0.7, momentum: 0.9 } as const;
  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '14', '--local-sgd-steps', '3', '--local-sgd-warmup-steps', '4',
    '--outer-optimizer', outer.kind, '--outer-lr', String(outer.lr), '--outer-momentum', String(outer.momentum), '--save', dir.file('diloco.safetensors')]);
  const data = makeSynthetic({ trainSamples: 1024, testSamples: 256, features: 20, classes: 5, seed: 1234 });
  const sizes = [20, 16, 5];
  const layout = mlpLayout(sizes);
  const common = {
    layout, sizes, init: initParameters(layout, 5, MLP_INIT), dataset: data.train, worldSize: 2,
    batchSize: 16, steps: 14, lr: 0.1, seed: 5, shuffle: true, localSgdSteps: 3, warmupSteps: 4,
  };
  const fileOrder = (flat: Float64Array) => {
    const out = new Float64Array(layout.parameterCount);
    let o = 0;
    for (const t of layout.tensors) {
      out.set(flat.subarray(t.offset, t.offset + t.size), o);
      o += t.size;
    }
    return out;
  };
  const reference = fileOrder(simulateDataParallel({ ...common, outer }));
  const plain = fileOrder(simulateDataParallel(common));
  assertClose(weights(dir.file('diloco.safetensors')), reference, '2 workers with an outer optimizer vs CPU simulation', 1e-5);
  assert.ok(relativeError(plain, reference) > 1e-3, `the outer step must matter here (plain vs outer: ${relativeError(plain, reference)})`);
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

/** Drives LocalSGD with a stand-in accelerator; per step: was gradient sync on, and was there a round after it. */
async function schedule(options: { localSgdSteps: number; warmupSteps?: number; startStep?: number; steps: number }): Promise<{ synced: boolean[]; averagedAfter: number[]; announcedAfter: number[]; closingRound: boolean; syncAfterClose: boolean }> {
  let rounds = 0;
  const announcedAfter: number[] = [];
  const accelerator = {
    gradientSyncEnabled: true,
    averageParameters: async () => void rounds++,
    announceParameters: async () => void announcedAfter.push(localSgd.numSteps),
  } as unknown as Accelerator;
  const localSgd = new LocalSGD({ accelerator, model: {} as FlatModel, enabled: true, ...options });
  const synced: boolean[] = [];
  const averagedAfter: number[] = [];
  for (let n = (options.startStep ?? 0) + 1; n <= options.steps; n++) {
    synced.push(accelerator.gradientSyncEnabled);
    const before = rounds;
    await localSgd.step();
    if (rounds > before) averagedAfter.push(n);
  }
  const before = rounds;
  await localSgd.close();
  return { synced, averagedAfter, announcedAfter, closingRound: rounds > before, syncAfterClose: accelerator.gradientSyncEnabled };
}

test('post-local SGD schedule: W steps with gradient sync, then rounds after steps W+K, W+2K, ... and one at close', async () => {
  const s = await schedule({ localSgdSteps: 3, warmupSteps: 4, steps: 11 });
  assert.equal(s.synced, [true, true, true, true, false, false, false, false, false, false, false]);
  assert.equal(s.averagedAfter, [7, 10]);
  assert.equal(s.announcedAfter, [4], 'the coordinator learns the weights at the switch, once');
  assert.ok(s.closingRound, 'step 11 was local, so close() averages');
  assert.ok(s.syncAfterClose, 'close() restores gradient sync');

  const plain = await schedule({ localSgdSteps: 3, steps: 9 });
  assert.equal(plain.averagedAfter, [3, 6, 9], 'W = 0 keeps the Accelerate schedule');
  assert.ok(plain.synced.every((on) => !on));
  assert.not.ok(plain.closingRound, 'no closing round right after a round');
  assert.equal(plain.announcedAfter, [], 'no warmup, no announcement');

  const allWarmup = await schedule({ localSgdSteps: 3, warmupSteps: 5, steps: 5 });
  assert.ok(allWarmup.synced.every((on) => on));
  assert.equal(allWarmup.averagedAfter, []);
  assert.not.ok(allWarmup.closingRound, 'a run that never left warmup has nothing to average');

  const resumed = await schedule({ localSgdSteps: 3, warmupSteps: 4, startStep: 7, steps: 13 });
  assert.equal(resumed.synced, [false, false, false, false, false, false], 'a run resumed after the warmup starts local');
  assert.equal(resumed.averagedAfter, [10, 13], 'the schedule counts steps from the start of the run, not the resume');
  assert.equal(resumed.announcedAfter, []);

  // The coordinator predicts each round's step with nextAveragingStep (for checkpoints).
  const predicted = (from: number, W: number, K: number, count: number) => {
    const out = [nextAveragingStep(from, W, K)];
    while (out.length < count) out.push(nextAveragingStep(out.at(-1)!, W, K));
    return out;
  };
  assert.equal(predicted(0, 4, 3, 2), s.averagedAfter);
  assert.equal(predicted(0, 0, 3, 3), plain.averagedAfter);
  assert.equal(predicted(7, 4, 3, 2), resumed.averagedAfter);
  assert.is(nextAveragingStep(8, 4, 3), 10, 'from a step between rounds (a closing round) to the next one on the schedule');
});

/** Per step, whether all ranks' weights were bit-identical after it (from the weight trace). */
function agreement(prefix: string, procs: number): Map<number, boolean> {
  const digests = Array.from({ length: procs }, (_, r) =>
    readFileSync(`${prefix}.rank${r}.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; digest: string }));
  const out = new Map<number, boolean>();
  for (const [i, { step, digest }] of digests[0]!.entries()) out.set(step, digests.every((d) => d[i]!.step === step && d[i]!.digest === digest));
  return out;
}

test('post-local SGD: workers are bit-identical through the warmup, diverge after it, and meet again at each round', async () => {
  const prefix = dir.file('trace');
  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '11', '--local-sgd-steps', '3', '--local-sgd-warmup-steps', '4',
    '--metrics', dir.file('post.jsonl'), '--save', dir.file('post.safetensors')], { [TRACE_WEIGHTS_ENV]: prefix, [SAVE_EVERY_RANK_ENV]: '1' });
  const agree = agreement(prefix, 2);
  assert.equal([...agree.keys()], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  for (const step of [1, 2, 3, 4]) assert.ok(agree.get(step), `warmup step ${step}: gradients are averaged, so weights agree`);
  for (const step of [5, 6, 8, 9, 11]) assert.not.ok(agree.get(step), `local step ${step}: each worker's own shard, so weights differ`);
  for (const step of [7, 10]) assert.ok(agree.get(step), `step ${step} = W + nK: averaged, so weights agree`);
  assertBitwiseEqual(weights(dir.file('post.safetensors.rank1')), weights(dir.file('post.safetensors.rank0')), 'after the closing round');
  const summary = summaryOf(dir.file('post.jsonl'));
  assert.is(summary.gradientRounds, 4, 'one gradient all-reduce per warmup step');
  assert.is(summary.parameterRounds, 3, 'rounds after steps 7 and 10, and the closing one after 11');
  assert.is(summary.localSgdWarmupSteps, 4, 'the summary records the warmup');
  assert.equal(summary.outer, { optimizer: 'sgd', lr: 1, momentum: 0 }, 'and the (default) outer optimizer');

  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '4', '--local-sgd-warmup-steps', '4', '--save', dir.file('warm4.safetensors')]);
  await trainOk([...PLAIN_SGD, '--procs', '2', '--max-steps', '4', '--no-local-sgd', '--save', dir.file('sync4.safetensors')]);
  assertBitwiseEqual(weights(dir.file('warm4.safetensors')), weights(dir.file('sync4.safetensors')), 'the warmup is synchronous data-parallel, bit for bit');
});

test.after(() => dir.remove());
test.run();
