// --save/--resume of `--model gpt`: a run killed mid-way and resumed from its last checkpoint ends
// with the tensors of one that never stopped, bit for bit, in one process (--save-every, AdamW
// state included, shuffled windows) and across processes (--checkpoint-every, DiLoCo, --no-shuffle),
// with the text windows read from where the uninterrupted run read them; and two runs with the same
// seed write bit-identical checkpoints.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withFlags } from '../helpers/args.js';
import { TEST_SIGKILL_ENV } from '../../src/train/debug-hooks.js';
import { readMetrics, recordsOf } from '../../src/train/metrics.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, tempDir, TINY_GPT, writeWordSalad } from '../helpers/train-run.js';

const test = suite('--model gpt: resume');
const dir = tempDir();
// ~650 bytes: 73 training windows of 9 bytes, so that with batch 4 and --grad-accum 2 a pass over
// them (an epoch) is 9 steps in one process and 4½ per worker in two: the runs below cross epochs,
// and the --no-shuffle run wraps around its windows before and after the resume.
const TEXT = writeWordSalad(dir.file('short.txt'), 150);
const STEPS = 20;
const GPT = withFlags([...TINY_GPT, '--text', TEXT, '--seed', '11', '--grad-accum', '2', '--max-steps', String(STEPS), '--log-every', '1'],
  ['--schedule', 'cosine', '--warmup-steps', '3', '--min-lr', '0.001']);

async function trainOk(args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await runTrain(args, env);
  assert.is(r.code, 0, `train.js ${args.join(' ')} failed:\n${r.stderr}`);
}

/** Every tensor of two checkpoints (weights, optimizer state, outer momentum), bit for bit, and the same step. */
function assertSameCheckpoint(a: string, b: string, what: string): void {
  const x = readWeights(a);
  const y = readWeights(b);
  assert.equal([...y.byName.keys()], [...x.byName.keys()], `${what}: the same tensors`);
  for (const [name, values] of x.byName) assertBitwiseEqual(y.byName.get(name)!, values, `${what}: ${name}`);
  assert.is(y.metadata.step, x.metadata.step, `${what}: step`);
}

/** step → training loss logged (every step: the mean over that step's windows). */
const lossesOf = (metrics: string) => new Map(recordsOf(readMetrics(metrics), 'train').map((r) => [r.step, r.loss]));

// Written by the first test, refused by the last.
const STEP_10 = dir.file('interrupted.safetensors');

test('one process, shuffled: killed after step 13 and resumed from its --save-every 5 checkpoint (step 10), it logs the same losses from step 11 on and ends with the same weights and AdamW state; two runs with the same seed write the same checkpoint', async () => {
  const args = [...GPT, '--procs', '1'];
  const full = dir.file('full.safetensors');
  const again = dir.file('again.safetensors');
  await trainOk([...args, '--save', full, '--metrics', dir.file('full.jsonl')]);
  await trainOk([...args, '--save', again]);
  assertSameCheckpoint(full, again, 'the same seed twice');
  const killed = await runTrain([...args, '--save', STEP_10, '--save-every', '5'], { [TEST_SIGKILL_ENV]: '0:13' });
  assert.is(killed.signal, 'SIGKILL', `killed before step 14 (exit ${killed.code}: ${killed.stderr})`);
  assert.is(readWeights(STEP_10).metadata.step, '10');
  const resumed = dir.file('resumed.safetensors');
  await trainOk([...args, '--resume', STEP_10, '--save', resumed, '--metrics', dir.file('resumed.jsonl')]);
  // Each step's loss is that of the windows it read: equal losses from step 11 on mean the
  // resumed run read the windows the uninterrupted one read at those steps.
  const a = lossesOf(dir.file('full.jsonl'));
  const b = lossesOf(dir.file('resumed.jsonl'));
  assert.equal([...b.keys()], Array.from({ length: STEPS - 10 }, (_, i) => 11 + i));
  for (const [step, loss] of b) assert.is(loss, a.get(step), `the loss logged at step ${step}`);
  assert.not.equal(a.get(11), a.get(1), 'the windows of step 11 are not those of step 1');
  assertSameCheckpoint(full, resumed, 'resumed from step 10 vs never stopped');
});

test('two workers, --no-shuffle, DiLoCo (post-local SGD warmup, Nesterov outer, plain SGD inside): resumed from a --checkpoint-every checkpoint after a lost worker, the run ends bit-identical to one that never stopped', async () => {
  // Plain SGD inside: a whole-run checkpoint holds no worker optimizer state (workers restart it),
  // so only a stateless inner optimizer can continue bit for bit. Without shuffling each worker
  // reads its slice's 36 windows in order, 8 a step, wrapping around every 4½ steps.
  const args = withFlags([...GPT, '--procs', '2', '--no-shuffle', '--local-sgd-steps', '3', '--local-sgd-warmup-steps', '2',
    '--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9'], ['--optimizer', 'sgd', '--momentum', '0', '--lr', '0.1', '--weight-decay', '0']);
  const full = dir.file('diloco-full.safetensors');
  await trainOk([...args, '--save', full]);
  // Rounds after steps 5, 8, 11, 14, ...; every 2nd one checkpointed (8, 14); rank 1 dies before step 16.
  const checkpoint = dir.file('diloco-interrupted.safetensors');
  const killed = await runTrain([...args, '--save', checkpoint, '--checkpoint-every', '2'], { [TEST_SIGKILL_ENV]: '1:15' });
  assert.not.equal(killed.code, 0, 'the run stops at its lost worker');
  const saved = readWeights(checkpoint).metadata;
  assert.is(saved.step, '14');
  assert.equal(JSON.parse(saved.outer!), { optimizer: 'nesterov', lr: 0.7, momentum: 0.9, rounds: 4 });
  const resumed = dir.file('diloco-resumed.safetensors');
  await trainOk([...args, '--resume', checkpoint, '--save', resumed]);
  assertSameCheckpoint(full, resumed, 'resumed from step 14 vs never stopped');
  // Another text would give every rank other windows: a new run, not this one continued.
  const other = writeWordSalad(dir.file('other.txt'), 150, 8);
  const otherText = await runTrain([...withFlags(args, ['--text', other]), '--resume', checkpoint]);
  assert.is(otherText.code, 2, otherText.stderr);
  assert.match(otherText.stderr, /that run had --text .*short\.txt, this one .*other\.txt; a whole-run checkpoint continues only the same run/);
});

test('a GPT checkpoint given to a run of another shape is refused, naming the tensor and the model settings it was written with', async () => {
  const written = /The run that wrote it had --model gpt --n-layer 1 --n-head 2 --n-embd 16 --block-size 8: do this run's model settings match\?/;
  const wider = await runTrain(withFlags(GPT, ['--procs', '1', '--n-embd', '32', '--resume', STEP_10]));
  assert.is(wider.code, 1, wider.stderr);
  assert.match(wider.stderr, /tensor "transformer\.wte\.weight" has shape \[256, 16\], expected \[256, 32\]/);
  assert.match(wider.stderr, written);
  const deeper = await runTrain(withFlags(GPT, ['--procs', '1', '--n-layer', '2', '--init', STEP_10]));
  assert.is(deeper.code, 1, deeper.stderr);
  assert.match(deeper.stderr, /has no tensor "transformer\.h\.1\.ln_1\.weight"/);
  assert.match(deeper.stderr, written);
});

test.after(() => dir.remove());
test.run();
