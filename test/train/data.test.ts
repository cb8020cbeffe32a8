import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { loadTrainingData } from '../../src/train/data.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('train/data: the data set a run trains on');
const dir = tempDir();

/** 25 samples whose first feature is their row number, so a split shows which rows went where. */
function csvFile(): string {
  const path = dir.file('rows.csv');
  writeFileSync(path, Array.from({ length: 25 }, (_, row) => `${row % 3},${row},${-row}`).join('\n'));
  return path;
}

const choice = (data: string, seed: number) => ({ data, syntheticSamples: 0, syntheticFeatures: 0, syntheticClasses: 0, seed });
const rowsOf = (d: { x: Float32Array; features: number; count: number }) => Array.from({ length: d.count }, (_, i) => d.x[i * d.features]!);

test('a user file without --eval-data is split 80/20 by the seed, every row in one part with its own label', async () => {
  const path = csvFile();
  const { train, test: held } = await loadTrainingData(choice(path, 3));
  assert.is(held.count, 5);
  assert.is(train.count, 20);
  assert.is(train.name, 'rows.csv (train)');
  assert.is(held.name, 'rows.csv (held out)');
  const rows = [...rowsOf(train), ...rowsOf(held)];
  assert.equal([...rows].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i), 'the parts are disjoint and cover the file');
  for (const d of [train, held]) rowsOf(d).forEach((row, i) => assert.is(d.y[i], row % 3, `row ${row} keeps its label`));
  const again = await loadTrainingData(choice(path, 3));
  assert.equal(rowsOf(again.test), rowsOf(held), 'the same seed holds out the same rows');
  const other = await loadTrainingData(choice(path, 4));
  assert.not.equal(rowsOf(other.test), rowsOf(held), 'another seed holds out other rows');
});

test.after(() => dir.remove());
test.run();
