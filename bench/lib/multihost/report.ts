// The multi-machine benchmark's report: what multihost.json holds, a console line per run, the
// goals checked, the Markdown tables and the SVG figure (accuracy against training time).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart, type Series } from '../plot.js';
import { describeMachine, formatBytes, markdownTable, type MachineInfo } from '../report.js';
import { pct, ratio } from '../localsgd/format.js';
import type { RunRecord, Workload } from './runs.js';

export interface Report {
  benchmark: 'multihost';
  date: string;
  adapter: string;
  /** At the start; loadAverageAtEnd at the end (this machine is shared, and both setups run on its 2 cores). */
  machine: MachineInfo;
  loadAverageAtEnd: number[];
  command: string;
  settings: { quick: boolean; seed: number; nodes: number; nprocPerNode: number; workload: Workload; links: string[]; modes: string[] };
  runs: RunRecord[];
  goals: Goal[];
  wallSeconds: number;
}

export interface Goal {
  what: string;
  /** speedup: a ratio (×); error: a relative difference (%). */
  kind: 'speedup' | 'error';
  value: number | null;
  required: string;
  met: boolean;
}

const SPEEDUP_GOAL = 3.5;
const SIM_TOLERANCE = 0.25;

const tt = (r: RunRecord | undefined) => r?.toTarget?.trainSeconds ?? null;
const find = (runs: RunRecord[], link: string, mode: string, setup: 'real' | 'sim') => runs.find((r) => r.link === link && r.mode === mode && r.setup === setup);

/** The issue's goals, checked on these runs: K=8's speed-up over sync on the real slow link, and the simulator's error on every pair. */
export function goals(runs: RunRecord[], links: string[], modes: string[], target: number): Goal[] {
  const out: Goal[] = [];
  const slow = links.includes('100mbit') ? '100mbit' : links[0]!;
  const local = modes.includes('k8') ? 'k8' : modes.find((m) => m !== 'sync');
  if (modes.includes('sync') && local) {
    const sync = tt(find(runs, slow, 'sync', 'real'));
    const k = tt(find(runs, slow, local, 'real'));
    const speedup = sync !== null && k !== null ? sync / k : null;
    out.push({
      kind: 'speedup',
      what: `${find(runs, slow, local, 'real')?.label ?? local} reaches ${pct(target, 0)} sooner than sync on the real ${slow} link (sync ÷ Local SGD time to target)`,
      value: speedup, required: `≥ ${SPEEDUP_GOAL}×`, met: speedup !== null && speedup >= SPEEDUP_GOAL,
    });
  }
  for (const link of links) for (const mode of modes) {
    const real = find(runs, link, mode, 'real');
    const sim = find(runs, link, mode, 'sim');
    if (!real || !sim) continue;
    const error = tt(real) !== null && tt(sim) !== null ? tt(sim)! / tt(real)! - 1 : null;
    out.push({
      kind: 'error',
      what: `simulator's time to ${pct(target, 0)} against the real link's, ${link}, ${real.label} (sim ÷ real − 1)`,
      value: error, required: `within ±${SIM_TOLERANCE * 100} %`, met: error !== null && Math.abs(error) <= SIM_TOLERANCE,
    });
  }
  return out;
}

export function formatGoal(g: Goal): string {
  const value = g.value === null ? 'not measured (target not reached)' : g.kind === 'error' ? `${g.value >= 0 ? '+' : ''}${(g.value * 100).toFixed(1)} %` : `${g.value.toFixed(2)}×`;
  return `${g.met ? 'met    ' : 'NOT MET'}  ${g.what}: ${value} (goal ${g.required})`;
}

export function progressLine(i: number, total: number, r: RunRecord, target: number): string {
  const reached = r.toTarget ? `${r.toTarget.trainSeconds.toFixed(2)} s (step ${r.toTarget.step}, ${pct(r.toTarget.accuracy)})` : 'not reached';
  return `[${String(i).padStart(2)}/${total}] ${r.link.padEnd(7)} ${r.setup === 'real' ? 'real link' : 'simulated'} ${r.label.padEnd(38)} ` +
    `acc ${pct(r.testAccuracy)}  to ${pct(target, 0)}: ${reached}  train ${r.trainSeconds.toFixed(2)} s  wall ${r.wallSeconds.toFixed(1)} s  ` +
    `${r.slowLinkRounds} slow-link rounds  link bytes ${formatBytes(r.linkBytes)} (shaped ${formatBytes(r.shapedLinkBytes)})  ` +
    `model ${(r.linkSecondsPerRound * 1000).toFixed(0)} ms/round on the slowest link`;
}

export function writeFigure(report: Report, outDir: string): { file: string; title: string }[] {
  const figures: { file: string; title: string }[] = [];
  const { target } = report.settings.workload;
  report.settings.links.forEach((link, i) => {
    const runs = report.runs.filter((r) => r.link === link);
    const series: Series[] = runs.map((r) => ({ name: `${r.setup === 'real' ? 'real' : 'sim'}: ${r.label}`, points: r.evals.map((e) => [e.trainSeconds, e.accuracy]) }));
    const file = i === 0 ? 'multihost.svg' : `multihost-${link}.svg`;
    const title = `Test accuracy by training time, 2 machines × 2 workers, ${link} (real link and simulator)`;
    writeFileSync(join(outDir, file), lineChart({
      title, xLabel: 'training seconds (evaluations excluded)', yLabel: 'test accuracy', series, markers: true, xMin: 0, width: 760,
      formatY: (y) => `${Number((y * 100).toPrecision(3))}%`, hline: { y: target, label: `target ${pct(target, 0)}` },
    }));
    figures.push({ file, title });
  });
  return figures;
}

export function markdown(report: Report, figures: { file: string; title: string }[]): string {
  const s = report.settings;
  const w = s.workload;
  const out = [
    '# Several machines: Local SGD over real rate-limited links',
    '',
    `Written by \`${report.command}\` on ${report.date.slice(0, 10)} in ${(report.wallSeconds / 60).toFixed(1)} min; adapter: ${report.adapter}.`,
    `Machine: ${describeMachine(report.machine)} at the start, ${report.loadAverageAtEnd.join(' ')} at the end. Both machines, the master and the`,
    'simulated runs share these cores, so every timing includes waiting for a core; each configuration ran once.',
    '',
    `**Real**: ${s.nodes} network namespaces (scripts/netns-cluster.sh), one \`train.js --nnodes ${s.nodes} --nproc-per-node ${s.nprocPerNode}\` launcher in each,`,
    'joined by real TCP through a bridge, each namespace\'s link limited by the kernel\'s tbf qdisc in both directions, no added latency.',
    `**Sim**: the same ${s.nodes} launchers on this one machine over loopback, with \`--link-bandwidth\` at the same rate and \`--link-latency 0\`:`,
    'across machines the simulator delays each machine\'s link to the master (node 0\'s excepted, as for real), the same bytes in the same order.',
    `\`${w.args.join(' ')} --eval-every ${w.evalEvery}\`, seed ${s.seed}; target ${pct(w.target, 0)} test accuracy.`,
    '',
    `Columns: *time to ${pct(w.target, 0)}* is rank 0's training seconds (evaluations excluded) at the first evaluation at or over the target,`,
    'nothing interpolated; evaluations happen only where every worker holds the same weights (every step in sync, every K-th step,',
    'and with --cross-node-every only at cross-machine rounds). *link bytes* is, real: the sum over machines of each machine\'s link',
    'to the master (sent + received; node 0\'s link goes to its own launcher over loopback), and likewise for sim.',
    '*shaped* is what crossed a rate-limited link. *ms/round* is the model below: the seconds the slowest link needs per',
    'slow-link round for the bytes measured on it.',
    '',
  ];
  for (const link of s.links) {
    const runs = report.runs.filter((r) => r.link === link);
    const syncReal = tt(find(runs, link, 'sync', 'real'));
    const syncSim = tt(find(runs, link, 'sync', 'sim'));
    out.push(`## Link: ${link}`, '');
    out.push(markdownTable(
      ['mode', 'setup', 'test acc', `time to ${pct(w.target, 0)} s`, 'at step', 'sync ÷ this', 'sim ÷ real', 'train s', 'wall s', 'slow-link rounds', 'link bytes', 'shaped', 'ms/round (model)'],
      runs.map((r) => {
        const real = find(runs, link, r.mode, 'real');
        return [
          r.label, r.setup === 'real' ? 'real link' : 'simulator', pct(r.testAccuracy),
          r.toTarget ? r.toTarget.trainSeconds.toFixed(2) : 'not reached', r.toTarget ? String(r.toTarget.step) : '–',
          ratio(r.setup === 'real' ? syncReal : syncSim, tt(r)), r.setup === 'sim' ? ratio(tt(r), tt(real)) : '',
          r.trainSeconds.toFixed(2), r.wallSeconds.toFixed(1), String(r.slowLinkRounds), formatBytes(r.linkBytes), formatBytes(r.shapedLinkBytes),
          (r.linkSecondsPerRound * 1000).toFixed(0),
        ];
      }),
      ['l', 'l'],
    ));
    out.push('');
  }
  out.push('## Goals', '', ...report.goals.map((g) => `- ${formatGoal(g)}`), '');
  for (const f of figures) out.push(`![${f.title}](${f.file})`);
  out.push('');
  return out.join('\n');
}
