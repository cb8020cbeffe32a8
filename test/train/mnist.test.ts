import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readMetrics, summaryOf } from '../../src/train/metrics.js';
import { runTrain } from '../helpers/processes.js';
import { tempDir, trainInProcess } from '../helpers/train-run.js';

const test = suite('MNIST');
const dir = tempDir();

test('one epoch of the default MLP in one process reaches 90% test accuracy (seed 0), and the loss falls', async () => {
  const { summary, records } = await trainInProcess(['--epochs', '1', '--seed', '0', '--quiet']);
  assert.ok(summary.test!.accuracy >= 0.9, `test accuracy ${summary.test!.accuracy}`);
  assert.ok(records.at(-1)!.loss < records[0]!.loss, `loss falls: ${records.map((r) => r.loss.toFixed(3)).join(' → ')}`);
});

test('the default run (4 workers, Local SGD every 8 steps) reaches 90% test accuracy with the averaged model', async () => {
  const r = await runTrain(['--metrics', dir.file('default.jsonl'), '--quiet']);
  assert.is(r.code, 0, r.stderr);
  const summary = summaryOf(readMetrics(dir.file('default.jsonl')));
  assert.is(summary.procs, 4);
  assert.is(summary.localSgdSteps, 8);
  assert.ok(summary.testAccuracy >= 0.9, `test accuracy ${summary.testAccuracy}`);
});

test.after(() => dir.remove());
test.run();
