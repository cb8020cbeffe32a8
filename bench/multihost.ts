// npm run bench:multihost — what does Local SGD buy across real machines, and does the one-machine
// link simulator predict it? 2 machines × 2 workers, each machine a network namespace whose link
// the kernel limits (100 Mbit/s, 1 Gbit/s), one train.js launcher per namespace over real TCP:
// sync against Local SGD K=8 and K=32 with --cross-node-every 4; each next to the same two launchers
// on one machine over loopback with the link simulator at the same bandwidth on the link between them. Writes multihost.json,
// multihost.md and the SVG figures. Needs root (network namespaces); removes them however it ends.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseBandwidth } from '../src/comm/link.js';
import { commaSubset, readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, machineInfo } from './lib/report.js';
import { down, up } from './lib/multihost/netns.js';
import { formatGoal, goals, markdown, progressLine, writeFigure, type Report } from './lib/multihost/report.js';
import { FULL, MODES, QUICK, modeArgs, oneMachineRun, realRun, simRun, toRecord, type RunRecord, type Setup } from './lib/multihost/runs.js';

export type { Report } from './lib/multihost/report.js';
export type { RunRecord } from './lib/multihost/runs.js';

// This file is bundled to dist/bench/multihost.js, so train.js is one folder up.
const TRAIN_JS = fileURLToPath(new URL('../train.js', import.meta.url));
const NODES = 2;
const NPROC_PER_NODE = 2;
const LINKS = ['100mbit', '1gbit'];
const FULL_MODES = ['sync', 'k8', 'k32-m4'];
const QUICK_MODES = ['sync', 'k4-m2'];

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: 'a tiny configuration (synthetic data, 16 steps, sync and K=4 with --cross-node-every 2, one link): the smoke test' },
  { flag: '--links', kind: 'value', help: `comma-separated subset of ${LINKS.join(',')} (default both; --quick: 100mbit)` },
  { flag: '--modes', kind: 'value', help: `comma-separated subset of ${MODES.map((m) => m.name).join(',')} (default ${FULL_MODES.join(',')}; --quick: ${QUICK_MODES.join(',')})` },
  { flag: '--target', kind: 'value', help: 'test accuracy whose first evaluation at or over it is timed (default 0.9; --quick: 0.5)' },
  { flag: '--seed', kind: 'value', help: 'seed of weights and data order, the same for every run (default 0)' },
  { flag: '--out', kind: 'value', help: 'directory for multihost.json, multihost.md and the SVG figures (default bench/results)' },
  { flag: '--json', kind: 'boolean', help: 'print only the JSON report on stdout (progress goes to stderr)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];

const flagSchema = z.object({
  quick: z.boolean().default(false),
  links: commaSubset(LINKS, '--links'),
  modes: commaSubset(MODES.map((m) => m.name), '--modes'),
  target: z.coerce.number({ invalid_type_error: '--target takes a fraction, e.g. 0.9' }).gt(0, '--target must be a fraction above 0, e.g. 0.9').max(1, '--target must be at most 1 (a fraction, e.g. 0.9)').optional(),
  seed: z.coerce.number().int().min(0).default(0),
  out: z.string().min(1).default('bench/results'),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
});

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/multihost.js', 'Local SGD against sync across 2 machines (network namespaces) over real rate-limited links, next to the one-machine link simulator. Needs root.', FLAG_SPECS));
    return;
  }
  const say = flags.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);
  const workload = { ...(flags.quick ? QUICK : FULL), ...(flags.target !== undefined ? { target: flags.target } : {}) };
  const links = flags.links ?? (flags.quick ? ['100mbit'] : LINKS);
  const modes = (flags.modes ?? (flags.quick ? QUICK_MODES : FULL_MODES)).map((name) => MODES.find((m) => m.name === name)!);
  const procs = NODES * NPROC_PER_NODE;
  const outDir = resolve(flags.out);
  mkdirSync(outDir, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), 'bench-multihost-'));
  const tokenFile = join(scratch, 'join-token');
  writeFileSync(tokenFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const started = performance.now();
  const machine = machineInfo();
  const total = links.length * modes.length * 2;
  say(`machine: ${describeMachine(machine)}`);
  say(`${total} runs of dist/train.js, ${NODES} machines × ${NPROC_PER_NODE} workers over real links, and on loopback with the link simulator, ` +
    `${workload.title}, ${workload.steps} steps, evaluated every ${workload.evalEvery}, target ${workload.target}, seed ${flags.seed}`);

  const runs: RunRecord[] = [];
  const base = [...workload.args, '--seed', String(flags.seed), '--eval-every', String(workload.evalEvery)];
  try {
    // One short untimed run first, so that Mesa's shader cache is warm for every measured run.
    const warmup = base.map((a, i, args) => (args[i - 1] === '--max-steps' ? '2' : a)); // train.js refuses a flag twice
    await oneMachineRun(TRAIN_JS, warmup, procs, join(scratch, 'warmup.jsonl'));
    for (const link of links) {
      const prefix = `mh${process.pid}${link === '1gbit' ? 'g' : 'm'}`;
      const cluster = up(NODES, link, prefix);
      say(`link ${link}: namespaces ${cluster.namespaces.map((n) => `${n.name} ${n.address}`).join(', ')}, each link limited to ${link} both ways`);
      try {
        for (const mode of modes) {
          // Real then simulated, back to back, so that a busy spell of this shared machine hits both alike.
          for (const setup of ['real', 'sim'] as Setup[]) {
            const args = [...base, ...modeArgs(mode)];
            const metrics = [0, 1].map((n) => join(scratch, `${link}-${mode.name}-${setup}-${n}.jsonl`));
            const nodes = setup === 'real'
              ? await realRun(args, NPROC_PER_NODE, { trainJs: TRAIN_JS, cluster, tokenFile, metrics, port: 29500 })
              : await simRun(args, NODES, NPROC_PER_NODE, link, { trainJs: TRAIN_JS, tokenFile, metrics, port: 29600 + runs.length });
            const record = toRecord({ link, linkBitsPerSecond: parseBandwidth(link), mode, setup, args, workload, nodes, procs });
            runs.push(record);
            if (runs.length === 1) say(`adapter: ${record.adapter}`);
            say(progressLine(runs.length, total, record, workload.target));
          }
        }
      } finally {
        down(prefix);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const modeNames = modes.map((m) => m.name);
  const report: Report = {
    benchmark: 'multihost', date: new Date().toISOString(), adapter: runs[0]!.adapter, machine,
    loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))),
    command: `node dist/bench/multihost.js ${process.argv.slice(2).join(' ')}`.trim(),
    settings: { quick: flags.quick, seed: flags.seed, nodes: NODES, nprocPerNode: NPROC_PER_NODE, workload, links, modes: modeNames },
    runs, goals: goals(runs, links, modeNames, workload.target), wallSeconds: (performance.now() - started) / 1000,
  };
  for (const g of report.goals) say(formatGoal(g));
  writeFileSync(join(outDir, 'multihost.json'), JSON.stringify(report, null, 1) + '\n');
  const figures = writeFigure(report, outDir);
  writeFileSync(join(outDir, 'multihost.md'), markdown(report, figures));
  if (flags.json) console.log(JSON.stringify(report));
  say(`load average at the end ${report.loadAverageAtEnd.join(' ')}; wrote ${join(outDir, 'multihost.json')}, multihost.md and ${figures.length} SVG figure(s) in ${report.wallSeconds.toFixed(0)} s`);
}

runMain(main);
