// Does a browser tab train as fast as a Node worker on the same adapter class? The MNIST MLP, one
// worker alone (so nothing waits for anyone): `train.js --procs 1` (Node's Dawn on lavapipe) against
// `train.js --procs 0 --browser-workers 1` with a headless Chromium tab (GL ES on lavapipe, and
// SwiftShader), one after the other; then what an averaging round costs a run with a tab: 2 workers
// averaging every step, node + node against node + tab. Throughput is the median of the logged
// windows after the first two (shader compilation and warm-up excluded).
// Run: node build.mjs && node dist/bench/browser-train.js [--quick]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { z } from 'zod';
import { RunSummary } from '../src/train/summary.js';
import { launchChromium, type BrowserAdapter } from '../test/helpers/chromium.js';
import { runTrain } from '../test/helpers/processes.js';
import { openTab, startTabRun, tabFact, waitForTabState } from '../test/helpers/tab-run.js';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: 'batch 64 only, fewer steps: a smoke test' },
  { flag: '--out', kind: 'value', help: 'directory for browser-train.json and .md (default bench/results)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];
const flagSchema = z.object({ quick: z.boolean().default(false), out: z.string().min(1).default('bench/results'), help: z.boolean().default(false) });

interface Throughput { worker: string; adapter: string; batchSize: number; samplesPerSecond: number }
interface RoundCost { members: string; rounds: number; exchangeMsPerRound: number; wallSeconds: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The run's metrics: steady throughput (rank 0's logged windows after the first two) and its summary. */
function readMetrics(path: string): { samplesPerSecond: number; summary: RunSummary } {
  const records = readRecords(path);
  const windows = records.filter((r) => r.kind === 'train' && r.rank === 0).map((r) => r.samplesPerSecond!).slice(2);
  if (windows.length === 0) throw new Error(`${path}: too few logged windows for a steady throughput; raise the step count`);
  return { samplesPerSecond: median(windows), summary: readSummary(path) };
}

const readRecords = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; rank?: number; samplesPerSecond?: number });
const readSummary = (path: string) => RunSummary.parse(readRecords(path).at(-1));

async function withTabs(browser: Browser, adapter: BrowserAdapter, args: string[], metrics: string): Promise<string> {
  const run = startTabRun([...args, '--metrics', metrics]);
  const tab = await openTab(browser, await run.link, adapter);
  const finished = await run.done;
  if (finished.code !== 0) throw new Error(`the run with a tab failed:\n${finished.stderr}`);
  await waitForTabState(tab, ['done'], 30_000);
  const name = (await tabFact(tab, 'Adapter')) ?? 'unknown';
  await tab.context().close();
  return name;
}

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/browser-train.js', 'Training throughput of one browser tab against one Node worker, and an averaging round with a tab.', FLAG_SPECS));
    return;
  }
  const machine = machineInfo();
  console.log(`machine: ${describeMachine(machine)}`);
  const dir = mkdtempSync(join(tmpdir(), 'browser-train-bench-'));
  const batches = flags.quick ? [64] : [64, 512];
  const steps = flags.quick ? 60 : 150;
  const throughput: Throughput[] = [];
  const rounds: RoundCost[] = [];
  const browsers = new Map<BrowserAdapter, Browser>();
  try {
    for (const adapter of ['gles-lavapipe', 'swiftshader'] as const) browsers.set(adapter, await launchChromium(adapter));
    for (const batchSize of batches) {
      const common = ['--batch-size', String(batchSize), '--max-steps', String(steps), '--log-every', '10', '--quiet'];
      const nodeMetrics = join(dir, `node-${batchSize}.jsonl`);
      const node = await runTrain(['--procs', '1', ...common, '--metrics', nodeMetrics]);
      if (node.code !== 0) throw new Error(`the Node run failed:\n${node.stderr}`);
      const n = readMetrics(nodeMetrics);
      throughput.push({ worker: 'Node worker', adapter: n.summary.adapter, batchSize, samplesPerSecond: n.samplesPerSecond });
      for (const [adapter, browser] of browsers) {
        const metrics = join(dir, `tab-${adapter}-${batchSize}.jsonl`);
        // Alone, a tab still averages with itself through the master; one round at the end, as the Node run has none.
        const name = await withTabs(browser, adapter, ['--procs', '0', '--browser-workers', '1', '--local-sgd-steps', String(steps), ...common], metrics);
        throughput.push({ worker: 'browser tab', adapter: name, batchSize, samplesPerSecond: readMetrics(metrics).samplesPerSecond });
      }
      for (const r of throughput.filter((t) => t.batchSize === batchSize)) {
        console.log(`batch ${batchSize}: ${r.worker.padEnd(12)} ${Math.round(r.samplesPerSecond).toString().padStart(6)} samples/s  (${r.adapter})`);
      }
    }
    // Averaging every step, so rounds dominate: what a round costs when one member is a tab.
    const every = ['--batch-size', '64', '--max-steps', flags.quick ? '30' : '80', '--local-sgd-steps', '1', '--quiet'];
    for (const [members, args] of [['2 Node workers', ['--procs', '2']], ['Node worker + tab', ['--procs', '1', '--browser-workers', '1']]] as const) {
      const metrics = join(dir, `round-${rounds.length}.jsonl`);
      if ((args as readonly string[]).includes('--browser-workers')) await withTabs(browsers.get('gles-lavapipe')!, 'gles-lavapipe', [...args, ...every], metrics);
      else {
        const r = await runTrain([...args, ...every, '--metrics', metrics]);
        if (r.code !== 0) throw new Error(r.stderr);
      }
      const summary = readSummary(metrics);
      rounds.push({ members, rounds: summary.parameterRounds, exchangeMsPerRound: (summary.exchangeSeconds / summary.parameterRounds) * 1000, wallSeconds: summary.wallSeconds });
      console.log(`${members.padEnd(18)} ${summary.parameterRounds} rounds of ${(summary.bytesPerRound / 1e6).toFixed(2)} MB: exchange ${rounds.at(-1)!.exchangeMsPerRound.toFixed(2)} ms per round per worker`);
    }
  } finally {
    for (const b of browsers.values()) await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const report = { benchmark: 'browser-train', date: new Date().toISOString(), machine, command: `node dist/bench/browser-train.js ${process.argv.slice(2).join(' ')}`.trim(), steps, throughput, rounds };
  mkdirSync(flags.out, { recursive: true });
  writeFileSync(join(flags.out, 'browser-train.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(flags.out, 'browser-train.md'), markdown(report, machine));
  console.log(`wrote ${join(flags.out, 'browser-train.json')} and browser-train.md`);
}

function markdown(report: { date: string; command: string; steps: number; throughput: Throughput[]; rounds: RoundCost[] }, machine: MachineInfo): string {
  const nodeAt = (b: number) => report.throughput.find((t) => t.batchSize === b && t.worker === 'Node worker')!.samplesPerSecond;
  return `MNIST MLP 784-256-10, one worker alone, ${report.steps} steps; median samples/s of the logged windows after the first two.\n` +
    `${describeMachine(machine)}; \`${report.command}\`, ${report.date}\n\n` +
    markdownTable(['batch', 'worker', 'adapter', 'samples/s', '÷ Node worker'], report.throughput.map((t) => [
      String(t.batchSize), t.worker, t.adapter, String(Math.round(t.samplesPerSecond)), `${(t.samplesPerSecond / nodeAt(t.batchSize)).toFixed(2)}×`,
    ])) + '\n\nAveraging every step (batch 64), per worker:\n\n' +
    markdownTable(['members', 'rounds', 'exchange per round'], report.rounds.map((r) => [r.members, String(r.rounds), `${r.exchangeMsPerRound.toFixed(2)} ms`])) + '\n';
}

runMain(main);
