import { suite } from 'uvu';
import { withFlags } from '../helpers/args.js';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { assertBitwiseEqual, assertClose } from '../helpers/assert.js';
import { readWeights, SMALL_TASK, tempDir, trainInProcess } from '../helpers/train-run.js';

const test = suite('single-process training');
const dir = tempDir();
const weightsOf = (name: string) => readWeights(dir.file(name)).byName;
const weightsOnly = (name: string) => {
  const all = weightsOf(name);
  return [...all].filter(([n]) => !n.startsWith('optimizer.'));
};

test('the same seed and settings give identical weights, bit for bit; another seed differs', async () => {
  await trainInProcess([...SMALL_TASK, '--max-steps', '20', '--seed', '3', '--save', dir.file('a.safetensors')]);
  await trainInProcess([...SMALL_TASK, '--max-steps', '20', '--seed', '3', '--save', dir.file('b.safetensors')]);
  await trainInProcess([...SMALL_TASK, '--max-steps', '20', '--seed', '4', '--save', dir.file('c.safetensors')]);
  const a = weightsOnly('a.safetensors');
  const b = weightsOnly('b.safetensors');
  const c = weightsOnly('c.safetensors');
  assert.ok(a.length >= 4, 'two layers saved');
  a.forEach(([name, values], i) => assertBitwiseEqual(values, b[i]![1], `seed 3 twice: ${name}`));
  const differs = a.some(([, values], i) => values.some((v, j) => v !== c[i]![1][j]));
  assert.ok(differs, 'seed 4 must give different weights from seed 3');
});

test('loss falls while training', async () => {
  const { records } = await trainInProcess([...SMALL_TASK, '--max-steps', '120', '--log-every', '20', '--lr', '0.05']);
  assert.is(records.length, 6);
  assert.ok(records.every((r) => Number.isFinite(r.loss)), 'finite losses');
  assert.ok(records.at(-1)!.loss < records[0]!.loss * 0.8, `loss should fall: ${records.map((r) => r.loss.toFixed(3)).join(' → ')}`);
});

test('batch 32 with 4 accumulated micro-batches equals batch 128 (plain SGD)', async () => {
  const common = [...SMALL_TASK, '--max-steps', '6', '--momentum', '0', '--no-shuffle', '--lr', '0.1'];
  await trainInProcess(withFlags(common, ['--batch-size', '32', '--grad-accum', '4', '--save', dir.file('accum.safetensors')]));
  await trainInProcess(withFlags(common, ['--batch-size', '128', '--grad-accum', '1', '--save', dir.file('whole.safetensors')]));
  const accum = weightsOnly('accum.safetensors');
  const whole = weightsOnly('whole.safetensors');
  accum.forEach(([name, values], i) => assertClose(values, whole[i]![1], `accumulated vs whole batch: ${name}`, 1e-5));
});

test('save then load returns identical tensors', async () => {
  await trainInProcess([...SMALL_TASK, '--max-steps', '5', '--save', dir.file('saved.safetensors')]);
  // Resuming at the last step trains nothing, so what it saves is exactly what it loaded.
  const first = weightsOf('saved.safetensors');
  await trainInProcess([...SMALL_TASK, '--max-steps', '5', '--resume', dir.file('saved.safetensors'), '--save', dir.file('again.safetensors')]);
  const again = weightsOf('again.safetensors');
  for (const [name, values] of first) assertBitwiseEqual(values, again.get(name)!, `reloaded ${name}`);
});

test('bad checkpoints are rejected with errors naming the tensor and the shape', async () => {
  await trainInProcess([...SMALL_TASK, '--max-steps', '2', '--save', dir.file('h16.safetensors')]);
  try {
    await trainInProcess(withFlags(SMALL_TASK, ['--hidden', '8', '--max-steps', '1', '--init', dir.file('h16.safetensors')]));
    assert.unreachable('a mismatched checkpoint must be rejected');
  } catch (e) {
    assert.match((e as Error).message, /layers\.0\.weight" has shape \[16, 20\], expected \[8, 20\]/);
  }
  try {
    await trainInProcess([...SMALL_TASK, '--max-steps', '3', '--optimizer', 'adamw', '--resume', dir.file('h16.safetensors')]);
    assert.unreachable('resuming SGD state with AdamW must be rejected');
  } catch (e) {
    assert.match((e as Error).message, /holds sgd state but --optimizer is adamw/);
  }
  writeFileSync(dir.file('truncated.safetensors'), new Uint8Array(5));
  try {
    await trainInProcess([...SMALL_TASK, '--max-steps', '1', '--init', dir.file('truncated.safetensors')]);
    assert.unreachable('a truncated checkpoint must be rejected');
  } catch (e) {
    assert.match((e as Error).message, /truncated\.safetensors/);
  }
});

test.after(() => dir.remove());
test.run();
