// The benchmark's SVG figures: per group and link, loss by step, test loss by training time, and
// test accuracy by bytes communicated, one line per mode.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart, type Series } from '../plot.js';
import type { Report, RunRecord } from './aggregate.js';
import { linkText, pct, runsOf } from './format.js';

export interface Figure { file: string; title: string; group: string; link: string }

export function writeFigures(report: Report, outDir: string): Figure[] {
  const figures: Figure[] = [];
  for (const group of report.settings.groups) {
    for (const link of group.links) {
      const runs = runsOf(report, group.name, link);
      if (runs.length === 0) continue;
      const where = `${group.title}, ${report.settings.procs} workers, link ${linkText(report, link)}`;
      const series = (f: (r: RunRecord) => Series['points']): Series[] => runs.map((r) => ({ name: r.label, points: f(r) }));
      const charts = [
        {
          kind: 'loss-vs-step', title: `Training loss vs optimizer step (${where})`,
          svg: lineChart({ title: `Training loss by step — ${group.title}, link ${link}`, xLabel: 'optimizer step', yLabel: 'training loss (mean over workers)', series: series((r) => r.lossCurve), xMin: 0 }),
        },
        {
          kind: 'loss-vs-time', title: `Test loss vs training time (${where})`,
          svg: lineChart({
            title: `Test loss by training time — ${group.title}, link ${link}`, xLabel: 'training seconds (evaluations excluded)', yLabel: 'test loss',
            series: series((r) => r.evals.map((e) => [e.trainSeconds, e.loss])), markers: true, xMin: 0,
          }),
        },
        {
          kind: 'accuracy-vs-bytes', title: `Test accuracy vs bytes communicated (${where})`,
          svg: lineChart({
            title: `Test accuracy by bytes — ${group.title}, link ${link}`, xLabel: 'bytes sent + received by one worker', yLabel: 'test accuracy',
            series: series((r) => r.evals.map((e) => [e.bytesCommunicated, e.accuracy])), logX: true, markers: true,
            formatY: (y) => `${Number((y * 100).toPrecision(3))}%`, hline: { y: group.target, label: `target ${pct(group.target, 0)}` },
          }),
        },
      ];
      for (const c of charts) {
        const file = `localsgd-${group.name}-${link}-${c.kind}.svg`;
        writeFileSync(join(outDir, file), c.svg);
        figures.push({ file, title: c.title, group: group.name, link });
      }
    }
  }
  return figures;
}
