import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Reporter } from '../../src/train/reporter.js';
import type { TrainRecord } from '../../src/train/records.js';

const test = suite('reporter');

function reporter(worldSize: number): { reporter: Reporter; lines: string[] } {
  const lines: string[] = [];
  const out = { isTTY: false, write: (text: string) => lines.push(...text.split('\n').filter(Boolean)) } as unknown as NodeJS.WriteStream;
  return { reporter: new Reporter({ worldSize, quiet: false, out }), lines };
}

const record = (rank: number, step: number, loss: number): TrainRecord => ({
  kind: 'train', rank, step, epoch: 0, loss, trainAccuracy: 0, lr: 0.1, samplesPerSecond: 100, time: 0,
});

test('a step is printed once every rank has reported it, with their mean loss', () => {
  const { reporter: r, lines } = reporter(2);
  r.train(record(0, 5, 1));
  assert.equal(lines, []);
  r.train(record(1, 5, 3));
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^step 5 .*loss 2\.0000/);
});

test('after a rank is dropped, steps wait for the survivors only, and those it never reached print at once', () => {
  const { reporter: r, lines } = reporter(3);
  r.train(record(0, 5, 1));
  r.train(record(2, 5, 3));
  r.train(record(0, 10, 2));
  r.train(record(2, 10, 4));
  assert.equal(lines, [], 'rank 1 has not reported');
  r.dropRank(1);
  assert.is(lines.length, 2);
  assert.match(lines[0]!, /^step 5 .*loss 2\.0000/);
  assert.match(lines[1]!, /^step 10 .*loss 3\.0000/);
  r.train(record(0, 15, 1));
  r.train(record(2, 15, 1));
  assert.is(lines.length, 3);
});

test('a respawned rank reporting a step again replaces its earlier record instead of counting twice', () => {
  const { reporter: r, lines } = reporter(2);
  r.train(record(1, 5, 9)); // the process that was lost
  r.train(record(1, 5, 3)); // its replacement, from the rejoin point
  assert.equal(lines, [], 'rank 0 has not reported');
  r.train(record(0, 5, 1));
  assert.match(lines[0]!, /loss 2\.0000/);
});

test.run();
