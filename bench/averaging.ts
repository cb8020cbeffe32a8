// npm run bench:averaging — how does one averaging round's time grow with the parameter count, and
// how close does it come to what this machine can copy? Launches 4 fake workers (no GPU) through
// the real coordinator and transport, times allReduceMean('params') at 1M, 10M and 50M floats, and
// measures memcpy bandwidth (Buffer.copy, Float32Array.set on 200 MB) in the same run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { launch } from '../src/comm/launch.js';
import { AVERAGING_ENV, AveragingWorkerSummary, type AveragingSettings } from './lib/averaging-settings.js';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, formatBytes, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';
import { lineChart } from './lib/plot.js';

const WORKER_JS = fileURLToPath(new URL('./averaging-worker.js', import.meta.url));

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: 'one small size and a 20 MB copy: the smoke test' },
  { flag: '--json', kind: 'boolean', help: 'print only the JSON report on stdout' },
  { flag: '--out', kind: 'value', help: 'directory for averaging.json, averaging.md and averaging.svg (default bench/results)' },
  { flag: '--procs', kind: 'value', help: 'workers (default 4)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];

const flagSchema = z.object({
  quick: z.boolean().default(false),
  json: z.boolean().default(false),
  out: z.string().min(1).default('bench/results'),
  procs: z.coerce.number().int().min(2).max(64).default(4),
  help: z.boolean().default(false),
});

export interface CopyRecord { method: 'Buffer.copy' | 'Float32Array.set'; bytes: number; bestGBps: number; medianGBps: number }

export interface SizeRecord {
  floats: number;
  procs: number;
  rounds: number;
  /** Median over rounds of the slowest worker's round time (a round ends for all when the last gets its mean). */
  roundSeconds: number;
  /** Median over rounds and workers. */
  medianWorkerRoundSeconds: number;
  /** Of the round, on the worker's clock (medians): the coordinator's mean, and waiting for slower ranks. */
  reduceSeconds: number | null;
  waitForPeersSeconds: number | null;
  /** Every worker's payload up plus the mean back down: 2 · procs · floats · 4. */
  bytesMovedPerRound: number;
  effectiveGBps: number;
  /** effectiveGBps over the best memcpy GB/s measured in this run. */
  ofMemcpy: number;
  wallSeconds: number;
}

export interface Report {
  benchmark: 'averaging';
  date: string;
  machine: MachineInfo;
  command: string;
  copy: CopyRecord[];
  sizes: SizeRecord[];
}

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/averaging.js', 'Time of one parameter-averaging round against memcpy bandwidth (no GPU).', FLAG_SPECS));
    return;
  }
  const say = flags.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);
  const machine = machineInfo();
  say(`machine: ${describeMachine(machine)}`);
  say(`no adapter: the workers are fake (dist/bench/averaging-worker.js), only the coordinator and transport run`);

  const copyBytes = flags.quick ? 20e6 : 200e6;
  const copy = [measureCopy('Buffer.copy', copyBytes, flags.quick ? 3 : 7), measureCopy('Float32Array.set', copyBytes, flags.quick ? 3 : 7)];
  for (const c of copy) say(`memcpy ${c.method.padEnd(16)} ${formatBytes(c.bytes)}: best ${c.bestGBps.toFixed(2)} GB/s, median ${c.medianGBps.toFixed(2)} GB/s`);
  const memcpy = Math.max(...copy.map((c) => c.bestGBps));

  const plan: AveragingSettings[] = flags.quick
    ? [{ floats: 100_000, rounds: 3 }]
    : [{ floats: 1_000_000, rounds: 7 }, { floats: 10_000_000, rounds: 5 }, { floats: 50_000_000, rounds: 3 }];
  say(`${flags.procs} workers; bytes moved per round = 2 · workers · floats · 4 (every payload up, the mean back)`);
  say('floats        round (slowest)  worker median  reduce   wait     moved/round  effective   of memcpy');
  const sizes: SizeRecord[] = [];
  for (const settings of plan) {
    const result = await launch({
      procs: flags.procs, workerScript: WORKER_JS, workerArgs: [], env: { [AVERAGING_ENV]: JSON.stringify(settings) },
      timeoutMs: 120_000, stdout: 'none',
    });
    const summaries = result.summaries.map((s) => AveragingWorkerSummary.parse(s));
    const slowest = Array.from({ length: settings.rounds }, (_, i) => Math.max(...summaries.map((s) => s.rounds[i]!.seconds)));
    const all = summaries.flatMap((s) => s.rounds);
    const optionalMedian = (xs: Array<number | undefined>) => (xs.every((x) => x !== undefined) ? median(xs as number[]) : null);
    const roundSeconds = median(slowest);
    const bytesMovedPerRound = 2 * flags.procs * settings.floats * 4;
    const effectiveGBps = bytesMovedPerRound / roundSeconds / 1e9;
    const record: SizeRecord = {
      floats: settings.floats, procs: flags.procs, rounds: settings.rounds, roundSeconds,
      medianWorkerRoundSeconds: median(all.map((r) => r.seconds)),
      reduceSeconds: optionalMedian(all.map((r) => r.reduceSeconds)),
      waitForPeersSeconds: optionalMedian(all.map((r) => r.waitForPeersSeconds)),
      bytesMovedPerRound, effectiveGBps, ofMemcpy: effectiveGBps / memcpy, wallSeconds: result.wallSeconds,
    };
    sizes.push(record);
    const ms = (s: number | null) => (s === null ? '–' : `${(s * 1000).toFixed(1)} ms`);
    say(`${settings.floats.toLocaleString('en-US').padEnd(13)} ${ms(record.roundSeconds).padStart(15)}  ${ms(record.medianWorkerRoundSeconds).padStart(13)}  ` +
      `${ms(record.reduceSeconds).padStart(7)}  ${ms(record.waitForPeersSeconds).padStart(7)}  ${formatBytes(bytesMovedPerRound).padStart(11)}  ` +
      `${effectiveGBps.toFixed(2).padStart(6)} GB/s  ${(record.ofMemcpy * 100).toFixed(1).padStart(8)}%`);
  }

  const report: Report = {
    benchmark: 'averaging', date: new Date().toISOString(), machine,
    command: `node dist/bench/averaging.js ${process.argv.slice(2).join(' ')}`.trim(), copy, sizes,
  };
  const outDir = resolve(flags.out);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'averaging.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(outDir, 'averaging.md'), markdown(report));
  writeFileSync(join(outDir, 'averaging.svg'), lineChart({
    title: `One averaging round, ${flags.procs} workers, local transport`, xLabel: 'parameters, float32', yLabel: 'seconds per round', logX: true, logY: true, markers: true,
    series: [
      { name: 'measured', points: sizes.map((s) => [s.floats, s.roundSeconds]) },
      { name: 'at memcpy speed', points: sizes.map((s) => [s.floats, s.bytesMovedPerRound / (memcpy * 1e9)]) },
    ],
  }));
  if (flags.json) console.log(JSON.stringify(report));
  say(`wrote ${join(outDir, 'averaging.json')}, averaging.md and averaging.svg`);
}

/** Copies `bytes` between two buffers `reps` times; GB/s counts bytes copied (each is read once and written once). */
function measureCopy(method: CopyRecord['method'], bytes: number, reps: number): CopyRecord {
  const src = Buffer.alloc(bytes, 7);
  const dst = Buffer.alloc(bytes);
  const srcF = new Float32Array(src.buffer, src.byteOffset, bytes / 4);
  const dstF = new Float32Array(dst.buffer, dst.byteOffset, bytes / 4);
  const rates: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t = performance.now();
    if (method === 'Buffer.copy') src.copy(dst);
    else dstF.set(srcF);
    const seconds = (performance.now() - t) / 1000;
    if (i > 0) rates.push(bytes / seconds / 1e9); // the first pass also faults the pages in
  }
  if (dst[bytes - 1] !== 7) throw new Error(`${method} did not copy`);
  return { method, bytes, bestGBps: Math.max(...rates), medianGBps: median(rates) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function markdown(r: Report): string {
  const memcpy = Math.max(...r.copy.map((c) => c.bestGBps));
  const ms = (s: number | null) => (s === null ? '–' : (s * 1000).toFixed(1));
  return [
    '# One averaging round against memcpy bandwidth',
    '',
    `Written by \`${r.command}\` on ${r.date.slice(0, 10)}. Machine: ${describeMachine(r.machine)} (load average at the start).`,
    `${r.sizes[0]?.procs ?? 0} fake workers (no GPU) through launch(), the real coordinator and Unix-socket transport.`,
    '',
    markdownTable(['copy', 'bytes', 'best GB/s', 'median GB/s'], r.copy.map((c) => [c.method, formatBytes(c.bytes), c.bestGBps.toFixed(2), c.medianGBps.toFixed(2)])),
    '',
    markdownTable(
      ['floats', 'round ms (slowest worker)', 'worker median ms', 'coordinator mean ms', 'wait for peers ms', 'bytes moved/round', 'effective GB/s', `of memcpy (${memcpy.toFixed(1)} GB/s)`],
      r.sizes.map((s) => [s.floats.toLocaleString('en-US'), ms(s.roundSeconds), ms(s.medianWorkerRoundSeconds), ms(s.reduceSeconds), ms(s.waitForPeersSeconds),
        formatBytes(s.bytesMovedPerRound), s.effectiveGBps.toFixed(2), `${(s.ofMemcpy * 100).toFixed(1)}%`]),
    ),
    '',
    'Bytes moved per round = 2 · workers · floats · 4: every worker\'s parameters up to the coordinator and the',
    'mean back. Round times are medians over rounds of the slowest worker (the round ends for everyone when',
    'the last worker holds the mean), after one warm-up round. Memcpy GB/s counts bytes copied.',
    '',
    '![round time against parameter count](averaging.svg)',
    '',
  ].join('\n');
}

runMain(main);
