// From train.js's metrics records to the benchmark's records: one per run (the summary's numbers,
// the curves, time to target), then one per configuration over its repeats (median timings).
import type { MetricsRecord } from '../../../src/train/metrics.js';
import { recordsOf } from '../../../src/train/metrics.js';
import type { EvalRecord } from '../../../src/train/records.js';
import type { RunSummary } from '../../../src/train/summary.js';
import type { MachineInfo } from '../report.js';
import type { Group, Link, Mode, SuiteName } from './suites.js';

/** An evaluation as the report keeps it: always rank 0's, so without the rank. */
export type Evaluation = Omit<EvalRecord, 'rank'>;

/**
 * One configuration's run: the run summary's numbers (timings are medians over the repeats), and
 * what the benchmark derives from the other records. From the summary, `wallSeconds` is the
 * coordinator's wall time (process start-up, data loading and evaluations included), and
 * `bytesCommunicated` all ranks' bytes sent and received, as the coordinator counted them.
 */
export interface RunRecord extends Pick<RunSummary,
  'procs' | 'parameterCount' | 'steps' | 'samples' | 'testAccuracy' | 'testLoss' | 'finalTrainLoss' | 'wallSeconds' |
  'commSeconds' | 'computeSeconds' | 'rounds' | 'bytesCommunicated' | 'bytesPerRound' | 'adapter'> {
  group: string;
  link: string;
  linkBandwidth: string;
  linkLatency: string;
  mode: string;
  label: string;
  localSgdSteps: number | null;
  /** Training time to the last step, evaluations excluded (the last eval record's trainSeconds). */
  trainSeconds: number;
  /**
   * Workers' mean commSeconds over wallSeconds. commSeconds counts the whole exchange, so it also
   * holds waiting for slower peers, and ranks 1… wait while rank 0 evaluates.
   */
  commShareOfWall: number;
  target: number;
  /** Training seconds to the first evaluation at or above the target; null when never reached. */
  timeToTargetSeconds: number | null;
  stepToTarget: number | null;
  bytesPerStep: number;
  /** Mean over ranks of the training loss at each logged step. */
  lossCurve: Array<[step: number, loss: number]>;
  evals: Evaluation[];
  /**
   * Timings of every repeat, in run order. Training is deterministic (same seed, same data order),
   * so accuracy and bytes do not vary between repeats; the timings above are their medians, and
   * the curves come from the repeat with the median training time.
   */
  repeats: Array<{ trainSeconds: number; wallSeconds: number; timeToTargetSeconds: number | null; commSeconds: number }>;
}

export interface Settings {
  suite: SuiteName;
  quick: boolean;
  repeats: number;
  procs: number;
  seed: number;
  links: Link[];
  groups: Array<Omit<Group, 'modes' | 'links'> & { modes: string[]; links: string[] }>;
}

/** What localsgd.json holds, and what the Markdown and the figures are made from. */
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

export function toRecord(group: Group, link: Link, mode: Mode, lines: MetricsRecord[]): RunRecord {
  const summary = recordsOf(lines, 'summary')[0];
  if (!summary) throw new Error(`${group.name} ${link.name} ${mode.label}: the metrics file has no summary record`);
  const evals = recordsOf(lines, 'eval').map(({ rank: _rank, ...e }): Evaluation => e);
  const byStep = new Map<number, number[]>();
  for (const l of recordsOf(lines, 'train')) byStep.set(l.step, [...(byStep.get(l.step) ?? []), l.loss]);
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
export function medianRecord(records: RunRecord[]): RunRecord {
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
