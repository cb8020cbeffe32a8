import { suite } from 'uvu';
import { withFlags } from '../helpers/args.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { startTrain } from '../helpers/processes.js';
import { readMetrics, recordsOf } from '../../src/train/metrics.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('resume');
const TRAIN = fileURLToPath(new URL('../../train.js', import.meta.url));
const dir = tempDir();

function train(args: string[], killWhen?: () => boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TRAIN, '--procs', '1', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const poll = killWhen && setInterval(() => killWhen() && child.kill('SIGKILL'), 5);
    child.on('exit', (code, signal) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

test('a run killed mid-way and resumed from its last checkpoint ends with the weights of one that never stopped', async () => {
  for (const optimizer of [['--optimizer', 'sgd', '--lr', '0.05', '--nesterov'], ['--optimizer', 'adamw', '--lr', '0.003']]) {
    const args = [...SMALL_TASK, ...optimizer, '--seed', '9', '--schedule', 'cosine', '--warmup-steps', '10', '--weight-decay', '0.01', '--max-steps', '600'];
    const name = optimizer[1]!;
    const full = await train([...args, '--save', dir.file(`full-${name}.safetensors`)]);
    assert.is(full.code, 0, full.stderr);
    const checkpoint = dir.file(`interrupted-${name}.safetensors`);
    const killed = await train([...args, '--save', checkpoint, '--save-every', '50'], () => existsSync(checkpoint));
    assert.is(killed.signal, 'SIGKILL', `the run should be killed after its first checkpoint (exit ${killed.code}: ${killed.stderr})`);
    const step = Number(readWeights(checkpoint).metadata.step);
    assert.ok(step > 0 && step < 600, `checkpoint from mid-run (step ${step})`);
    const resumed = await train([...args, '--resume', checkpoint, '--save', dir.file(`resumed-${name}.safetensors`)]);
    assert.is(resumed.code, 0, resumed.stderr);
    const a = readWeights(dir.file(`full-${name}.safetensors`)).byName;
    const b = readWeights(dir.file(`resumed-${name}.safetensors`)).byName;
    assert.is(a.size, b.size);
    for (const [tensor, values] of a) assertBitwiseEqual(values, b.get(tensor)!, `${name} resumed from step ${step}: ${tensor}`);
  }
});

test('the first loss logged after a resume averages the resumed steps only: the same numbers as the run that never stopped', async () => {
  const args = [...SMALL_TASK, '--seed', '4', '--log-every', '5', '--max-steps', '20'];
  const lossAt = (path: string) => new Map(recordsOf(readMetrics(path), 'train').map((r) => [r.step, r.loss]));
  const full = await train([...args, '--metrics', dir.file('log-full.jsonl')]);
  assert.is(full.code, 0, full.stderr);
  const first = await train([...SMALL_TASK, '--seed', '4', '--log-every', '5', '--max-steps', '10', '--save', dir.file('log-half.safetensors')]);
  assert.is(first.code, 0, first.stderr);
  const resumed = await train([...args, '--resume', dir.file('log-half.safetensors'), '--metrics', dir.file('log-resumed.jsonl')]);
  assert.is(resumed.code, 0, resumed.stderr);
  const a = lossAt(dir.file('log-full.jsonl'));
  const b = lossAt(dir.file('log-resumed.jsonl'));
  for (const step of [15, 20]) assert.is(b.get(step), a.get(step), `loss logged at step ${step}`);
});

test('a resumed run evaluates where the run that never stopped did, with the same results, not at every step until its schedule catches up', async () => {
  const args = [...SMALL_TASK, '--seed', '4', '--eval-every', '4', '--max-steps', '20'];
  const evals = (path: string) => recordsOf(readMetrics(path), 'eval').map((r) => [r.step, r.accuracy, r.loss]);
  const full = await train([...args, '--metrics', dir.file('eval-full.jsonl')]);
  assert.is(full.code, 0, full.stderr);
  const first = await train([...SMALL_TASK, '--seed', '4', '--eval-every', '4', '--max-steps', '10', '--save', dir.file('eval-half.safetensors')]);
  assert.is(first.code, 0, first.stderr);
  const resumed = await train([...args, '--resume', dir.file('eval-half.safetensors'), '--metrics', dir.file('eval-resumed.jsonl')]);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.equal(evals(dir.file('eval-full.jsonl')).map(([step]) => step), [4, 8, 12, 16, 20]);
  assert.equal(evals(dir.file('eval-resumed.jsonl')), evals(dir.file('eval-full.jsonl')).filter(([step]) => step! > 10));
});

test('a multi-process DiLoCo run killed mid-way and resumed from its whole-run checkpoint ends with the weights of one that never stopped', async () => {
  // Plain SGD inside (no worker optimizer state), Nesterov outside (whose momentum the checkpoint
  // must carry), and a post-local SGD warmup before the first checkpoint.
  const args = [...SMALL_TASK, '--procs', '2', '--optimizer', 'sgd', '--momentum', '0', '--lr', '0.1', '--seed', '9', '--max-steps', '150',
    '--local-sgd-steps', '3', '--local-sgd-warmup-steps', '2', '--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9'];
  const full = await startTrain([...args, '--save', dir.file('full-diloco.safetensors')]).done;
  assert.is(full.code, 0, full.stderr);
  const checkpoint = dir.file('interrupted-diloco.safetensors');
  const killed = startTrain([...args, '--save', checkpoint, '--checkpoint-every', '2']);
  const poll = setInterval(() => existsSync(checkpoint) && killed.child.kill('SIGKILL'), 2);
  const k = await killed.done;
  clearInterval(poll);
  assert.is(k.signal, 'SIGKILL', `the run should be killed after its first checkpoint (exit ${k.code}: ${k.stderr})`);
  const saved = readWeights(checkpoint);
  const step = Number(saved.metadata.step);
  const outer = JSON.parse(saved.metadata.outer!) as { rounds: number };
  assert.ok(step > 2 && step < 150 && (step - 2) % 3 === 0, `checkpoint at an averaging step after the warmup (step ${step})`);
  assert.ok(outer.rounds % 2 === 0 && outer.rounds === (step - 2) / 3, `every 2nd round (round ${outer.rounds} at step ${step})`);
  const resumed = await startTrain([...args, '--resume', checkpoint, '--save', dir.file('resumed-diloco.safetensors')]).done;
  assert.is(resumed.code, 0, resumed.stderr);
  const a = readWeights(dir.file('full-diloco.safetensors')).byName;
  const b = readWeights(dir.file('resumed-diloco.safetensors')).byName;
  assert.is(a.size, b.size);
  for (const [tensor, values] of a) assertBitwiseEqual(values, b.get(tensor)!, `resumed from step ${step}: ${tensor}`);
  // The same checkpoint with other workers would shard the data differently: refused, not run.
  const other = await startTrain(withFlags(args, ['--procs', '3', '--resume', checkpoint])).done;
  assert.is(other.code, 2, other.stderr);
  assert.match(other.stderr, /that run had --procs 2, this one 3; a whole-run checkpoint continues only the same run/);
  // Nor without its outer optimizer: the loaded momentum would silently stop mattering.
  const plain = args.filter((a, i) => !/^--outer-/.test(a) && !/^--outer-/.test(args[i - 1] ?? ''));
  const dropped = await startTrain([...plain, '--resume', checkpoint]).done;
  assert.is(dropped.code, 2, dropped.stderr);
  assert.match(dropped.stderr, /that run had --outer-optimizer nesterov, this one sgd/);
});

test.after(() => dir.remove());
test.run();
