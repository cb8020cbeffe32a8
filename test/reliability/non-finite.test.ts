// Numbers that are not numbers, and checkpoints that lie: a diverged run stops at once with a
// non-zero exit naming the rank, the step and the likely cause, never overwriting the last good
// --save; a checkpoint holding NaN, or with a step or metadata that cannot be true, is refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { firstNonFinite, firstNonFiniteHalf } from '../../src/accelerate/finite.js';
import type { SafetensorsTensor } from '../../src/io/safetensors.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/io/safetensors-file.js';
import { runTrain } from '../helpers/processes.js';
import { SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('non-finite numbers and lying checkpoints');
const dir = tempDir();
const TASK = [...SMALL_TASK, '--seed', '3'];

/** A copy of a checkpoint with some tensors or metadata changed. */
function rewrite(from: string, to: string, change: { tensors?: (name: string, values: Float32Array) => void; metadata?: Record<string, string> }): void {
  const file = readSafetensorsFile(from);
  const tensors: Array<{ name: string } & SafetensorsTensor> = [];
  for (const [name, t] of file.tensors) {
    const values = new Float32Array(t.data.slice().buffer);
    change.tensors?.(name, values);
    tensors.push({ name, dtype: 'F32', shape: t.shape, data: new Uint8Array(values.buffer) });
  }
  writeSafetensorsFile(to, tensors, { ...file.metadata, ...change.metadata });
}

let good: string;

test.before(async () => {
  good = dir.file('good.safetensors');
  const r = await runTrain([...TASK, '--procs', '1', '--max-steps', '4', '--save', good]);
  assert.is(r.code, 0, r.stderr);
});

test('the scans find the first NaN or infinity in float32 and in packed f16 and bf16', () => {
  assert.is(firstNonFinite(Float32Array.of(1, -2, 3)), -1);
  assert.is(firstNonFinite(Float32Array.of(1, Infinity, Number.NaN)), 1);
  const halves = (...bits: number[]) => new Uint8Array(Uint16Array.from(bits).buffer);
  // f16: 0x3c00 = 1, 0x7c00 = +inf, 0xfe00 = NaN; bf16: 0x3f80 = 1, 0x7f80 = +inf, 0xffc0 = NaN.
  assert.is(firstNonFiniteHalf(halves(0x3c00, 0xbc00, 0x7bff), 'f16'), -1, 'the largest finite f16 is finite');
  assert.is(firstNonFiniteHalf(halves(0x3c00, 0x7c00), 'f16'), 1);
  assert.is(firstNonFiniteHalf(halves(0xfe00), 'f16'), 0);
  assert.is(firstNonFiniteHalf(halves(0x3f80, 0x7f7f), 'bf16'), -1);
  assert.is(firstNonFiniteHalf(halves(0x3f80, 0x3f80, 0xffc0), 'bf16'), 2);
});

test('--lr 1e30 in one process stops at the first logged step with exit 1, naming rank, step and cause; --save is not overwritten', async () => {
  const save = dir.file('one-process.safetensors');
  rewrite(good, save, {});
  const before = readFileSync(save);
  const r = await runTrain([...TASK, '--procs', '1', '--lr', '1e30', '--max-steps', '20', '--log-every', '2', '--save', save]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /rank 0: the training loss is (NaN|Infinity) at step 2 .*Training diverged: the likely cause is a learning rate too high for this model \(--lr 1e\+30/);
  assert.ok(readFileSync(save).equals(before), 'the previous --save file is untouched');
});

test('--lr 1e30 with Local SGD across two workers stops at the first averaging round, naming the rank that diverged first', async () => {
  const save = dir.file('two-workers.safetensors');
  const r = await runTrain([...TASK, '--procs', '2', '--lr', '1e30', '--max-steps', '40', '--log-every', '40', '--local-sgd-steps', '3', '--save', save]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /rank \d: its parameters before the parameter average at step 3 hold (NaN|Infinity|-Infinity)/);
  assert.match(r.stderr, /likely cause is a learning rate too high/);
  assert.not.match(r.stdout, /test accuracy/, 'no summary of a diverged run');
});

test('synchronous mode checks the gradients, and f16 averaging the packed change, before anything is sent', async () => {
  const sync = await runTrain([...TASK, '--procs', '2', '--no-local-sgd', '--lr', '1e30', '--max-steps', '10', '--log-every', '10']);
  assert.is(sync.code, 1, sync.stderr);
  assert.match(sync.stderr, /rank \d: its gradients before the gradient average hold/);
  const f16 = await runTrain([...TASK, '--procs', '2', '--comm-dtype', 'f16', '--lr', '1e30', '--momentum', '0', '--max-steps', '40', '--log-every', '40', '--local-sgd-steps', '2']);
  assert.is(f16.code, 1, f16.stderr);
  assert.match(f16.stderr, /rank \d: its (parameter change before the f16 average|parameters before the parameter average) at step \d+ hold/);
});

test('--init and --resume refuse a checkpoint holding NaN or infinity, naming the tensor and element', async () => {
  const nan = dir.file('nan.safetensors');
  rewrite(good, nan, { tensors: (name, v) => name === 'layers.1.bias' && (v[2] = Number.NaN) });
  const init = await runTrain([...TASK, '--procs', '1', '--max-steps', '2', '--init', nan]);
  assert.is(init.code, 1, init.stderr);
  assert.match(init.stderr, /nan\.safetensors: tensor "layers\.1\.bias" holds NaN at element 2; a checkpoint with NaN or infinite values cannot start a run/);
  const inf = dir.file('inf-momentum.safetensors');
  rewrite(good, inf, { tensors: (name, v) => name === 'optimizer.momentum.layers.0.weight' && (v[0] = -Infinity) });
  const resume = await runTrain([...TASK, '--procs', '1', '--max-steps', '8', '--resume', inf]);
  assert.is(resume.code, 1, resume.stderr);
  assert.match(resume.stderr, /tensor "optimizer\.momentum\.layers\.0\.weight" holds -Infinity at element 0/);
});

test('--resume refuses a step past the planned end, and a negative, fractional or missing-digit step, with the reason', async () => {
  const late = await runTrain([...TASK, '--procs', '1', '--max-steps', '3', '--resume', good]);
  assert.is(late.code, 1, late.stderr);
  assert.match(late.stderr, /the checkpoint is at step 4, past this run's last step 3; raise --max-steps \(or --epochs\) above 4/);
  for (const step of ['-2', '1.5', '', 'four']) {
    const bad = dir.file(`step${step}.safetensors`);
    rewrite(good, bad, { metadata: { step } });
    const r = await runTrain([...TASK, '--procs', '1', '--max-steps', '8', '--resume', bad]);
    assert.is(r.code, 1, `step "${step}": ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`metadata field "step" is "${step.replace('.', '\\.')}", expected a whole number of optimizer steps`));
  }
});

test('malformed JSON metadata names the file and the field, for --init as for --resume', async () => {
  const broken = dir.file('broken-config.safetensors');
  rewrite(good, broken, { metadata: { config: '{"procs": 2,' } });
  for (const flag of ['--init', '--resume']) {
    const r = await runTrain([...TASK, '--procs', '1', '--max-steps', '8', flag, broken]);
    assert.is(r.code, 1, `${flag}: ${r.stderr}`);
    assert.match(r.stderr, /broken-config\.safetensors: metadata field "config" is not valid JSON/);
  }
  const outer = dir.file('broken-outer.safetensors');
  rewrite(good, outer, { metadata: { outer: '{"optimizer":"nesterov","lr":"fast","momentum":0.9,"rounds":1}' } });
  const r = await runTrain([...TASK, '--procs', '1', '--max-steps', '8', '--init', outer]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /broken-outer\.safetensors: metadata field "outer" is malformed at "lr"/);
});

test.after(() => dir.remove());
test.run();
