// bench:lm's records, analysis, Markdown and SVG: validation loss against tokens and against
// training time per link, bytes sent, and each mode against sync at the same tokens.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsRecord } from '../../../src/train/metrics.js';
import { lineChart, type Series } from '../plot.js';
import { formatBytes, markdownTable, type MachineInfo } from '../report.js';
import type { LmMode } from './modes.js';
import type { Link } from '../localsgd/suites.js';

export interface LmEval {
  step: number;
  /** Training tokens seen by all workers together at this step. */
  tokens: number;
  loss: number;
  /** Rank 0's seconds since training started, evaluations excluded. */
  trainSeconds: number;
  /** Bytes rank 0 has sent and received so far. */
  bytesPerWorker: number;
}

export interface LmRun {
  mode: string;
  label: string;
  link: string;
  steps: number;
  tokens: number;
  rounds: number;
  evals: LmEval[];
  /** Validation loss of the final (averaged) weights, nats per byte. */
  finalLoss: number;
  trainSeconds: number;
  wallSeconds: number;
  /** Sent + received, all workers. */
  bytesCommunicated: number;
  adapter: string;
}

/** One run against sync on the same link, at the same tokens. */
export interface LmComparison {
  mode: string;
  link: string;
  /** finalLoss / sync's − 1. */
  lossGap: number;
  /** sync's bytes / this run's. */
  fewerBytes: number;
  /** Training seconds until this run's validation loss first reaches sync's final loss (interpolated between evaluations); null if never. */
  secondsToSyncLoss: number | null;
  /** sync's training seconds / secondsToSyncLoss. */
  soonerThanSync: number | null;
}

export interface LmSettings {
  quick: boolean;
  procs: number;
  steps: number;
  evalEvery: number;
  valWindows: number;
  seed: number;
  blockSize: number;
  modelArgs: string[];
  modes: LmMode[];
  links: Link[];
}

export interface LmReport {
  benchmark: 'lm';
  date: string;
  command: string;
  adapter: string;
  machine: MachineInfo;
  settings: LmSettings;
  runs: LmRun[];
  comparisons: LmComparison[];
  /** Modes whose validation curve differs between links (the link only delays messages, so none should). */
  curvesDifferingAcrossLinks: string[];
  wallSeconds: number;
}

export function toLmRun(mode: LmMode, link: string, records: MetricsRecord[], blockSize: number): LmRun {
  const summary = records.find((r) => r.kind === 'summary');
  if (!summary || summary.kind !== 'summary') throw new Error(`${mode.label} on ${link}: the metrics file has no summary`);
  const tokensPerStep = (summary.samples / summary.steps) * blockSize;
  const evals = records.flatMap((r) => (r.kind === 'eval' ? [{
    step: r.step, tokens: r.step * tokensPerStep, loss: r.loss, trainSeconds: r.trainSeconds, bytesPerWorker: r.bytesCommunicated,
  }] : []));
  const last = evals.at(-1);
  if (!last || last.step !== summary.steps) throw new Error(`${mode.label} on ${link}: no evaluation at the last step (${summary.steps}); --eval-every must divide --steps`);
  return {
    mode: mode.name, label: mode.label, link, steps: summary.steps, tokens: summary.samples * blockSize, rounds: summary.rounds, evals,
    finalLoss: summary.testLoss, trainSeconds: last.trainSeconds, wallSeconds: summary.wallSeconds,
    bytesCommunicated: summary.bytesCommunicated, adapter: summary.adapter,
  };
}

/** The first training second at which the loss curve reaches `target`, interpolated linearly between evaluations. */
export function secondsToReach(evals: readonly LmEval[], target: number): number | null {
  for (let i = 0; i < evals.length; i++) {
    const e = evals[i]!;
    if (e.loss > target) continue;
    if (i === 0) return e.trainSeconds;
    const p = evals[i - 1]!;
    return p.trainSeconds + ((p.loss - target) / (p.loss - e.loss)) * (e.trainSeconds - p.trainSeconds);
  }
  return null;
}

export function compare(runs: readonly LmRun[]): LmComparison[] {
  return runs.flatMap((r) => {
    const sync = runs.find((s) => s.link === r.link && s.mode === 'sync');
    if (!sync || r === sync) return [];
    const seconds = secondsToReach(r.evals, sync.finalLoss);
    return [{
      mode: r.mode, link: r.link, lossGap: r.finalLoss / sync.finalLoss - 1, fewerBytes: sync.bytesCommunicated / r.bytesCommunicated,
      secondsToSyncLoss: seconds, soonerThanSync: seconds === null || seconds <= 0 ? null : sync.trainSeconds / seconds,
    }];
  });
}

export function curvesDifferingAcrossLinks(runs: readonly LmRun[]): string[] {
  const modes = [...new Set(runs.map((r) => r.mode))];
  return modes.filter((m) => {
    const curves = runs.filter((r) => r.mode === m).map((r) => JSON.stringify(r.evals.map((e) => [e.step, e.loss])));
    return new Set(curves).size > 1;
  });
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} %`;
const times = (x: number | null) => (x === null || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);

export function lmMarkdown(report: LmReport, figures: string[]): string {
  const s = report.settings;
  const lines = [
    `# bench:lm — sync, Local SGD and DiLoCo on a byte-level GPT`,
    '',
    `Command: \`${report.command}\`, ${report.date}; adapter ${report.adapter}; ${report.machine.cores} cores (${report.machine.cpu}), load average at the start ${report.machine.loadAverage.join(' ')}; ${report.wallSeconds.toFixed(0)} s in all.`,
    '',
    `${s.procs} workers, ${s.steps} optimizer steps each (${(report.runs[0]?.tokens ?? 0).toLocaleString('en-US')} training tokens in all), model flags \`${s.modelArgs.join(' ')}\` ` +
      `(the GPT's defaults otherwise: AdamW 1e-3, betas 0.9/0.99, weight decay 0.1, clip 1, warmup then cosine to lr/10), seed ${s.seed}; ` +
      `validation loss in nats per byte on the first ${s.valWindows} validation windows, every ${s.evalEvery} steps (at the first averaging point after).`,
    '',
  ];
  for (const link of s.links) {
    const runs = report.runs.filter((r) => r.link === link.name);
    if (runs.length === 0) continue;
    lines.push(`## Link ${link.bandwidth}, ${link.latency} one-way latency`, '');
    const rows = runs.map((r) => {
      const c = report.comparisons.find((x) => x.mode === r.mode && x.link === r.link);
      return [
        r.label, r.finalLoss.toFixed(4), c ? pct(c.lossGap) : '–', String(r.rounds), formatBytes(r.bytesCommunicated / s.procs), c ? times(c.fewerBytes) : '–',
        r.trainSeconds.toFixed(1), c ? (c.secondsToSyncLoss === null ? 'not reached' : c.secondsToSyncLoss.toFixed(1)) : r.trainSeconds.toFixed(1), c ? times(c.soonerThanSync) : '–',
      ];
    });
    lines.push(markdownTable(
      ['mode', 'final val loss', 'vs sync', 'rounds', 'bytes per worker', 'sync ÷ this (bytes)', 'train s', "s to sync's final loss", 'sooner than sync'],
      rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ), '');
  }
  const goal = report.comparisons.filter((c) => c.mode === 'diloco-k32');
  for (const c of goal) {
    lines.push(`Goal (DiLoCo K=32 within 2 % of sync's loss with 32× fewer bytes${c.link === '100mbit' ? ", and at 100 Mbit/s at sync's final loss at least 4× sooner" : ''}), link ${c.link}: ` +
      `loss ${pct(c.lossGap)} (${Math.abs(c.lossGap) <= 0.02 || c.lossGap < 0 ? 'met' : 'not met'}), ${times(c.fewerBytes)} fewer bytes (${c.fewerBytes >= 32 ? 'met' : 'not met'})` +
      (c.link === '100mbit' ? `, ${times(c.soonerThanSync)} sooner (${(c.soonerThanSync ?? 0) >= 4 ? 'met' : 'not met'})` : '') + '.');
  }
  if (new Set(report.runs.map((r) => r.link)).size > 1) lines.push('', report.curvesDifferingAcrossLinks.length === 0
    ? 'Every mode\'s validation curve is bit-identical on both links: a link only delays messages, so the time axis is the only thing it changes.'
    : `Validation curves that differ between links (they should not: a link only delays messages): ${report.curvesDifferingAcrossLinks.join(', ')}.`);
  lines.push('', ...figures.map((f) => `![${f}](${f})`), '');
  return lines.join('\n');
}

export function writeLmFigures(report: LmReport, outDir: string, prefix: string): string[] {
  const files: string[] = [];
  const write = (name: string, svg: string) => {
    writeFileSync(join(outDir, `${prefix}-${name}.svg`), svg);
    files.push(`${prefix}-${name}.svg`);
  };
  const series = (runs: LmRun[], x: (e: LmEval) => number): Series[] => runs.map((r) => ({ name: r.label, points: r.evals.map((e) => [x(e), e.loss] as const) }));
  const first = report.settings.links.find((l) => report.runs.some((r) => r.link === l.name));
  if (first) {
    const runs = report.runs.filter((r) => r.link === first.name);
    write('loss-vs-tokens', lineChart({ title: 'Validation loss by training tokens (any link)', xLabel: 'training tokens, all workers', yLabel: 'validation loss (nats/byte)', series: series(runs, (e) => e.tokens), markers: true, xMin: 0 }));
    write('loss-vs-bytes', lineChart({ title: 'Validation loss by bytes communicated', xLabel: 'bytes sent + received by one worker', yLabel: 'validation loss (nats/byte)', series: series(runs, (e) => e.bytesPerWorker), markers: true, logX: true }));
  }
  for (const link of report.settings.links) {
    const runs = report.runs.filter((r) => r.link === link.name);
    if (runs.length === 0) continue;
    write(`${link.name}-loss-vs-time`, lineChart({
      title: `Validation loss by training time, link ${link.bandwidth}`, xLabel: 'training seconds (evaluations excluded)', yLabel: 'validation loss (nats/byte)',
      series: series(runs, (e) => e.trainSeconds), markers: true, xMin: 0,
    }));
  }
  return files;
}
