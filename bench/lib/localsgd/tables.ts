// The benchmark's tables: a console line per run as it finishes, and the Markdown report (a table
// per group and link, with its figures).
import { describeMachine, formatBytes, markdownTable } from '../report.js';
import type { Report, RunRecord } from './aggregate.js';
import type { Figure } from './charts.js';
import { linkText, pct, ratio, runsOf, secs, withRange } from './format.js';
import { SUITES } from './suites.js';

export function progressLine(i: number, total: number, r: RunRecord): string {
  const ttt = r.timeToTargetSeconds === null ? 'not reached' : `${r.timeToTargetSeconds.toFixed(2)} s`;
  return `[${String(i).padStart(2)}/${total}] ${r.group.padEnd(5)} link ${r.link.padEnd(7)} ${r.label.padEnd(5)} ` +
    `acc ${pct(r.testAccuracy)}  train ${r.trainSeconds.toFixed(2)} s  wall ${r.wallSeconds.toFixed(1)} s  ` +
    `to ${pct(r.target, 0)}: ${ttt}  ${r.rounds} rounds  ${formatBytes(r.bytesCommunicated)}  comm ${pct(r.commShareOfWall, 0)} of wall`;
}

export function markdown(report: Report, figures: Figure[]): string {
  const s = report.settings;
  const out = [
    `# ${SUITES[s.suite].title}`,
    '',
    `Written by \`${report.command}\` on ${report.date.slice(0, 10)}; adapter: ${report.adapter}.`,
    `Machine: ${describeMachine(report.machine)} (load average at the start). Total ${report.wallSeconds.toFixed(0)} s.`,
    `${s.procs} workers, seed ${s.seed}; every mode of a table trains the same model on the same data for the same steps.`,
    s.repeats > 1
      ? `Each configuration ran ${s.repeats} times, interleaved; timings are medians (train s shows the range). Training is deterministic, so accuracy and bytes are the same in every repeat.`
      : 'Each configuration ran once; on this shared machine timings of single runs vary by tens of percent, so compare ratios with care.',
    '',
    'Columns: *train s* is training time to the last step with evaluations excluded; *wall s* is the whole',
    'run (process start-up, data loading and evaluations included); *time to target* is the training time',
    'of the first evaluation at or above the target (evaluations happen only at averaging points, so at',
    'most every K steps); *bytes/step* counts every worker\'s bytes sent and received, divided by optimizer',
    'steps; *comm % of wall* is the workers\' mean time in read-back, exchange and upload over *wall s*',
    '(commSeconds / wallSeconds of the summary record). The exchange includes waiting for the slowest',
    'worker, and ranks 1… wait while rank 0 evaluates: here 4 workers share 2 cores, so this share holds',
    'much waiting and is an upper bound on time spent moving bytes.',
    '',
  ];
  for (const group of s.groups) {
    out.push(`## ${group.title}`, '', `\`${group.args.join(' ')} --eval-every ${group.evalEvery}\`, target ${pct(group.target, 0)} test accuracy.`, '');
    for (const link of group.links) {
      const runs = runsOf(report, group.name, link);
      if (runs.length === 0) continue;
      const base = runs.find((r) => r.mode === group.baseline);
      const b = base?.label ?? group.baseline;
      out.push(`### Link: ${linkText(report, link)}`, '');
      out.push(markdownTable(
        ['mode', 'test acc', `Δ vs ${b}`, 'final train loss', 'train s', `${b} ÷ this`, 'wall s', `time to ${pct(group.target, 0)}`, `${b} ÷ this`, 'rounds', 'bytes/step', `${b} ÷ this`, 'comm % of wall'],
        runs.map((r) => [
          r.label, pct(r.testAccuracy),
          base && r !== base ? `${((r.testAccuracy - base.testAccuracy) * 100).toFixed(2)} pt` : '',
          r.finalTrainLoss.toFixed(4), withRange(r.trainSeconds, r.repeats.map((x) => x.trainSeconds)), base ? ratio(base.trainSeconds, r.trainSeconds) : '–',
          r.wallSeconds.toFixed(2), secs(r.timeToTargetSeconds), base ? ratio(base.timeToTargetSeconds, r.timeToTargetSeconds) : '–',
          String(r.rounds), formatBytes(r.bytesPerStep), base ? ratio(base.bytesPerStep, r.bytesPerStep) : '–', pct(r.commShareOfWall, 1),
        ]),
      ));
      out.push('');
      for (const f of figures.filter((x) => x.group === group.name && x.link === link)) out.push(`![${f.title}](${f.file})`);
      out.push('');
    }
  }
  return out.join('\n');
}
