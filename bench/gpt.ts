// How fast does one worker train the baby GPT (nanoGPT's CPU recipe: 4 layers, 4 heads, 128 wide,
// block 64, vocab 256, batch 12 → 768 tokens a step), where does a step's time go, how does it
// compare with PyTorch on the same CPU, and what do 4 workers make of the machine together?
// Run: npm run bench:gpt [-- --quick] [-- --json]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatAdapter, openGpu } from '../src/gpu/device.js';
import { Gpt } from '../src/nn/gpt.js';
import { parseMetricsLines } from '../src/train/metrics.js';
import { median } from './lib/gpu-timing.js';
import { timeOnce } from './lib/cpu-time.js';
import { describeMachine, machineInfo } from './lib/report.js';
import { runAnchorScript, setUpPytorchAnchor, benchScript, type ThreadSetting } from './lib/pytorch-anchor.js';

const HELP = `Usage: node dist/bench/gpt.js [--quick] [--json] [--help]

  --quick  fewer repetitions and trainer steps (a smoke run, a few minutes on 2 cores)
  --json   print only the JSON report on stdout (also written to bench/results/gpt.json)
  --help   this text

1. The training step's GPU work in this process (forward, loss, backward; no optimizer): wall time,
   the shader threads' CPU time, and each kernel family's share, GFLOP/s or GB/s at the baby shapes.
2. Training tokens/s of the trainer itself (node dist/train.js --model gpt, AdamW, --procs 1), its
   first logged interval excluded as warm-up, the median of the rest.
3. PyTorch (bench/pytorch_gpt.py: the same model in float32, AdamW, clipping) with OpenBLAS on one
   and on two threads, configured and described by bench/lib/pytorch-anchor.ts; said plainly when
   missing. The ratio to one thread is the issue's yardstick.
4. The machine's total with 4 workers (--procs 4, Local SGD K=8): the sum of the workers' rates.`;

const Flags = z
  .array(z.enum(['--quick', '--json', '--help'], {
    errorMap: (_issue, ctx) => ({ message: `unknown flag "${String(ctx.data)}"; the flags are --quick, --json, --help` }),
  }))
  .transform((flags) => ({ quick: flags.includes('--quick'), json: flags.includes('--json'), help: flags.includes('--help') }));
type Flags = z.output<typeof Flags>;

const BABY = { nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, vocabSize: 256, batch: 12 };
const TOKENS_PER_STEP = BABY.batch * BABY.blockSize;

interface FamilyRecord {
  family: string;
  dispatches: number;
  /** Each dispatch timed alone, summed over the step's dispatches of the family. */
  ms: number;
  cpuMs: number | null;
  share: number;
  gflops?: number;
  gbps?: number;
}

/** Floating-point work (matrix products) or minimal memory traffic (the rest) of one dispatch, from its label. */
function workOf(label: string): { flops: number } | { bytes: number } {
  const { nEmbd: C, vocabSize: V, blockSize: T, nHead, batch: B } = BABY;
  const BT = B * T;
  const hs = C / nHead;
  const linear: Record<string, [number, number]> = {
    'attn.c_attn': [C, 3 * C], 'attn.c_proj': [C, C], 'mlp.c_fc': [C, 4 * C], 'mlp.c_proj': [4 * C, C], 'lm_head': [C, V],
  };
  for (const [name, [inputs, outputs]] of Object.entries(linear)) {
    if (label.includes(name) && / (forward|dW|dx)\b/.test(label)) return { flops: 2 * BT * inputs * outputs };
  }
  const heads = B * nHead;
  if (/attn( backward)?.* (scores|P·v|dv|dP|dq|dk)$/.test(label)) return { flops: 2 * heads * T * T * hs };
  if (/softmax/.test(label)) return { bytes: 4 * heads * T * T * (label.includes('backward') ? 3 : 2) };
  if (/attn( backward)?/.test(label)) return { flops: 2 * 2 * heads * hs * (T * (T + 1)) / 2 * (label.includes('backward') ? 2 : 1) };
  const f = 4; // bytes per float
  if (/gelu backward/.test(label)) return { bytes: 3 * f * BT * 4 * C };
  if (/gelu/.test(label)) return { bytes: 2 * f * BT * 4 * C };
  if (/residual/.test(label)) return { bytes: 3 * f * BT * C };
  if (/ db /.test(label)) {
    const out = Object.entries(linear).find(([name]) => label.includes(name))?.[1][1] ?? C;
    return { bytes: f * BT * out };
  }
  if (/backward.*dx/.test(label)) return { bytes: 4 * f * BT * C };
  if (/backward/.test(label) && /ln_|ln_f/.test(label)) return { bytes: 2 * f * BT * C };
  if (/ln_/.test(label)) return { bytes: 2 * f * BT * C };
  if (/cross-entropy/.test(label)) return { bytes: 2 * f * BT * V };
  if (/loss and accuracy/.test(label)) return { bytes: f * BT * V };
  return { bytes: 2 * f * BT * C }; // embedding lookups and their backward
}

/** "transformer.h.2.attn.c_attn dW first" → "attn.c_attn dW". */
function familyOf(label: string): string {
  return label.replace(/transformer\.h\.\d+\.?/, '').replace(/ (first|accumulate)$/, '').replace(/ (first|accumulate) /, ' ').trim();
}

async function gpuStep(flags: Flags, log: (line: string) => void) {
  const ctx = await openGpu();
  try {
    const adapter = formatAdapter(ctx.info);
    const model = new Gpt(ctx, BABY);
    model.setParameters(model.initialParameters(1));
    const graph = await model.graph(BABY.batch, 1);
    const tokens = Uint32Array.from({ length: TOKENS_PER_STEP }, (_, i) => (i * 7919) % BABY.vocabSize);
    graph.upload({ tokens, targets: Uint32Array.from(tokens, (t) => (t + 1) % BABY.vocabSize), size: BABY.batch });
    const step = graph.trainDispatches(true);
    await timeOnce(ctx, step, 1); // compile and warm up
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < (flags.quick ? 3 : 7); r++) {
      const t = await timeOnce(ctx, step, 2);
      wall.push(t.wallMs);
      if (t.cpuMs !== null) cpu.push(t.cpuMs);
    }
    const stepMs = median(wall);
    const families = new Map<string, { dispatches: number; ms: number; cpuMs: number | null; flops: number; bytes: number }>();
    for (const d of step) {
      await timeOnce(ctx, [d], 1);
      const w: number[] = [];
      const c: number[] = [];
      for (let r = 0; r < (flags.quick ? 2 : 3); r++) {
        const t = await timeOnce(ctx, [d], 10);
        w.push(t.wallMs);
        if (t.cpuMs !== null) c.push(t.cpuMs);
      }
      const name = familyOf(d.label);
      const f = families.get(name) ?? { dispatches: 0, ms: 0, cpuMs: c.length ? 0 : null, flops: 0, bytes: 0 };
      const work = workOf(d.label);
      f.dispatches += 1;
      f.ms += median(w);
      if (f.cpuMs !== null && c.length) f.cpuMs += median(c);
      if ('flops' in work) f.flops += work.flops;
      else f.bytes += work.bytes;
      families.set(name, f);
    }
    const total = [...families.values()].reduce((s, f) => s + f.ms, 0);
    const rows: FamilyRecord[] = [...families].map(([family, f]) => ({
      family, dispatches: f.dispatches, ms: f.ms, cpuMs: f.cpuMs, share: f.ms / total,
      ...(f.flops > 0 ? { gflops: f.flops / f.ms / 1e6 } : { gbps: f.bytes / f.ms / 1e6 }),
    })).sort((a, b) => b.ms - a.ms);
    const flops = rows.reduce((s, r) => s + (r.gflops ? r.gflops * r.ms * 1e6 : 0), 0);
    log(`adapter: ${adapter}`);
    log(`step (forward, loss, backward; ${step.length} dispatches in one submit): ${stepMs.toFixed(1)} ms wall (median of ${wall.length}), ` +
      `${cpu.length ? median(cpu).toFixed(1) : '?'} ms of shader-thread CPU; ${Math.round(TOKENS_PER_STEP / stepMs * 1000)} tokens/s without the optimizer; ` +
      `matrix products ${(flops / stepMs / 1e6).toFixed(2)} GFLOP/s over the step`);
    log('kernel families, each dispatch timed alone (shares of their sum):');
    log(`  ${'ms'.padStart(8)} ${'cpu ms'.padStart(8)} ${'share'.padStart(6)}  ${'rate'.padStart(14)}  family`);
    for (const r of rows) {
      const rate = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : `${r.gbps!.toFixed(2)} GB/s`;
      log(`  ${r.ms.toFixed(2).padStart(8)} ${(r.cpuMs ?? NaN).toFixed(2).padStart(8)} ${(100 * r.share).toFixed(1).padStart(5)}%  ${rate.padStart(14)}  ${r.family} ×${r.dispatches}`);
    }
    return { adapter, stepMs, stepCpuMs: cpu.length ? median(cpu) : null, dispatches: step.length, families: rows };
  } finally {
    ctx.close();
  }
}

/** The trainer on the Brown corpus; tokens/s per worker (median of the logged intervals after the first) and their sum. */
function trainer(procs: number, steps: number, logEvery: number) {
  const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
  const dir = mkdtempSync(join(tmpdir(), 'bench-gpt-'));
  const metrics = join(dir, 'metrics.jsonl');
  const args = [
    join(root, 'dist', 'train.js'), '--model', 'gpt', '--n-layer', String(BABY.nLayer), '--n-head', String(BABY.nHead),
    '--n-embd', String(BABY.nEmbd), '--block-size', String(BABY.blockSize), '--batch-size', String(BABY.batch),
    '--optimizer', 'adamw', '--lr', '1e-3', '--beta2', '0.99', '--weight-decay', '0.1', '--grad-clip', '1', '--procs', String(procs),
    '--max-steps', String(steps), '--log-every', String(logEvery), '--metrics', metrics, '--quiet',
  ];
  const command = `node ${args.map((a) => (a === metrics ? 'FILE' : a.replace(`${root}/`, ''))).join(' ')}`;
  try {
    const t0 = performance.now();
    const run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${command} failed (exit ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    const records = parseMetricsLines(readFileSync(metrics, 'utf8'));
    const perRank: number[] = [];
    for (let rank = 0; rank < procs; rank++) {
      const rates = records.flatMap((r) => (r.kind === 'train' && r.rank === rank ? [r.samplesPerSecond] : [])).slice(1);
      if (rates.length === 0) throw new Error(`${command}: rank ${rank} logged no interval after the first`);
      perRank.push(median(rates) * BABY.blockSize);
    }
    return { procs, steps, command, tokensPerSecondPerWorker: perRank, totalTokensPerSecond: perRank.reduce((s, x) => s + x, 0), wallSeconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pytorch(flags: Flags, log: (line: string) => void) {
  const setup = setUpPytorchAnchor();
  if ('missing' in setup) {
    log(`PyTorch: MISSING — ${setup.missing}; no PyTorch ratio in this run`);
    return { missing: setup.missing };
  }
  const { anchor } = setup;
  const runs = ([{ torch: 1, blas: 1 }, { torch: 2, blas: 2 }] satisfies ThreadSetting[]).map((threads) => {
    const out = z.object({
      torch: z.string(), torchThreads: z.number(), tokensPerSecond: z.number(),
      blas: z.object({ vendor: z.string(), core: z.string().nullable(), blasThreads: z.number().nullable(), library: z.string().nullable() }),
    }).parse(runAnchorScript(anchor, benchScript('pytorch_gpt.py'), [
      `${BABY.nLayer},${BABY.nHead},${BABY.nEmbd},${BABY.blockSize}`, String(BABY.batch), flags.quick ? '2' : '5', flags.quick ? '5' : '20',
    ], threads));
    log(`PyTorch ${out.torch}, ${out.blas.vendor} ${out.blas.core ?? ''} (${out.blas.library ?? '?'}), torch threads ${out.torchThreads}, BLAS threads ${out.blas.blasThreads}: ` +
      `${Math.round(out.tokensPerSecond)} tokens/s`);
    return { threads, ...out };
  });
  return { label: anchor.label, proper: anchor.proper, env: anchor.env, notes: anchor.notes, runs };
}

async function run(flags: Flags): Promise<void> {
  const log = flags.json ? () => {} : (line: string) => console.log(line);
  const machine = machineInfo();
  log(`machine: ${describeMachine(machine)} (load average at the start)`);
  log(`model: baby GPT ${BABY.nLayer} layers, ${BABY.nHead} heads, ${BABY.nEmbd} wide, block ${BABY.blockSize}, vocab ${BABY.vocabSize}, batch ${BABY.batch} (${TOKENS_PER_STEP} tokens a step)`);
  const gpu = await gpuStep(flags, log);
  const steps = flags.quick ? 8 : 25;
  const logEvery = flags.quick ? 2 : 5;
  const one = trainer(1, steps, logEvery);
  log(`trainer, 1 worker: ${Math.round(one.totalTokensPerSecond)} tokens/s (${one.command})`);
  const torch = pytorch(flags, log);
  const four = trainer(4, steps, logEvery);
  log(`trainer, 4 workers: ${Math.round(four.totalTokensPerSecond)} tokens/s in all (${four.tokensPerSecondPerWorker.map(Math.round).join(' + ')}), ` +
    `${(four.totalTokensPerSecond / one.totalTokensPerSecond).toFixed(2)}× one worker`);
  const oneThread = 'runs' in torch ? torch.runs[0]!.tokensPerSecond : null;
  const ratios = {
    oneWorkerToPytorchOneThread: oneThread ? one.totalTokensPerSecond / oneThread : null,
    oneWorkerToPytorchTwoThreads: 'runs' in torch ? one.totalTokensPerSecond / torch.runs[1]!.tokensPerSecond : null,
    fourWorkersToOne: four.totalTokensPerSecond / one.totalTokensPerSecond,
    fourWorkersToPytorchOneThread: oneThread ? four.totalTokensPerSecond / oneThread : null,
  };
  if (ratios.oneWorkerToPytorchOneThread !== null) {
    log(`ratio, 1 worker to ${'label' in torch ? torch.label : 'PyTorch'} one thread: ${ratios.oneWorkerToPytorchOneThread.toFixed(3)}×` +
      (ratios.oneWorkerToPytorchTwoThreads !== null ? `; to two threads ${ratios.oneWorkerToPytorchTwoThreads.toFixed(3)}×` : '') +
      `; 4 workers to one thread ${ratios.fourWorkersToPytorchOneThread!.toFixed(3)}×`);
  }
  log(`load average at the end: ${machineInfo().loadAverage.join(' ')}`);
  const report = { machine, loadAverageAtEnd: machineInfo().loadAverage, quick: flags.quick, model: BABY, gpu, trainer: { one, four }, pytorch: torch, ratios };
  const out = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), 'bench', 'results', flags.quick ? 'gpt-quick.json' : 'gpt.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
  if (flags.json) console.log(JSON.stringify(report, null, 1));
  else log(`written: ${out}`);
}

const parsed = Flags.safeParse(process.argv.slice(2));
if (!parsed.success) {
  console.error(`${parsed.error.issues.map((i) => i.message).join('\n')}\n\n${HELP}`);
  process.exitCode = 2;
} else if (parsed.data.help) {
  console.log(HELP);
} else {
  run(parsed.data).catch((e: unknown) => {
    console.error(`bench/gpt: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
