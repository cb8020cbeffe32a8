// npm run bench:train — single-process training throughput of the MNIST MLP (784-256-10, SGD) at
// several batch sizes, and the share of wall time the CPU spent blocked on the GPU.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseTrainArgs } from '../src/cli/config.js';
import { trainWorker } from '../src/train/train-worker.js';

/** PyTorch 1.13 (Debian python3-torch, CPU, one thread), same MLP and optimizer, batch 64, this machine. */
const PYTORCH_CPU_SAMPLES_PER_SECOND_AT_64 = 5200;
const PYTORCH_SCRIPT = fileURLToPath(new URL('../../bench/pytorch_mlp.py', import.meta.url));

/**
 * PyTorch's samples/s for one batch size, measured now (right after ours, so both see the same
 * machine), or undefined when python3 with torch is not installed.
 */
function pytorchSamplesPerSecond(batchSize: number, samples: number): number | undefined {
  // Debian's python3-torch lives under /usr/bin/python3, which a pyenv or venv python3 on PATH hides.
  const pythons = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of pythons) {
    const run = spawnSync(python, [PYTORCH_SCRIPT, String(batchSize), String(samples)], { encoding: 'utf8' });
    if (run.status === 0) return parsePytorchOutput(run.stdout);
  }
  return undefined;
}

function parsePytorchOutput(stdout: string): number | undefined {
  const parsed = z.object({ results: z.array(z.object({ batchSize: z.number(), samplesPerSecond: z.number() })).length(1) })
    .safeParse(JSON.parse(stdout));
  return parsed.success ? parsed.data.results[0]!.samplesPerSecond : undefined;
}

const flags = z.object({ json: z.boolean(), quick: z.boolean(), help: z.boolean() }).parse({
  json: process.argv.includes('--json'), quick: process.argv.includes('--quick'), help: process.argv.includes('--help'),
});
const unknown = process.argv.slice(2).filter((a) => !['--json', '--quick', '--help'].includes(a));
if (flags.help || unknown.length) {
  console.log('Usage: node dist/bench/train.js [--json] [--quick]\n  --json   print only a JSON array of records\n  --quick  a few seconds (smoke test)');
  process.exit(unknown.length ? 2 : 0);
}

const batchSizes = flags.quick ? [32] : [32, 64, 128, 512];
const samplesPerRun = flags.quick ? 2_000 : 40_000;
const records = [];
for (const batchSize of batchSizes) {
  const steps = Math.max(10, Math.round(samplesPerRun / batchSize));
  const config = parseTrainArgs(['--procs', '1', '--batch-size', String(batchSize), '--max-steps', String(steps), '--log-every', String(steps), '--quiet']);
  // A short warm-up run compiles the pipelines (and fills Mesa's shader cache) outside the timing.
  await trainWorker({ ...config, maxSteps: 2 }, { onLog: () => {} });
  const start = performance.now();
  const s = await trainWorker(config, { onLog: () => {} });
  const trainSeconds = (performance.now() - start) / 1000;
  const pytorch = pytorchSamplesPerSecond(batchSize, samplesPerRun);
  const record = {
    benchmark: 'train', adapter: s.adapter, batchSize, steps, samples: s.samples,
    samplesPerSecond: s.samples / trainSeconds, gpuWaitShare: s.gpuWaitSeconds / trainSeconds,
    jsShare: 1 - s.gpuWaitSeconds / trainSeconds, seconds: trainSeconds, testAccuracy: s.test?.accuracy,
    pytorchSamplesPerSecond: pytorch ?? null,
  };
  records.push(record);
  if (!flags.json) {
    if (records.length === 1) {
      console.log(`adapter: ${s.adapter}\nMNIST ${s.model}, SGD, one process`);
      console.log(pytorch === undefined
        ? `PyTorch: python3 with torch not found (apt install python3-torch measures it side by side); ` +
          `reference constant: PyTorch CPU one thread ≈ ${PYTORCH_CPU_SAMPLES_PER_SECOND_AT_64} samples/s at batch 64`
        : 'PyTorch: bench/pytorch_mlp.py, CPU, one thread, the same MLP and SGD, run right after each of ours');
      console.log('batch  samples/s  PyTorch samples/s  ours ÷ PyTorch  CPU blocked on GPU  JS and other');
    }
    const reference = pytorch ?? PYTORCH_CPU_SAMPLES_PER_SECOND_AT_64;
    const ratio = `${(record.samplesPerSecond / reference).toFixed(2)}×${pytorch === undefined ? ' (vs @64)' : ''}`;
    console.log(`${String(batchSize).padStart(5)}  ${record.samplesPerSecond.toFixed(0).padStart(9)}  ${(pytorch?.toFixed(0) ?? '-').padStart(17)}  ${ratio.padStart(14)}  ${(record.gpuWaitShare * 100).toFixed(0).padStart(17)}%  ${(record.jsShare * 100).toFixed(0).padStart(11)}%`);
  }
}
if (flags.json) console.log(JSON.stringify(records, null, 2));
process.exit(0);
