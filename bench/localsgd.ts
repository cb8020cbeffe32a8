// npm run bench:localsgd — what does Local SGD buy? Runs dist/train.js as child processes with the
// same data, model, seed, workers and samples per worker: synchronous data-parallel (gradients
// averaged every step) against Local SGD at K = 2…32, each over several simulated links; and a
// larger model whose parameters cost time even on the local transport. `--suite beyond` instead
// measures what goes past Accelerate's LocalSGD against plain Local SGD at the same K: post-local
// SGD warmup, half-precision averaging, and a DiLoCo outer optimizer. Writes JSON (all records),
// Markdown tables and SVG figures; the README's figures come from them.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, formatBytes, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';
import { lineChart, type Series } from './plot.js';
import { TEST_SIGKILL_ENV } from '../src/train/debug-hooks.js';

const TRAIN_JS = fileURLToPath(new URL('../train.js', import.meta.url));

interface Link { name: string; bandwidth: string; latency: string }
interface Mode {
  name: string;
  label: string;
  localSgdSteps: number | null;
  /** More train.js flags that make this mode (warmup, comm dtype, outer optimizer). */
  args?: string[];
  /** Environment for train.js: LOCALSGD_TEST_SIGKILL kills a worker at a fixed step, the same in every repeat. */
  env?: Record<string, string>;
}

// Latency: 0.5 ms is a loaded datacentre or campus round trip's one-way share; 2 ms a slower
// shared network where 100 Mbit/s is typical.
const LINKS: Link[] = [
  { name: 'none', bandwidth: 'off', latency: '0' },
  { name: '10gbit', bandwidth: '10gbit', latency: '0.5ms' },
  { name: '1gbit', bandwidth: '1gbit', latency: '0.5ms' },
  { name: '100mbit', bandwidth: '100mbit', latency: '2ms' },
];
const DILOCO_OUTER = ['--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9'];
const MODES: Mode[] = [
  { name: 'sync', label: 'sync', localSgdSteps: null },
  ...[2, 4, 8, 16, 32, 50].map((k) => ({ name: `k${k}`, label: `K=${k}`, localSgdSteps: k })),
  { name: 'k8-warmup', label: 'K=8, 32 sync warmup steps', localSgdSteps: 8, args: ['--local-sgd-warmup-steps', '32'] },
  { name: 'k8-f16', label: 'K=8, f16 averaging', localSgdSteps: 8, args: ['--comm-dtype', 'f16'] },
  { name: 'k8-bf16', label: 'K=8, bf16 averaging', localSgdSteps: 8, args: ['--comm-dtype', 'bf16'] },
  // Rank 2 SIGKILLs itself before step 60 (between the rounds at 56 and 64).
  { name: 'k8-lost-continue', label: 'K=8, rank 2 lost at step 60, continue', localSgdSteps: 8, args: ['--on-worker-failure', 'continue'], env: { [TEST_SIGKILL_ENV]: '2:60' } },
  { name: 'k8-lost-respawn', label: 'K=8, rank 2 lost at step 60, respawn', localSgdSteps: 8, args: ['--on-worker-failure', 'respawn'], env: { [TEST_SIGKILL_ENV]: '2:60' } },
  { name: 'k50-diloco', label: 'K=50, DiLoCo Nesterov outer', localSgdSteps: 50, args: DILOCO_OUTER },
  { name: 'k50-diloco-f16', label: 'K=50, DiLoCo, f16', localSgdSteps: 50, args: [...DILOCO_OUTER, '--comm-dtype', 'f16'] },
  // The quick suite's small versions of the same.
  { name: 'k4-warmup', label: 'K=4, 4 sync warmup steps', localSgdSteps: 4, args: ['--local-sgd-warmup-steps', '4'] },
  { name: 'k4-f16', label: 'K=4, f16 averaging', localSgdSteps: 4, args: ['--comm-dtype', 'f16'] },
  { name: 'k4-diloco', label: 'K=4, DiLoCo', localSgdSteps: 4, args: DILOCO_OUTER },
];

interface Group {
  name: string;
  title: string;
  /** Data, model and length, the same for every mode. */
  args: string[];
  modes: string[];
  /** The mode every other is compared with (Δ accuracy, time and byte ratios). */
  baseline: string;
  links: string[];
  evalEvery: number;
  target: number;
}

// 192 steps ≈ 3 epochs of each worker's 2,000 MNIST samples at batch 32, and a multiple of every
// K and of --eval-every, so every run ends on an averaging point that is also an evaluation point.
const FULL: Group[] = [
  {
    name: 'mnist', title: 'MNIST 784-256-10', evalEvery: 8, target: 0.9,
    args: ['--data', 'mnist', '--hidden', '256', '--batch-size', '32', '--max-steps', '192', '--log-every', '8'],
    modes: ['sync', 'k2', 'k4', 'k8', 'k16', 'k32'], baseline: 'sync', links: LINKS.map((l) => l.name),
  },
  {
    name: 'large', title: 'synthetic 256-2048-2048-10', evalEvery: 16, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '8192', '--synthetic-features', '256', '--hidden', '2048,2048',
      '--batch-size', '32', '--max-steps', '64', '--log-every', '8'],
    modes: ['sync', 'k8'], baseline: 'sync', links: ['none'],
  },
];
const QUICK: Group[] = [
  {
    name: 'mnist', title: 'quick: synthetic 20-16-5', evalEvery: 4, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
      '--hidden', '16', '--batch-size', '16', '--max-steps', '16', '--log-every', '4'],
    modes: ['sync', 'k4'], baseline: 'sync', links: ['1gbit'],
  },
  {
    name: 'large', title: 'quick: synthetic 20-64-64-5', evalEvery: 8, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
      '--hidden', '64,64', '--batch-size', '16', '--max-steps', '8', '--log-every', '4'],
    modes: ['sync', 'k4'], baseline: 'sync', links: ['none'],
  },
];

// Beyond Accelerate, at the simulated 1 Gbit/s link: each idea against plain Local SGD at the same
// K. DiLoCo's usual setting is AdamW inside, Nesterov outside (lr 0.7, momentum 0.9), K large.
const BEYOND_FULL: Group[] = [
  {
    name: 'beyond-mnist', title: 'MNIST 784-256-10: warmup and half-precision averaging', evalEvery: 8, target: 0.9,
    args: ['--data', 'mnist', '--hidden', '256', '--batch-size', '32', '--max-steps', '192', '--log-every', '8'],
    modes: ['sync', 'k8', 'k8-warmup', 'k8-f16', 'k8-bf16', 'k8-lost-continue', 'k8-lost-respawn'], baseline: 'k8', links: ['1gbit'],
  },
  {
    // 3 epochs of 20,000 samples over 4 workers: 468 steps, 9 rounds at K = 50, a multiple of --eval-every.
    name: 'diloco', title: 'synthetic 256-256-10, AdamW inner: DiLoCo outer optimizer', evalEvery: 50, target: 0.6,
    args: ['--data', 'synthetic', '--synthetic-samples', '20000', '--hidden', '256',
      '--optimizer', 'adamw', '--lr', '0.001', '--batch-size', '32', '--max-steps', '450', '--log-every', '25'],
    modes: ['k50', 'k50-diloco', 'k50-diloco-f16'], baseline: 'k50', links: ['1gbit'],
  },
];
const BEYOND_QUICK: Group[] = [
  {
    name: 'beyond-mnist', title: 'quick: synthetic 20-16-5', evalEvery: 4, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
      '--hidden', '16', '--batch-size', '16', '--max-steps', '16', '--log-every', '4'],
    modes: ['k4', 'k4-warmup', 'k4-f16', 'k4-diloco'], baseline: 'k4', links: ['1gbit'],
  },
];

const SUITES = {
  accelerate: { file: 'localsgd', title: 'Local SGD against synchronous data-parallel training', full: FULL, quick: QUICK },
  beyond: { file: 'localsgd-beyond', title: 'Beyond Accelerate: post-local SGD, compressed averaging, DiLoCo', full: BEYOND_FULL, quick: BEYOND_QUICK },
} as const;
type SuiteName = keyof typeof SUITES;

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

const subset = (all: readonly string[], flag: string) => z.string().optional().transform((s, ctx) => {
  if (s === undefined) return undefined;
  const names = s.split(',').map((n) => n.trim()).filter(Boolean);
  const bad = names.filter((n) => !all.includes(n));
  if (bad.length || names.length === 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${flag} takes a comma-separated subset of ${all.join(',')} (got "${s}")` });
    return z.NEVER;
  }
  return names;
});

const flagSchema = z.object({
  suite: z.enum(['accelerate', 'beyond'], { errorMap: () => ({ message: '--suite takes accelerate or beyond' }) }).default('accelerate'),
  quick: z.boolean().default(false),
  json: z.boolean().default(false),
  out: z.string().min(1).default('bench/results'),
  onlyLinks: subset(LINKS.map((l) => l.name), '--only-links'),
  onlyModes: subset(MODES.map((m) => m.name), '--only-modes'),
  seed: z.coerce.number().int().min(0).default(0),
  repeats: z.coerce.number().int().min(1).max(9).default(1),
  help: z.boolean().default(false),
});

// What train.js writes to --metrics, checked on the way in so a changed format fails here loudly.
const TrainLine = z.object({ kind: z.literal('train'), rank: z.number(), step: z.number(), loss: z.number() });
const EvalLine = z.object({
  kind: z.literal('eval'), step: z.number(), accuracy: z.number(), loss: z.number(), trainSeconds: z.number(), bytesCommunicated: z.number(),
});
const SummaryLine = z.object({
  kind: z.literal('summary'), mode: z.enum(['local-sgd', 'sync']), procs: z.number(), localSgdSteps: z.number(), adapter: z.string(),
  parameterCount: z.number(), steps: z.number(), samples: z.number(), testAccuracy: z.number(), testLoss: z.number(),
  finalTrainLoss: z.number(), wallSeconds: z.number(), computeSeconds: z.number(), commSeconds: z.number(),
  rounds: z.number(), bytesCommunicated: z.number(), bytesPerRound: z.number(), reduceSeconds: z.number(),
});
type EvalLine = z.infer<typeof EvalLine>;
const WorkerLostLine = z.object({ kind: z.literal('worker-lost'), rank: z.number(), step: z.number(), action: z.string() });

export interface RunRecord {
  group: string;
  link: string;
  linkBandwidth: string;
  linkLatency: string;
  mode: string;
  label: string;
  localSgdSteps: number | null;
  procs: number;
  parameterCount: number;
  steps: number;
  samples: number;
  testAccuracy: number;
  testLoss: number;
  finalTrainLoss: number;
  /** The coordinator's wall time: process start-up, data loading and evaluations included. */
  wallSeconds: number;
  /** Training time to the last step, evaluations excluded (the last eval record's trainSeconds). */
  trainSeconds: number;
  commSeconds: number;
  computeSeconds: number;
  /**
   * Workers' mean commSeconds over wallSeconds. commSeconds counts the whole exchange, so it also
   * holds waiting for slower peers, and ranks 1… wait while rank 0 evaluates.
   */
  commShareOfWall: number;
  target: number;
  /** Training seconds to the first evaluation at or above the target; null when never reached. */
  timeToTargetSeconds: number | null;
  stepToTarget: number | null;
  rounds: number;
  /** All ranks' bytes sent and received, as the coordinator counted them. */
  bytesCommunicated: number;
  bytesPerStep: number;
  bytesPerRound: number;
  adapter: string;
  /** Mean over ranks of the training loss at each logged step. */
  lossCurve: Array<[step: number, loss: number]>;
  evals: EvalLine[];
  /**
   * Timings of every repeat, in run order. Training is deterministic (same seed, same data order),
   * so accuracy and bytes do not vary between repeats; the timings above are their medians, and
   * the curves come from the repeat with the median training time.
   */
  repeats: Array<{ trainSeconds: number; wallSeconds: number; timeToTargetSeconds: number | null; commSeconds: number }>;
}

interface Settings {
  suite: SuiteName;
  quick: boolean;
  repeats: number;
  procs: number;
  seed: number;
  links: Link[];
  groups: Array<Omit<Group, 'modes' | 'links'> & { modes: string[]; links: string[] }>;
}

export interface Report {
  benchmark: 'localsgd';
  date: string;
  adapter: string;
  machine: MachineInfo;
  command: string;
  settings: Settings;
  runs: RunRecord[];
  wallSeconds: number;
}

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
    await trainRun([...groups[0]!.args, '--procs', String(procs), '--max-steps', '2', '--seed', String(flags.seed)], join(scratch, 'warmup.jsonl'));
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
          const lines = await trainRun(args, metrics, mode.env);
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

type Line = z.infer<typeof TrainLine> | EvalLine | z.infer<typeof SummaryLine> | z.infer<typeof WorkerLostLine>;

/** Runs dist/train.js to completion and returns its parsed metrics lines. */
async function trainRun(args: string[], metrics: string, env: Record<string, string> = {}): Promise<Line[]> {
  const all = [TRAIN_JS, ...args, '--metrics', metrics, '--quiet'];
  const child = spawn(process.execPath, all, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  // A hung run must not hang the benchmark: train.js has its own worker timeout, this is the backstop.
  const killer = setTimeout(() => child.kill('SIGTERM'), 600_000);
  const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
  clearTimeout(killer);
  if (code !== 0) {
    throw new Error(`node ${all.join(' ')} exited with code ${code}; its output ended with:\n${output.split('\n').slice(-15).join('\n')}`);
  }
  return readFileSync(metrics, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    const value: unknown = JSON.parse(l);
    const kind = (value as { kind?: unknown }).kind;
    const schema = kind === 'train' ? TrainLine : kind === 'eval' ? EvalLine : kind === 'summary' ? SummaryLine
      : kind === 'worker-lost' ? WorkerLostLine : undefined;
    if (!schema) throw new Error(`${metrics} line ${i + 1}: unknown record kind ${JSON.stringify(kind)}`);
    const checked = schema.safeParse(value);
    if (!checked.success) throw new Error(`${metrics} line ${i + 1} is not a ${kind} record: ${checked.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    return checked.data;
  });
}

function toRecord(group: Group, link: Link, mode: Mode, lines: Line[]): RunRecord {
  const summary = lines.find((l): l is z.infer<typeof SummaryLine> => l.kind === 'summary');
  if (!summary) throw new Error(`${group.name} ${link.name} ${mode.label}: the metrics file has no summary record`);
  const evals = lines.filter((l): l is EvalLine => l.kind === 'eval');
  const byStep = new Map<number, number[]>();
  for (const l of lines) if (l.kind === 'train') byStep.set(l.step, [...(byStep.get(l.step) ?? []), l.loss]);
  const lossCurve = [...byStep].sort((a, b) => a[0] - b[0]).map(([step, losses]): [number, number] => [step, losses.reduce((s, x) => s + x, 0) / losses.length]);
  const last = evals[evals.length - 1];
  const trainSeconds = last && last.step === summary.steps ? last.trainSeconds : Number.NaN;
  const hit = evals.find((e) => e.accuracy >= group.target);
  return {
    group: group.name, link: link.name, linkBandwidth: link.bandwidth, linkLatency: link.latency,
    mode: mode.name, label: mode.label, localSgdSteps: mode.localSgdSteps, procs: summary.procs,
    parameterCount: summary.parameterCount, steps: summary.steps, samples: summary.samples,
    testAccuracy: summary.testAccuracy, testLoss: summary.testLoss, finalTrainLoss: summary.finalTrainLoss,
    wallSeconds: summary.wallSeconds, trainSeconds, commSeconds: summary.commSeconds, computeSeconds: summary.computeSeconds,
    commShareOfWall: summary.commSeconds / summary.wallSeconds,
    target: group.target, timeToTargetSeconds: hit?.trainSeconds ?? null, stepToTarget: hit?.step ?? null,
    rounds: summary.rounds, bytesCommunicated: summary.bytesCommunicated, bytesPerStep: summary.bytesCommunicated / summary.steps,
    bytesPerRound: summary.bytesPerRound, adapter: summary.adapter, lossCurve, evals,
    repeats: [{ trainSeconds, wallSeconds: summary.wallSeconds, timeToTargetSeconds: hit?.trainSeconds ?? null, commSeconds: summary.commSeconds }],
  };
}

/** One record for the repeats of a configuration: median timings, the median-time repeat's curves. */
function medianRecord(records: RunRecord[]): RunRecord {
  const byTime = [...records].sort((a, b) => a.trainSeconds - b.trainSeconds);
  const middle = byTime[(byTime.length - 1) >> 1]!;
  const timings = records.flatMap((r) => r.repeats);
  const reached = timings.map((t) => t.timeToTargetSeconds).filter((t): t is number => t !== null);
  const wallSeconds = median(timings.map((t) => t.wallSeconds));
  const commSeconds = median(timings.map((t) => t.commSeconds));
  return {
    ...middle,
    trainSeconds: median(timings.map((t) => t.trainSeconds)),
    wallSeconds, commSeconds, commShareOfWall: commSeconds / wallSeconds,
    // Accuracy is deterministic, so the target is reached in every repeat or in none.
    timeToTargetSeconds: reached.length === timings.length ? median(reached) : null,
    repeats: timings,
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function progressLine(i: number, total: number, r: RunRecord): string {
  const ttt = r.timeToTargetSeconds === null ? 'not reached' : `${r.timeToTargetSeconds.toFixed(2)} s`;
  return `[${String(i).padStart(2)}/${total}] ${r.group.padEnd(5)} link ${r.link.padEnd(7)} ${r.label.padEnd(5)} ` +
    `acc ${pct(r.testAccuracy)}  train ${r.trainSeconds.toFixed(2)} s  wall ${r.wallSeconds.toFixed(1)} s  ` +
    `to ${pct(r.target, 0)}: ${ttt}  ${r.rounds} rounds  ${formatBytes(r.bytesCommunicated)}  comm ${pct(r.commShareOfWall, 0)} of wall`;
}

const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '–');
const secs = (x: number | null) => (x === null ? 'not reached' : Number.isFinite(x) ? x.toFixed(2) : '–');
const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || !(b > 0) ? '–' : `${(a / b).toFixed(2)}×`;

/** '5.19 (3.40–6.12)' when there were repeats. */
function withRange(value: number, all: number[]): string {
  return all.length < 2 ? secs(value) : `${secs(value)} (${secs(Math.min(...all))}–${secs(Math.max(...all))})`;
}

function runsOf(report: Report, group: string, link: string): RunRecord[] {
  return report.runs.filter((r) => r.group === group && r.link === link);
}

interface Figure { file: string; title: string; group: string; link: string }

function writeFigures(report: Report, outDir: string): Figure[] {
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

function linkText(report: Report, name: string): string {
  const l = report.settings.links.find((x) => x.name === name)!;
  return l.bandwidth === 'off' ? 'none (local Unix socket, no simulation)' : `${l.bandwidth}, ${l.latency} one-way latency`;
}

function markdown(report: Report, figures: Figure[]): string {
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

runMain(main);
