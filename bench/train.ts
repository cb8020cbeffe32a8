// npm run bench:train — single-process training throughput of the MNIST MLP (784-256-10, SGD) at
// several batch sizes, and the share of wall time the CPU spent blocked on the GPU, next to PyTorch
// on the CPU configured properly (OpenBLAS on the best core the CPU supports, threads set
// explicitly: bench/lib/pytorch-anchor.ts), with one thread and with the best thread setting.
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { parseTrainArgs } from '../src/cli/config.js';
import { trainWorker } from '../src/train/train-worker.js';
import { readFlags, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, machineInfo } from './lib/report.js';
import { benchScript, runAnchorScript, setUpPytorchAnchor, threadSettings, trapAnchors, type PytorchAnchor, type ThreadSetting } from './lib/pytorch-anchor.js';
import { nodePlatform } from '../src/train/node-platform.js';

const PYTORCH_SCRIPT = benchScript('pytorch_mlp.py');
const PytorchResult = z.object({
  torchThreads: z.number(),
  blas: z.object({ core: z.string().nullable(), blasThreads: z.number().nullable() }),
  results: z.array(z.object({ batchSize: z.number(), samplesPerSecond: z.number() })).length(1),
});

interface PytorchFigure extends ThreadSetting {
  samplesPerSecond: number;
}

/** PyTorch's samples/s for one batch size and thread setting, measured now (right after ours, so both see the same machine). */
function pytorchSamplesPerSecond(anchor: PytorchAnchor, batchSize: number, samples: number, threads: ThreadSetting): PytorchFigure {
  const out = PytorchResult.parse(runAnchorScript(anchor, PYTORCH_SCRIPT, [String(batchSize), String(samples)], threads));
  // Read back from the process, not assumed: the settings must have taken.
  if (out.torchThreads !== threads.torch || (out.blas.blasThreads !== null && out.blas.blasThreads !== threads.blas)) {
    throw new Error(`PyTorch ran with ${out.torchThreads} torch and ${out.blas.blasThreads} OpenBLAS threads, asked for ${threads.torch} and ${threads.blas}`);
  }
  return { ...threads, samplesPerSecond: out.results[0]!.samplesPerSecond };
}

const FLAG_SPECS: FlagSpec[] = [
  { flag: '--json', kind: 'boolean', help: 'print only a JSON array of records' },
  // The records also go to FILE, so one run gives both the table and the data.
  { flag: '--save-json', kind: 'value', help: 'also write that JSON array to FILE' },
  { flag: '--quick', kind: 'boolean', help: 'a few seconds (smoke test; PyTorch with one thread only)' },
  { flag: '--traps', kind: 'boolean', help: 'also PyTorch as nobody configured it: the reference BLAS of a fresh machine, OpenBLAS on its Prescott fallback (one thread; not anchors)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];
const flagSchema = z.object({
  json: z.boolean().default(false), saveJson: z.string().min(1).optional(), quick: z.boolean().default(false),
  traps: z.boolean().default(false), help: z.boolean().default(false),
});
const HELP = usage('node dist/bench/train.js', 'Single-process training throughput of the MNIST MLP next to PyTorch on the CPU, configured properly.', FLAG_SPECS);
let flags: z.infer<typeof flagSchema>;
try {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  flags = parsed.data;
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}
const saveJson = flags.saveJson;

const batchSizes = flags.quick ? [32] : [32, 64, 128, 512];
const samplesPerRun = flags.quick ? 2_000 : 40_000;
const setUp = setUpPytorchAnchor();
const anchor = 'anchor' in setUp ? setUp.anchor : undefined;
const settings = flags.quick ? threadSettings(1) : threadSettings();
const traps = anchor && flags.traps ? trapAnchors(anchor) : { anchors: [], notes: [] };
const ratio = (ours: number, theirs: number | undefined) => (theirs === undefined ? '-' : `${(ours / theirs).toFixed(2)}×`);
const records = [];
for (const batchSize of batchSizes) {
  const steps = Math.max(10, Math.round(samplesPerRun / batchSize));
  const config = parseTrainArgs(['--procs', '1', '--batch-size', String(batchSize), '--max-steps', String(steps), '--log-every', String(steps), '--quiet']);
  // A short warm-up run compiles the pipelines (and fills Mesa's shader cache) outside the timing.
  await trainWorker({ ...config, maxSteps: 2 }, { platform: nodePlatform, onLog: () => {} });
  const start = performance.now();
  const s = await trainWorker(config, { platform: nodePlatform, onLog: () => {} });
  const trainSeconds = (performance.now() - start) / 1000;
  const pytorch = anchor ? settings.map((t) => pytorchSamplesPerSecond(anchor, batchSize, samplesPerRun, t)) : [];
  const oneThread = pytorch[0];
  const trapFigures = traps.anchors.map((a) => ({ label: a.label, sgemmGflops1024: a.sgemmGflops1024, samplesPerSecond: pytorchSamplesPerSecond(a, batchSize, samplesPerRun, { torch: 1, blas: 1 }).samplesPerSecond }));
  const best = pytorch.reduce<PytorchFigure | undefined>((a, b) => (a && a.samplesPerSecond >= b.samplesPerSecond ? a : b), undefined);
  const record = {
    benchmark: 'train', adapter: s.adapter, batchSize, steps, samples: s.samples,
    samplesPerSecond: s.samples / trainSeconds, gpuWaitShare: s.gpuWaitSeconds / trainSeconds,
    jsShare: 1 - s.gpuWaitSeconds / trainSeconds, seconds: trainSeconds, testAccuracy: s.test?.accuracy,
    /** One torch thread and one OpenBLAS thread. */
    pytorchSamplesPerSecond: oneThread?.samplesPerSecond ?? null,
    /** The fastest of the thread settings tried (threadSettings()). */
    pytorchBest: best ?? null,
    pytorchAll: pytorch,
    /** --traps: PyTorch as nobody configured it, labelled by what it ran on. */
    pytorchTraps: trapFigures,
    pytorch: anchor ? {
      label: anchor.label, proper: anchor.proper, torch: anchor.torch, blas: anchor.blas, detectedCore: anchor.detectedCore, bestCore: anchor.bestCore, env: anchor.env,
      sgemmGflops1024: anchor.sgemmGflops1024,
    } : null,
    trapNotes: traps.notes,
  };
  records.push(record);
  if (!flags.json) {
    if (records.length === 1) {
      console.log(`adapter: ${s.adapter}\nmachine: ${describeMachine(machineInfo())}\nMNIST ${s.model}, SGD, one process`);
      if (!anchor) console.log(`PyTorch: not measured, ${'missing' in setUp ? setUp.missing : ''}`);
      else {
        console.log(`anchor: ${anchor.label}: ${anchor.blas.library ?? 'unknown library'}; float32 matmul 1024³ one thread ${anchor.sgemmGflops1024.toFixed(1)} GFLOP/s`);
        for (const note of anchor.notes) console.log(`  ${note}`);
        console.log(`  environment: ${Object.entries(anchor.env).map(([k, v]) => (v === undefined ? `${k} unset` : `${k}=${v}`)).join(', ')}; threads set per run (torch × OpenBLAS)`);
      }
      for (const [i, trap] of traps.anchors.entries()) console.log(`trap ${i + 1}: ${trap.label}; float32 matmul 1024³ ${trap.sgemmGflops1024.toFixed(1)} GFLOP/s`);
      for (const note of traps.notes) console.log(`  ${note}`);
      console.log('batch  samples/s  PyTorch 1 thread  ours ÷ it  PyTorch best (torch×BLAS)  ours ÷ it  CPU blocked on GPU  JS and other');
    }
    const bestText = best ? `${best.samplesPerSecond.toFixed(0)} (${best.torch}×${best.blas})` : '-';
    console.log(
      `${String(batchSize).padStart(5)}  ${record.samplesPerSecond.toFixed(0).padStart(9)}  ${(oneThread?.samplesPerSecond.toFixed(0) ?? '-').padStart(16)}  ` +
        `${ratio(record.samplesPerSecond, oneThread?.samplesPerSecond).padStart(9)}  ${bestText.padStart(25)}  ${ratio(record.samplesPerSecond, best?.samplesPerSecond).padStart(9)}  ` +
        `${(record.gpuWaitShare * 100).toFixed(0).padStart(17)}%  ${(record.jsShare * 100).toFixed(0).padStart(11)}%` +
        trapFigures.map((t, i) => `  trap ${i + 1}: ${t.samplesPerSecond.toFixed(0)}`).join(''),
    );
  }
}
if (flags.json) console.log(JSON.stringify(records, null, 2));
if (saveJson) writeFileSync(saveJson, `${JSON.stringify(records, null, 2)}\n`);
process.exit(0);
