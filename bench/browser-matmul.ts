// npm run bench:browser — is a browser tab as fast a worker as a Node process? Matmul GFLOP/s
// (Y = X·Wᵀ, the fast kernel) in Node through Dawn on lavapipe, and in headless Chromium on each
// adapter it offers here: GL ES on lavapipe (compatibility mode) and SwiftShader. Writes
// browser-matmul.json and .md under --out.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatAdapter, openGpu } from '../src/gpu/device.js';
import { BROWSER_ADAPTERS, launchChromium, type BrowserAdapter } from '../test/helpers/chromium.js';
import { serveStatic } from '../test/helpers/static-server.js';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { measureMatmul, type MatmulMeasurement } from './lib/matmul-gflops.js';
import { describeMachine, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';
import type { PageMatmulResult } from './lib/browser-matmul-page.js';

const PAGE_ROOT = fileURLToPath(new URL('../browser/', import.meta.url));
const WHERE = ['node', 'gles-lavapipe', 'swiftshader'] as const satisfies readonly ('node' | BrowserAdapter)[];

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: '256³ only, 3 repetitions: the smoke test' },
  { flag: '--json', kind: 'boolean', help: 'print only the JSON report on stdout' },
  { flag: '--out', kind: 'value', help: 'directory for browser-matmul.json and .md (default bench/results)' },
  { flag: '--only', kind: 'value', help: `comma-separated subset of ${WHERE.join(', ')} (default all)` },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];

const flagSchema = z.object({
  quick: z.boolean().default(false),
  json: z.boolean().default(false),
  out: z.string().min(1).default('bench/results'),
  only: z.string().default(WHERE.join(','))
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(WHERE, { errorMap: () => ({ message: `each of --only must be one of ${WHERE.join(', ')}` }) })).min(1)),
  help: z.boolean().default(false),
});

export interface Run {
  /** 'node' (Dawn in this process) or the Chromium adapter. */
  where: (typeof WHERE)[number];
  adapter: string;
  results: MatmulMeasurement[];
}

export interface Report {
  benchmark: 'browser-matmul';
  date: string;
  machine: MachineInfo;
  command: string;
  sizes: number[];
  reps: number;
  runs: Run[];
}

async function inChromium(adapter: BrowserAdapter, sizes: number[], reps: number): Promise<Run> {
  const server = await serveStatic(PAGE_ROOT);
  const browser = await launchChromium(adapter);
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}harness.html`);
    const run = page.evaluate(async ([featureLevel, sizes, reps]) => {
      const url = new URL('bench-matmul.js', (globalThis as unknown as { location: { href: string } }).location.href).href;
      const { runMatmul } = await import(url) as typeof import('./lib/browser-matmul-page.js');
      return runMatmul(featureLevel, sizes, reps);
    }, [BROWSER_ADAPTERS[adapter].featureLevel, sizes, reps] as const);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`matmul in Chromium (${adapter}) took longer than 10 minutes`)), 600_000);
    });
    const result: PageMatmulResult = await Promise.race([run, timeout]).finally(() => clearTimeout(timer));
    if (!BROWSER_ADAPTERS[adapter].expect.test(result.adapter)) {
      throw new Error(`Chromium gave "${result.adapter}", not the ${adapter} adapter asked for`);
    }
    return { where: adapter, ...result };
  } finally {
    await browser.close();
    await server.close();
  }
}

async function inNode(sizes: number[], reps: number): Promise<Run> {
  const ctx = await openGpu();
  try {
    const results: MatmulMeasurement[] = [];
    for (const size of sizes) results.push(await measureMatmul(ctx, size, reps));
    return { where: 'node', adapter: formatAdapter(ctx.info), results };
  } finally {
    ctx.close();
  }
}

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/browser-matmul.js', 'Matmul GFLOP/s in Node (Dawn) and in headless Chromium on each adapter.', FLAG_SPECS));
    return;
  }
  const say = flags.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);
  const machine = machineInfo();
  const sizes = flags.quick ? [256] : [256, 512, 1024];
  const reps = flags.quick ? 3 : 5;
  say(`machine: ${describeMachine(machine)}`);
  say(`Y = X·Wᵀ, square sizes ${sizes.join(', ')}, median of ${reps}; GFLOP/s (one run after another, never at the same time)`);
  say(`${'where'.padEnd(15)} ${sizes.map((s) => `${s}³`.padStart(9)).join(' ')}  adapter`);
  const runs: Run[] = [];
  for (const where of flags.only) {
    const run = where === 'node' ? await inNode(sizes, reps) : await inChromium(where, sizes, reps);
    runs.push(run);
    say(`${where.padEnd(15)} ${run.results.map((r) => r.gflops.toFixed(2).padStart(9)).join(' ')}  ${run.adapter}`);
  }
  const report: Report = {
    benchmark: 'browser-matmul', date: new Date().toISOString(), machine,
    command: `node dist/bench/browser-matmul.js ${process.argv.slice(2).join(' ')}`.trim(), sizes, reps, runs,
  };
  const outDir = resolve(flags.out);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'browser-matmul.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(outDir, 'browser-matmul.md'), markdown(report));
  if (flags.json) console.log(JSON.stringify(report));
  say(`wrote ${join(outDir, 'browser-matmul.json')} and browser-matmul.md`);
}

function markdown(r: Report): string {
  return [
    '# Matmul in Node and in headless Chromium',
    '',
    `Written by \`${r.command}\` on ${r.date.slice(0, 10)}. Machine: ${describeMachine(r.machine)} (load average at the start).`,
    `Y = X·Wᵀ with the fast kernel, GFLOP/s, median of ${r.reps}; each run alone on the machine.`,
    '',
    markdownTable(['where', ...r.sizes.map((s) => `${s}³`), 'adapter'],
      r.runs.map((run) => [run.where, ...run.results.map((x) => x.gflops.toFixed(2)), run.adapter])),
    '',
  ].join('\n');
}

runMain(main);
