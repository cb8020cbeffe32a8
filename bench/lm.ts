// npm run bench:lm — Local SGD and DiLoCo where they were made for: a language model. Trains the
// baby GPT on Brown with 4 workers for a fixed number of tokens in each mode (sync, Local SGD K=8
// and 32, DiLoCo K=32 and 128) over each simulated link (100 Mbit/s, 1 Gbit/s), through dist/train.js
// as a user runs it, and reports validation loss against tokens and time, bytes sent, and each mode
// against sync at the same tokens. Writes lm.json, lm.md and SVG figures.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { commaSubset, readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, machineInfo } from './lib/report.js';
import { trainRun } from './lib/localsgd/runner.js';
import { FULL_LINKS, FULL_MODEL, FULL_MODES, LM_LINKS, LM_MODES, QUICK_LINKS, QUICK_MODEL, QUICK_MODES } from './lib/lm/modes.js';
import { compare, curvesDifferingAcrossLinks, lmMarkdown, toLmRun, writeLmFigures, type LmReport, type LmRun } from './lib/lm/report.js';

export type { LmReport } from './lib/lm/report.js';

const TRAIN_JS = fileURLToPath(new URL('../train.js', import.meta.url));

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--steps', kind: 'value', help: 'optimizer steps per worker, the same in every run (default 512; --quick 16)' },
  { flag: '--eval-every', kind: 'value', help: 'steps between validation evaluations; must divide --steps (default steps/8)' },
  { flag: '--val-windows', kind: 'value', help: 'validation windows each evaluation scores (default 512; --quick 16)' },
  { flag: '--procs', kind: 'value', help: 'workers per run (default 4; --quick 2)' },
  { flag: '--only-modes', kind: 'value', help: `comma-separated subset of ${FULL_MODES.join(',')}` },
  { flag: '--only-links', kind: 'value', help: `comma-separated subset of ${FULL_LINKS.join(',')}` },
  { flag: '--seed', kind: 'value', help: 'seed of weights and data order, the same for every run (default 0)' },
  { flag: '--quick', kind: 'boolean', help: 'a tiny GPT, 2 workers, sync and DiLoCo K=4 on the 1 Gbit/s link: the smoke test' },
  { flag: '--json', kind: 'boolean', help: 'print only the JSON report on stdout (progress goes to stderr)' },
  { flag: '--out', kind: 'value', help: 'directory for lm.json, lm.md and the SVG figures (default bench/results)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];

const whole = (flag: string, min: number) => z.coerce.number().refine((n) => Number.isInteger(n) && n >= min, { message: `${flag} must be a whole number ≥ ${min}` });
const flagSchema = z.object({
  steps: whole('--steps', 1).optional(),
  evalEvery: whole('--eval-every', 1).optional(),
  valWindows: whole('--val-windows', 1).optional(),
  procs: whole('--procs', 2).optional(),
  onlyModes: commaSubset(FULL_MODES, '--only-modes'),
  onlyLinks: commaSubset(FULL_LINKS, '--only-links'),
  seed: whole('--seed', 0).default(0),
  quick: z.boolean().default(false),
  json: z.boolean().default(false),
  out: z.string().min(1).default('bench/results'),
  help: z.boolean().default(false),
});

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/lm.js', 'Sync, Local SGD and DiLoCo on the baby GPT over simulated links: validation loss by tokens and time, bytes.', FLAG_SPECS));
    return;
  }
  const say = flags.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);
  const steps = flags.steps ?? (flags.quick ? 16 : 512);
  const evalEvery = flags.evalEvery ?? Math.max(1, Math.floor(steps / 8));
  if (steps % evalEvery !== 0) throw new UsageError(`--eval-every ${evalEvery} must divide --steps ${steps}, so that the last step is evaluated`);
  const procs = flags.procs ?? (flags.quick ? 2 : 4);
  const valWindows = flags.valWindows ?? (flags.quick ? 16 : 512);
  const { args: modelArgs, blockSize } = flags.quick ? QUICK_MODEL : FULL_MODEL;
  const modes = LM_MODES.filter((m) => (flags.quick ? QUICK_MODES : FULL_MODES).includes(m.name) && (!flags.onlyModes || flags.onlyModes.includes(m.name)));
  const links = LM_LINKS.filter((l) => (flags.quick ? QUICK_LINKS : FULL_LINKS).includes(l.name) && (!flags.onlyLinks || flags.onlyLinks.includes(l.name)));
  if (modes.length === 0 || links.length === 0) throw new UsageError('--only-modes and --only-links leave no run to do');
  // The recipe's warmup is 100 of nanoGPT's 2,000 iterations: keep that share in a shorter run.
  const common = [
    ...modelArgs, '--procs', String(procs), '--max-steps', String(steps), '--warmup-steps', String(Math.round(steps * 0.05)),
    '--eval-every', String(evalEvery), '--val-windows', String(valWindows), '--seed', String(flags.seed), '--log-every', String(evalEvery),
  ];
  const outDir = resolve(flags.out);
  mkdirSync(outDir, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), 'bench-lm-'));
  const started = performance.now();
  const machine = machineInfo();
  say(`machine: ${describeMachine(machine)}`);
  say(`${modes.length * links.length} runs of dist/train.js: ${procs} workers × ${steps} steps each, ${modelArgs.join(' ')}`);
  const runs: LmRun[] = [];
  try {
    // An untimed two-step run first, so that Mesa's shader cache is warm for every measured run.
    await trainRun(TRAIN_JS, [...modelArgs, '--procs', String(procs), '--max-steps', '2', '--val-windows', '1'], join(scratch, 'warmup.jsonl'));
    for (const link of links) {
      for (const mode of modes) {
        const metrics = join(scratch, `${link.name}-${mode.name}.jsonl`);
        const args = [...common, ...mode.args, '--link-bandwidth', link.bandwidth, '--link-latency', link.latency];
        const run = toLmRun(mode, link.name, await trainRun(TRAIN_JS, args, metrics, {}, Math.max(600_000, steps * 30_000)), blockSize);
        if (runs.length === 0) say(`adapter: ${run.adapter}`);
        runs.push(run);
        say(`[${runs.length}/${modes.length * links.length}] ${link.name} ${mode.label}: validation loss ${run.finalLoss.toFixed(4)}, ${run.trainSeconds.toFixed(1)} s training, ` +
          `${(run.bytesCommunicated / procs / 1e6).toFixed(1)} MB per worker, ${run.rounds} rounds`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const report: LmReport = {
    benchmark: 'lm', date: new Date().toISOString(), command: `node dist/bench/lm.js ${process.argv.slice(2).join(' ')}`.trim(),
    adapter: runs[0]!.adapter, machine,
    settings: { quick: flags.quick, procs, steps, evalEvery, valWindows, seed: flags.seed, blockSize, modelArgs, modes, links },
    runs, comparisons: compare(runs), curvesDifferingAcrossLinks: curvesDifferingAcrossLinks(runs), wallSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(join(outDir, 'lm.json'), JSON.stringify(report, null, 1) + '\n');
  const figures = writeLmFigures(report, outDir, 'lm');
  const md = lmMarkdown(report, figures);
  writeFileSync(join(outDir, 'lm.md'), md);
  if (flags.json) console.log(JSON.stringify(report));
  else console.log(`\n${md}`);
  say(`wrote ${join(outDir, 'lm.json')}, lm.md and ${figures.length} SVG figures in ${report.wallSeconds.toFixed(0)} s`);
}

runMain(main);
