// The run's summary: what the last metrics record holds and what the last lines print.
import { z } from 'zod';
import type { CommStats } from '../comm/launch-api.js';
import { CommDtype } from '../comm/delta-codec.js';
import type { TrainConfig } from './config.js';
import { describeTextLoss } from './reporter.js';
import { count, measure, type WorkerSummary } from './records.js';

export const RunSummary = z.object({
  kind: z.literal('summary'),
  mode: z.enum(['local-sgd', 'sync']),
  procs: count,
  localSgdSteps: count,
  /** What parameter averaging sent (--comm-dtype). */
  commDtype: CommDtype,
  /** Post-local SGD warmup steps, and the outer optimizer at each parameter round (sgd, lr 1, momentum 0: plain averaging). */
  localSgdWarmupSteps: count,
  outer: z.object({ optimizer: z.string(), lr: z.number(), momentum: z.number() }),
  adapter: z.string(),
  parameterCount: count,
  steps: count,
  samples: count,
  /** NaN (null in JSON) when the final model was not evaluated. */
  testAccuracy: measure,
  testLoss: measure,
  finalTrainLoss: measure,
  wallSeconds: z.number(),
  /** Mean over workers. */
  computeSeconds: z.number(),
  commSeconds: z.number(),
  readbackSeconds: z.number(),
  exchangeSeconds: z.number(),
  uploadSeconds: z.number(),
  rounds: count,
  parameterRounds: count,
  gradientRounds: count,
  bytesCommunicated: count,
  bytesPerRound: z.number(),
  reduceSeconds: z.number(),
  /** Workers that sent their summary, of procs (fewer after a loss under --on-worker-failure continue). */
  workersFinished: count,
  workersLost: count,
  respawns: count,
  /**
   * Across machines, this launcher's: its node rank, the bytes its link to the master carried (whole
   * frames, heartbeats excepted) and a SHA-256 of the last cross-machine average, the weights every
   * worker of every machine holds after it (the same on every machine).
   */
  machine: z.object({
    nodeRank: count, nodes: count, linkBytesSent: count, linkBytesReceived: count,
    /** The steps after which parameters were averaged across machines (the others of --cross-node-every stayed within each). */
    crossMachineSteps: z.array(count),
    finalParametersSha256: z.string().optional(),
  }).optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

function meanOf(xs: number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : Number.NaN;
}

export function summarize(
  config: TrainConfig, workers: WorkerSummary[], stats: CommStats | undefined, wallSeconds: number, faults = { lost: 0, respawns: 0 },
): RunSummary {
  // The main process evaluated: rank 0, or the lowest survivor if rank 0 was dropped.
  const main = workers.find((w) => w.test !== undefined) ?? workers.find((w) => w.rank === 0) ?? workers[0]!;
  const mean = (f: (w: WorkerSummary) => number) => meanOf(workers.map(f));
  // A respawned process took part in fewer steps and rounds than the run: count from one that saw them all.
  const full = workers.reduce((a, b) => (b.steps > a.steps ? b : a), main);
  const rounds = full.comm.parameterRounds + full.comm.gradientRounds;
  const bytes = stats ? stats.bytesSent + stats.bytesReceived : 0;
  return {
    kind: 'summary',
    mode: config.localSgd ? 'local-sgd' : 'sync',
    procs: config.procs,
    localSgdSteps: config.localSgdSteps,
    commDtype: config.commDtype,
    localSgdWarmupSteps: config.localSgdWarmupSteps,
    outer: { optimizer: config.outerOptimizer, lr: config.outerLr, momentum: config.outerMomentum },
    adapter: main.adapter,
    parameterCount: main.parameterCount,
    steps: full.steps,
    samples: workers.reduce((s, w) => s + w.samples, 0),
    testAccuracy: main.test?.accuracy ?? Number.NaN,
    testLoss: main.test?.loss ?? Number.NaN,
    // A process respawned at the last step logged no loss (NaN, null once through JSON): not a zero.
    finalTrainLoss: meanOf(workers.map((w) => w.finalTrainLoss).filter((x): x is number => typeof x === 'number' && Number.isFinite(x))),
    wallSeconds,
    computeSeconds: mean((w) => w.computeSeconds),
    commSeconds: mean((w) => w.commSeconds),
    readbackSeconds: mean((w) => w.comm.readbackSeconds),
    exchangeSeconds: mean((w) => w.comm.exchangeSeconds),
    uploadSeconds: mean((w) => w.comm.uploadSeconds),
    rounds,
    parameterRounds: full.comm.parameterRounds,
    gradientRounds: full.comm.gradientRounds,
    bytesCommunicated: bytes,
    bytesPerRound: rounds > 0 ? bytes / rounds : 0,
    reduceSeconds: stats?.reduceSeconds ?? 0,
    workersFinished: workers.length,
    workersLost: faults.lost,
    respawns: faults.respawns,
  };
}

/** `languageModel`: the test figures are a validation sample's next-byte loss (nats and bits per byte) and accuracy. */
export function formatSummary(s: RunSummary, options: { languageModel?: boolean } = {}): string {
  const mode = s.procs === 1 ? 'single process' : s.mode === 'local-sgd' ? `Local SGD, K=${s.localSgdSteps}, ${s.procs} workers` : `synchronous data-parallel, ${s.procs} workers`;
  const lines = [
    `done: ${s.steps} optimizer steps (${mode}) on ${s.adapter}`,
    (Number.isNaN(s.testAccuracy) ? 'test accuracy not measured'
      : options.languageModel ? describeTextLoss({ loss: s.testLoss, accuracy: s.testAccuracy })
      : `test accuracy ${(s.testAccuracy * 100).toFixed(2)}%  test loss ${s.testLoss.toFixed(4)}`) +
      `  final train loss ${s.finalTrainLoss.toFixed(4)}`,
    `wall ${s.wallSeconds.toFixed(1)} s; per worker: compute ${s.computeSeconds.toFixed(1)} s, communication ${s.commSeconds.toFixed(2)} s ` +
      `(read-back ${s.readbackSeconds.toFixed(2)}, exchange ${s.exchangeSeconds.toFixed(2)}, upload ${s.uploadSeconds.toFixed(2)})`,
  ];
  if (s.procs > 1) {
    const what = s.parameterRounds > 0 && s.gradientRounds > 0
      ? `${s.gradientRounds} of gradients in the warmup, ${s.parameterRounds} of parameters`
      : s.mode === 'sync' ? 'gradients' : 'parameters';
    const dtype = s.commDtype === 'f32' || s.parameterRounds === 0 ? '' : `, ${s.commDtype} deltas after the first`;
    lines.push(`${s.rounds} averaging rounds (${what}${dtype}), ${(s.bytesCommunicated / 1e6).toFixed(1)} MB communicated ` +
      `(${(s.bytesPerRound / 1e6).toFixed(2)} MB per round), coordinator reduction ${s.reduceSeconds.toFixed(2)} s`);
  }
  if (s.machine) {
    const m = s.machine;
    lines.push(`node ${m.nodeRank} of ${m.nodes}: ${m.crossMachineSteps.length} parameter rounds across machines; ` +
      `its link to the master sent ${(m.linkBytesSent / 1e6).toFixed(1)} MB and received ${(m.linkBytesReceived / 1e6).toFixed(1)} MB`);
  }
  if (s.workersLost > 0) {
    lines.push(`${s.workersFinished} of ${s.procs} workers finished; ${s.workersLost} lost` +
      (s.respawns > 0 ? `, ${s.respawns} replaced by a respawned process` : ', their ranks dropped'));
  }
  return lines.join('\n');
}
