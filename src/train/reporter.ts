// Turns worker records into what a person reads (a progress line on a terminal, plain lines
// otherwise) and what a plotting script reads (--metrics: JSON lines).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MetricsRecord } from './metrics.js';
import type { EvalRecord, ModelRecord, TrainRecord } from './records.js';

export interface ReporterOptions {
  worldSize: number;
  /** The ranks whose records make a step (default all of worldSize; on a machine of several, its own). */
  ranks?: readonly number[];
  totalSteps?: number | undefined;
  metricsPath?: string | undefined;
  quiet: boolean;
  /** A language model: evaluations are next-byte predictions, reported in nats and bits per byte. */
  languageModel?: boolean;
  /** Where lines go; a TTY gets one progress line that rewrites itself. */
  out?: NodeJS.WriteStream;
}

export class Reporter {
  /** Per step, each rank's latest record (a respawned rank logs some steps again). */
  private readonly pending = new Map<number, Map<number, TrainRecord>>();
  /** Ranks whose records make a step complete: all, less any dropped. */
  private readonly live = new Set<number>();
  private readonly out: NodeJS.WriteStream;
  private progressShown = false;

  constructor(private readonly options: ReporterOptions) {
    this.out = options.out ?? process.stdout;
    for (const rank of options.ranks ?? Array.from({ length: options.worldSize }, (_, r) => r)) this.live.add(rank);
    if (options.metricsPath) {
      mkdirSync(dirname(options.metricsPath), { recursive: true });
      writeFileSync(options.metricsPath, '');
    }
  }

  /** The first line of a run: what trains where. */
  start(info: Pick<ModelRecord, 'description' | 'parameterCount' | 'adapter' | 'trainSamples' | 'testSamples' | 'data'>, mode: string): void {
    this.message(`${mode}: ${info.description} (${info.parameterCount.toLocaleString('en')} parameters) on ${info.data}, ` +
      `${info.trainSamples} train / ${info.testSamples} test samples; adapter ${info.adapter}`);
  }

  record(record: TrainRecord | EvalRecord): void {
    if (record.kind === 'train') this.train(record);
    else this.eval(record);
  }

  eval(record: EvalRecord): void {
    this.writeMetric(record);
    this.line(`eval at step ${record.step}: ${this.options.languageModel ? describeTextLoss(record) : `test accuracy ${(record.accuracy * 100).toFixed(2)}%  loss ${record.loss.toFixed(4)}`}`, false);
  }

  /** A rank's record; once every live rank has reported a step, one line with their mean loss. */
  train(record: TrainRecord): void {
    this.writeMetric(record);
    const group = this.pending.get(record.step) ?? new Map<number, TrainRecord>();
    group.set(record.rank, record);
    this.pending.set(record.step, group);
    this.printComplete(record.step);
  }

  /** A rank that will send no more records (--on-worker-failure continue): steps wait for the others only. */
  dropRank(rank: number): void {
    this.live.delete(rank);
    for (const step of [...this.pending.keys()].sort((a, b) => a - b)) this.printComplete(step);
  }

  private printComplete(step: number): void {
    const group = this.pending.get(step);
    if (!group || [...this.live].some((rank) => !group.has(rank))) return;
    this.pending.delete(step);
    const records = [...group.values()];
    const record = records[0]!;
    const loss = records.reduce((s, r) => s + r.loss, 0) / records.length;
    const samplesPerSecond = records.reduce((s, r) => s + r.samplesPerSecond, 0);
    const total = this.options.totalSteps ? `/${this.options.totalSteps}` : '';
    this.line(`step ${record.step}${total}  epoch ${record.epoch}  loss ${loss.toFixed(4)}  lr ${record.lr.toPrecision(3)}  ${Math.round(samplesPerSecond)} samples/s`, true);
  }

  /** A plain line that stays on screen. */
  message(text: string): void {
    this.line(text, false);
  }

  writeMetric(record: MetricsRecord): void {
    if (this.options.metricsPath) appendFileSync(this.options.metricsPath, `${JSON.stringify(record)}\n`);
  }

  finish(): void {
    if (this.progressShown) this.out.write('\n');
    this.progressShown = false;
  }

  private line(text: string, progress: boolean): void {
    if (this.options.quiet) return;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${text}${progress ? '' : '\n'}`);
      this.progressShown = progress;
    } else {
      this.out.write(`${text}\n`);
    }
  }
}

/** A language model's evaluation: the validation loss in nats and bits per byte, and next-byte accuracy. */
export function describeTextLoss(e: { loss: number; accuracy: number }): string {
  return `validation loss ${e.loss.toFixed(4)} nats/byte (${(e.loss / Math.LN2).toFixed(4)} bits/byte)  next-byte accuracy ${(e.accuracy * 100).toFixed(2)}%`;
}
