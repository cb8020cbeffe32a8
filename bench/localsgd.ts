// npm run bench:localsgd — what does Local SGD buy? Runs dist/train.js as child processes with the
// same data, model, seed, workers and samples per worker: synchronous data-parallel (gradients
// averaged every step) against Local SGD at K = 2…32, each over several simulated links; and a
// larger model whose parameters cost time even on the local transport. `--suite beyond` instead
// measures what goes past Accelerate's LocalSGD against plain Local SGD at the same K: post-local
// SGD warmup, half-precision averaging, and a DiLoCo outer optimizer. Writes JSON (all records),
// Markdown tables and SVG figures; the README's figures come from them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { commaSubset, readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, machineInfo } from './lib/report.js';
import { medianRecord, toRecord, type Report, type RunRecord, type Settings } from './lib/localsgd/aggregate.js';
import { writeFigures } from './lib/localsgd/charts.js';
import { trainRun } from './lib/localsgd/runner.js';
import { LINKS, MODES, SUITES } from './lib/localsgd/suites.js';
import { markdown, progressLine } from './lib/localsgd/tables.js';

export type { Report, RunRecord } from './lib/localsgd/aggregate.js';

// This file is bundled to dist/bench/localsgd.js, so train.js is one folder up.
const TRAIN_JS = fileURLToPath(new URL('../train.js', import.meta.url));

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--suite', kind: 'value', help: 'accelerate (sync vs K, default; writes localsgd.*) or beyond (warmup, f16/bf16, DiLoCo vs plain Local SGD; writes localsgd-beyond.*)' },
  { flag: '--quick', kind: 'boolean', help: 'a tiny configuration (2 workers, synthetic data, 2 modes, 1 link): the smoke test' },
  { flag: '--json', kind: 'boolean', help: 'print only the JSON report on stdout (progress goes to stderr)' },
  { flag: '--out', kind: 'value', help: 'directory for localsgd.json, localsgd.md and the SVG figures (default bench/results)' },
  { flag: '--only-links', kind: 'value', help: `comma-separated subset of ${LINKS.map((l) => l.name).join(',')}` },
  { flag: '--only-modes', kind: 'value', help: `comma-separated subset of ${MODES.map((m) => m.name).join(',')}` },
  { flag: '--repeats', kind: 'value', help: 'run every configuration N times, interleaved, and report median timings (default 1)' },
  { flag: '--seed', kind: 'value', help: 'seed of weights and data order, the same for every run (default 0)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];

const flagSchema = z.object({
  suite: z.enum(['accelerate', 'beyond'], { errorMap: () => ({ message: '--suite takes accelerate or beyond' }) }).default('accelerate'),
  quick: z.boolean().default(false),
  json: z.boolean().default(false),
  out: z.string().min(1).default('bench/results'),
  onlyLinks: commaSubset(LINKS.map((l) => l.name), '--only-links'),
  onlyModes: commaSubset(MODES.map((m) => m.name), '--only-modes'),
  seed: z.coerce.number().int().min(0).default(0),
  repeats: z.coerce.number().int().min(1).max(9).default(1),
  help: z.boolean().default(false),
});

async function main(): Promise<void> {
  const raw = readFlags(process.argv.slice(2), FLAG_SPECS);
  const parsed = flagSchema.safeParse(raw);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/localsgd.js', 'Local SGD against synchronous data-parallel training: accuracy, time to target, bytes.', FLAG_SPECS));
    return;
  }
  const say = flags.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);
  const procs = flags.quick ? 2 : 4;
  const suite = SUITES[flags.suite];
  const groups = (flags.quick ? suite.quick : suite.full).map((g) => ({
    ...g,
    modes: g.modes.filter((m) => !flags.onlyModes || flags.onlyModes.includes(m)),
    links: g.links.filter((l) => !flags.onlyLinks || flags.onlyLinks.includes(l)),
  })).filter((g) => g.modes.length > 0 && g.links.length > 0);
  if (groups.length === 0) throw new UsageError('--only-links and --only-modes leave no run to do');
  const settings: Settings = { suite: flags.suite, quick: flags.quick, repeats: flags.repeats, procs, seed: flags.seed, links: LINKS, groups };
  const outDir = resolve(flags.out);
  mkdirSync(outDir, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), 'bench-localsgd-'));
  const started = performance.now();
  const machine = machineInfo();
  const total = flags.repeats * groups.reduce((s, g) => s + g.modes.length * g.links.length, 0);
  say(`machine: ${describeMachine(machine)}`);
  say(`${total} runs of dist/train.js, ${procs} workers each, seed ${flags.seed}`);

  const attempts = new Map<string, RunRecord[]>();
  let done = 0;
  try {
    // One short untimed run first, so that Mesa's shader cache is warm for every measured run.
    const warmupArgs = groups[0]!.args.map((a, i, args) => (args[i - 1] === '--max-steps' ? '2' : a)); // train.js refuses a flag twice
    await trainRun(TRAIN_JS, [...warmupArgs, '--procs', String(procs), '--seed', String(flags.seed)], join(scratch, 'warmup.jsonl'));
    // Repeats are interleaved, so that a slow spell of this shared machine hits every mode alike.
    for (let repeat = 0; repeat < flags.repeats; repeat++) for (const group of groups) {
      for (const linkName of group.links) {
        const link = LINKS.find((l) => l.name === linkName)!;
        for (const modeName of group.modes) {
          const mode = MODES.find((m) => m.name === modeName)!;
          const args = [
            ...group.args, '--procs', String(procs), '--seed', String(flags.seed), '--eval-every', String(group.evalEvery),
            '--link-bandwidth', link.bandwidth, '--link-latency', link.latency,
            ...(mode.localSgdSteps === null ? ['--no-local-sgd'] : ['--local-sgd-steps', String(mode.localSgdSteps)]),
            ...(mode.args ?? []),
          ];
          const metrics = join(scratch, `${group.name}-${link.name}-${mode.name}.jsonl`);
          const lines = await trainRun(TRAIN_JS, args, metrics, mode.env);
          const record = toRecord(group, link, mode, lines);
          const key = `${group.name}/${link.name}/${mode.name}`;
          attempts.set(key, [...(attempts.get(key) ?? []), record]);
          if (++done === 1) say(`adapter: ${record.adapter}`);
          say(progressLine(done, total, record));
        }
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const runs = [...attempts.values()].map(medianRecord);
  const report: Report = {
    benchmark: 'localsgd', date: new Date().toISOString(), adapter: runs[0]!.adapter, machine,
    command: `node dist/bench/localsgd.js ${process.argv.slice(2).join(' ')}`.trim(),
    settings, runs, wallSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(join(outDir, `${suite.file}.json`), JSON.stringify(report, null, 1) + '\n');
  const figures = writeFigures(report, outDir);
  writeFileSync(join(outDir, `${suite.file}.md`), markdown(report, figures));
  if (flags.json) console.log(JSON.stringify(report));
  say(`wrote ${join(outDir, `${suite.file}.json`)}, ${suite.file}.md and ${figures.length} SVG figures in ${report.wallSeconds.toFixed(0)} s`);
}

runMain(main);
