// run(config): trains in this process (--procs 1) or launches worker processes and serves them
// as the coordinator, then prints and records the summary.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, type LinkOptions } from '../dist/coordinator.js';
import { parseBandwidth, parseDuration } from '../dist/link.js';
import { OuterOptimizer } from '../dist/outer-optimizer.js';
import { nextAveragingStep } from '../accelerate/local-sgd.js';
import { mlpLayout, type ParameterLayout } from '../nn/layout.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { Reporter } from '../train/reporter.js';
import type { EvalRecord, TrainRecord, WorkerSummary } from '../train/records.js';
import { trainWorker, type ModelInfo } from '../train/train-worker.js';
import { summarize, formatSummary, type RunSummary } from '../train/summary.js';
import { CONFIG_ENV, UsageError, type TrainConfig } from './config.js';



export async function run(config: TrainConfig, options: { workerScript?: string } = {}): Promise<RunSummary> {
  const reporter = new Reporter({ worldSize: config.procs, metricsPath: config.metrics, quiet: config.quiet, totalSteps: config.maxSteps });
  const wallStart = performance.now();
  let summary: RunSummary;
  if (config.procs === 1) {
    const worker = await trainWorker(config, { onLog: (r) => reporter.record(r), onModel: (info) => reporter.start(info, describeMode(config)) });
    summary = summarize(config, [worker], undefined, (performance.now() - wallStart) / 1000);
  } else {
    summary = await runDistributed(config, reporter, options.workerScript ?? defaultWorkerScript());
  }
  reporter.finish();
  reporter.writeMetric(summary);
  console.log(formatSummary(summary));
  return summary;
}

async function runDistributed(config: TrainConfig, reporter: Reporter, workerScript: string): Promise<RunSummary> {
  let layout: ParameterLayout | undefined;
  // Always present: with the defaults (sgd, lr 1, momentum 0) its step is plain averaging, bit for bit.
  const outerOptimizer = new OuterOptimizer({ kind: config.outerOptimizer, lr: config.outerLr, momentum: config.outerMomentum });
  // The step of the last parameter round (or of the start), and the run's last step: rounds come
  // at the steps LocalSGD's rule gives, and the closing one at the end.
  let roundStep = 0;
  let totalSteps = Infinity;
  const saveRun = (params: Float32Array) => saveCheckpoint(config.save!, layout!, {
    params, step: roundStep, config,
    outer: { kind: outerOptimizer.kind, lr: outerOptimizer.lr, momentum: outerOptimizer.momentum, rounds: outerOptimizer.rounds, momentumBuffer: outerOptimizer.momentumBuffer! },
  });
  const result = await launch({
    procs: config.procs,
    workerScript,
    workerArgs: [],
    env: { [CONFIG_ENV]: JSON.stringify(config) },
    link: linkOptions(config),
    timeoutMs: config.workerTimeout * 1000,
    outerOptimizer,
    onLog: (rank, record) => {
      const r = record as { kind?: string } & ModelInfo;
      if (r.kind === 'train' || r.kind === 'eval') reporter.record(record as TrainRecord | EvalRecord);
      else if (r.kind === 'model' && rank === 0) {
        // Rank 0 logs this before its first collective, so it is here before any round.
        layout = mlpLayout(r.sizes);
        roundStep = r.startStep;
        totalSteps = r.totalSteps;
        if (config.resume) resumeOuterOptimizer(config.resume, layout, outerOptimizer);
        reporter.start(r, describeMode(config));
      }
    },
    onRoundComplete: ({ tag, averaged }) => {
      if (tag !== 'params') return;
      roundStep = Math.min(nextAveragingStep(roundStep, config.localSgdWarmupSteps, config.localSgdSteps), totalSteps);
      // The closing round is skipped: rank 0 saves the final weights to the same file right after it.
      if (config.checkpointEvery && outerOptimizer.rounds % config.checkpointEvery === 0 && roundStep < totalSteps) saveRun(averaged);
    },
    onInterrupt: (coordinator) => {
      reporter.finish();
      const params = coordinator.lastAveraged('params');
      if (config.save && params && layout) {
        saveRun(params);
        console.error(`interrupted: saved a whole-run checkpoint of averaging round ${outerOptimizer.rounds} (step ${roundStep}) to ${config.save}; --resume it to continue`);
      } else if (config.save) {
        console.error('interrupted before any parameter averaging round: no averaged weights to save');
      }
    },
  });
  return summarize(config, result.summaries as WorkerSummary[], result.stats, result.wallSeconds);
}

/** A whole-run checkpoint restores the outer momentum; θ arrives with rank 0's broadcast of the checkpoint's weights. */
function resumeOuterOptimizer(path: string, layout: ParameterLayout, outerOptimizer: OuterOptimizer): void {
  const loaded = loadCheckpoint(path, layout, { withOptimizer: false });
  if (loaded.outer) outerOptimizer.loadMomentum(loaded.outer.momentumBuffer, loaded.outer.rounds);
}

function describeMode(config: TrainConfig): string {
  if (config.procs === 1) return 'one process';
  if (!config.localSgd) return `${config.procs} workers, synchronous data-parallel`;
  const warmup = config.localSgdWarmupSteps > 0 ? ` after ${config.localSgdWarmupSteps} synchronous steps` : '';
  const outer = config.outerOptimizer === 'sgd' && config.outerLr === 1 && config.outerMomentum === 0
    ? '' : `, outer ${config.outerOptimizer} lr ${config.outerLr} momentum ${config.outerMomentum}`;
  return `${config.procs} workers, Local SGD every ${config.localSgdSteps} steps${warmup}${outer}`;
}

function linkOptions(config: TrainConfig): LinkOptions | undefined {
  try {
    const link = { latencyMs: parseDuration(config.linkLatency), bandwidthBitsPerSec: parseBandwidth(config.linkBandwidth) };
    return link.latencyMs === 0 && link.bandwidthBitsPerSec === Infinity ? undefined : link;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** dist/worker.js beside dist/train.js, found from any bundle under dist/. */
export function defaultWorkerScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'worker.js');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('cannot find dist/worker.js next to this program; run `npm run build` first');
}
