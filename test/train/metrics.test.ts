import { suite } from 'uvu';
import { mlpLayout } from '../../src/nn/mlp.js';
import * as assert from 'uvu/assert';
import { parseTrainArgs } from '../../src/cli/config.js';
import { parseMetricsLines, readMetrics, recordsOf, summaryOf } from '../../src/train/metrics.js';
import { WorkerLogRecord, WorkerSummary, type EvalRecord, type TrainRecord } from '../../src/train/records.js';
import { Reporter } from '../../src/train/reporter.js';
import { summarize } from '../../src/train/summary.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('metrics records and their one reader');
const dir = tempDir();

const train = (rank: number, step: number, loss: number): TrainRecord => ({
  kind: 'train', rank, step, epoch: 0, loss, trainAccuracy: 0.5, lr: 0.1, samplesPerSecond: 100, time: 1.5,
});
const evaluation: EvalRecord = { kind: 'eval', rank: 0, step: 8, accuracy: 0.9, loss: 0.3, trainSeconds: 1.25, bytesCommunicated: 4096 };

/** What a worker's done message carries once through JSON: rank 1 did not evaluate, and logged no loss. */
function workerSummary(rank: number): WorkerSummary {
  const comm = { readbackSeconds: 0.1, exchangeSeconds: 0.2, uploadSeconds: 0.05, parameterRounds: 2, gradientRounds: 0, bytesSent: 1000, bytesReceived: 1000 };
  return {
    rank, worldSize: 2, adapter: 'llvmpipe', model: 'MLP 20-16-5', layout: mlpLayout([20, 16, 5]), parameterCount: 421, steps: 16, samples: 256, localSgdRounds: 2,
    finalTrainLoss: rank === 0 ? 0.7 : Number.NaN, test: rank === 0 ? { loss: 0.4, accuracy: 0.8, samples: 256 } : undefined,
    wallSeconds: 3, commSeconds: 0.35, computeSeconds: 2.65, evalSeconds: 0.1, gpuWaitSeconds: 0.5, comm,
  };
}

const throughJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

test('a metrics file the reporter wrote reads back record for record, NaN measures included', () => {
  const path = dir.file('run.jsonl');
  const reporter = new Reporter({ worldSize: 2, metricsPath: path, quiet: true });
  const config = parseTrainArgs(['--procs', '2', '--local-sgd-steps', '8']);
  const summary = summarize(config, [workerSummary(0), workerSummary(1)], undefined, 4);
  reporter.record(train(0, 4, 1.5));
  reporter.record(train(1, 4, Number.NaN));
  reporter.record(evaluation);
  reporter.writeMetric({ kind: 'worker-lost', rank: 1, step: 12, averagedStep: 8, action: 'dropped', liveRanks: [0], restarts: 0, reason: 'was killed by SIGKILL', time: 2 });
  reporter.writeMetric(summary);
  const records = readMetrics(path);
  assert.equal(records.map((r) => r.kind), ['train', 'train', 'eval', 'worker-lost', 'summary']);
  assert.equal(records[0], train(0, 4, 1.5));
  assert.ok(Number.isNaN((records[1] as TrainRecord).loss), 'a NaN loss (null in JSON) reads back as NaN');
  assert.equal(recordsOf(records, 'eval'), [evaluation]);
  assert.equal(recordsOf(records, 'worker-lost')[0]!.liveRanks, [0]);
  assert.equal(summaryOf(records, path), summary);
  assert.is(summaryOf(records).finalTrainLoss, 0.7, 'the mean over workers that logged a loss');
});

test('a line that does not fit its kind names the file, the line and the field', () => {
  const text = `${JSON.stringify(train(0, 4, 1))}\n\n${JSON.stringify({ ...evaluation, accuracy: 'high' })}\n`;
  assert.throws(() => parseMetricsLines(text, 'runs/a.jsonl'), /runs\/a\.jsonl line 3 is not a eval record: accuracy: Expected number, received string/);
  assert.throws(() => parseMetricsLines(JSON.stringify({ ...train(0, 4, 1), step: 4.5 }), 'b.jsonl'), /b\.jsonl line 1 is not a train record: step: /);
});

test('an unknown kind and a line that is not JSON are named, with the kinds a metrics file holds', () => {
  assert.throws(() => parseMetricsLines('{"kind":"loss","step":1}', 'c.jsonl'), /c\.jsonl line 1: unknown record kind "loss"; metrics records are train, eval, worker-lost, summary/);
  assert.throws(() => parseMetricsLines('{"kind":"train"', 'd.jsonl'), /d\.jsonl line 1 is not JSON/);
  assert.throws(() => parseMetricsLines('null', 'e.jsonl'), /e\.jsonl line 1: unknown record kind undefined/);
});

test('a file whose last record is not the summary is a run that did not finish', () => {
  assert.throws(() => summaryOf(parseMetricsLines(JSON.stringify(train(0, 4, 1))), 'f.jsonl'), /f\.jsonl: the last record is a train record, not the summary; the run did not finish/);
  assert.throws(() => summaryOf([], 'g.jsonl'), /g\.jsonl: the last record is missing/);
});

test('what a worker sends through its channel parses as it was meant: log records by kind, and the done summary', () => {
  assert.equal(WorkerLogRecord.parse(throughJson(train(1, 5, 2))), train(1, 5, 2));
  const model = { kind: 'model', description: 'MLP 784-256-10', layout: mlpLayout([784, 256, 10]), parameterCount: 203530, adapter: 'llvmpipe', trainSamples: 8000, testSamples: 2000, data: 'mnist', startStep: 0, totalSteps: 62 };
  assert.equal(WorkerLogRecord.parse(model), model);
  assert.not.ok(WorkerLogRecord.safeParse({ kind: 'summary' }).success, 'a worker logs no summary');
  assert.equal(WorkerSummary.parse(throughJson(workerSummary(0))), workerSummary(0));
  const lossless = WorkerSummary.parse(throughJson(workerSummary(1)));
  assert.ok(Number.isNaN(lossless.finalTrainLoss) && lossless.test === undefined, 'NaN and undefined survive the trip through JSON');
});

test.after(() => dir.remove());
test.run();
