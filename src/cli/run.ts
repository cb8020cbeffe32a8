// run(config): trains in this process (--procs 1) or launches worker processes (and serves browser
// tabs, --browser-workers) as the coordinator, then prints and records the summary.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import {
  InterruptedError, launch, signalExitCode, STOP_SIGNALS, WorkerFailedError, WorkerTimeoutError, type LinkOptions, type MachineOptions, type WorkerLostEvent,
} from '../comm/launch.js';
import { insecureSecret, JOIN_TOKEN_ENV, MAKE_TOKEN, readJoinSecret } from '../comm/join-token.js';
import { parseBandwidth, parseDuration } from '../comm/link.js';
import { isPlainAveraging, OuterOptimizer } from '../comm/outer-optimizer.js';
import type { ParameterLayout } from '../nn/layout.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { checkFreeSpace, checkOutputPath, checkpointBytesBound, outputPathsOf } from '../train/output-paths.js';
import { Reporter } from '../train/reporter.js';
import { WorkerLogRecord, WorkerSummary } from '../train/records.js';
import { trainWorker } from '../train/train-worker.js';
import { loadTextData } from '../train/text-data.js';
import { hooksFromEnvironment, SOCKET_PATH_FILE_ENV } from '../train/debug-hooks.js';
import { summarize, formatSummary, type RunSummary } from '../train/summary.js';
import { outerSettings, type TrainConfig } from '../train/config.js';
import { FLAGS, UsageError } from './config.js';
import { runSettings } from './run-settings.js';
import { nodePlatform } from '../train/node-platform.js';
import { browserWorkers, tabRanks } from './browser-workers.js';



export async function run(config: TrainConfig, options: { workerScript?: string } = {}): Promise<RunSummary> {
  // Before anything trains: a model must not be lost at the end to a path that could never be written.
  for (const output of outputPathsOf(config)) checkOutputPath(output);
  const languageModel = config.model.kind === 'gpt';
  // A missing, empty or too short text is refused here, before any worker starts (each worker reads it again).
  if (config.model.kind === 'gpt') checkText(config, config.model.blockSize);
  const reporter = new Reporter({
    worldSize: config.procs, ranks: ranksHere(config), metricsPath: config.metrics, quiet: config.quiet, totalSteps: config.maxSteps, languageModel,
  });
  const wallStart = performance.now();
  let summary: RunSummary;
  if (config.procs === 1 && config.browserWorkers === 0) {
    // Ctrl-C (or SIGTERM, SIGHUP): finish the step, save (weights and optimizer state), stop; a
    // second signal quits at once.
    let stopRequested: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopRequested) process.exit(signalExitCode(signal));
      stopRequested = signal;
      console.error(`${signal}: stopping after this step${config.save ? ` and saving to ${config.save}` : ''} (again to quit at once)`);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
    const worker = await trainWorker(config, {
      platform: nodePlatform,
      stopRequested: () => stopRequested !== undefined,
      onLog: (r) => reporter.record(r), hooks: hooksFromEnvironment(config),
      onModel: (info) => {
        checkRoomForCheckpoint(config, info.layout);
        reporter.start(info, describeMode(config));
      },
    }).catch((error: unknown) => {
      // The exit status names the signal that stopped it.
      throw error instanceof InterruptedError && stopRequested ? new InterruptedError(error.message, stopRequested) : error;
    }).finally(() => {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
      reporter.finish();
    });
    summary = summarize(config, [worker], undefined, (performance.now() - wallStart) / 1000);
  } else {
    summary = await runDistributed(config, reporter, options.workerScript ?? defaultWorkerScript());
  }
  reporter.finish();
  reporter.writeMetric(summary);
  console.log(formatSummary(summary, { languageModel }));
  return summary;
}

/** --text/--val-text errors are the user's (exit 2); the Brown corpus is checked too, but its failure is the install's. */
function checkText(config: TrainConfig, blockSize: number): void {
  try {
    loadTextData({ text: config.text, valText: config.valText, procs: config.procs, valWindows: config.valWindows }, blockSize);
  } catch (error) {
    throw config.text !== undefined ? new UsageError((error as Error).message) : error;
  }
}

async function runDistributed(config: TrainConfig, reporter: Reporter, workerScript: string): Promise<RunSummary> {
  // Across machines only the master's machine writes the run's checkpoints (rank 0's worker, and its
  // launcher's on Ctrl-C or a late loss): the same --save on a shared filesystem would be written twice.
  if (config.nodeRank > 0 && config.save !== undefined) config = { ...config, save: undefined };
  if (config.onWorkerFailure === 'respawn' && !config.localSgd) {
    throw new UsageError('--on-worker-failure respawn needs Local SGD: a new worker starts from the last averaged parameters, which --no-local-sgd never sends; use --on-worker-failure continue');
  }
  if (config.onWorkerFailure === 'respawn' && config.localSgdWarmupSteps > 0) {
    // A worker lost in the synchronous warmup has no averaged parameters to restart from.
    throw new UsageError('--on-worker-failure respawn needs Local SGD from the first step: a worker lost during --local-sgd-warmup-steps has no averaged parameters to restart from; use --on-worker-failure continue, or no warmup');
  }
  if (config.resume) checkSameRun(config.resume, config);
  let layout: ParameterLayout | undefined;
  const lastLoggedStep: number[] = [];
  // Always present: with the defaults (sgd, lr 1, momentum 0) its step is plain averaging, bit for bit.
  const outerOptimizer = new OuterOptimizer(outerSettings(config));
  // The step of the last parameter round (each round says its step), or of the start before the
  // first; and the run's last step.
  let roundStep = 0;
  let totalSteps = Infinity;
  const saveRun = (params: Float32Array) => saveCheckpoint(config.save!, layout!, {
    params, step: roundStep, config,
    outer: { kind: outerOptimizer.kind, lr: outerOptimizer.lr, momentum: outerOptimizer.momentum, rounds: outerOptimizer.rounds, momentumBuffer: outerOptimizer.momentumBuffer! },
  });
  // The closing average, once taken: if a worker dies after it, the trained model is still whole.
  let finalAverage: Float32Array | undefined;
  const startedAt = Date.now();
  // The lowest rank on this machine describes the model (rank 0 on one machine, or on the master).
  const describingRank = ranksHere(config)[0]!;
  const result = await launch({
    procs: config.procs,
    machines: machineOptions(config),
    ...(config.browserWorkers > 0 ? browserWorkers(config, workerScript, (line) => console.error(line)) : {}),
    workerScript,
    workerArgs: [],
    // Across machines workers send f32 to their own machine's launcher; the 16-bit exchange happens between machines.
    workerConfig: config.nnodes > 1 ? { ...config, commDtype: 'f32' } : config,
    link: linkOptions(config),
    commDtype: config.commDtype,
    timeoutMs: config.workerTimeout * 1000,
    onWorkerFailure: config.onWorkerFailure,
    maxRespawns: config.maxRespawns,
    verbose: config.verbose,
    ...(process.env[SOCKET_PATH_FILE_ENV] ? { onListening: (path: string) => writeFileSync(process.env[SOCKET_PATH_FILE_ENV]!, path) } : {}),
    onWorkerLost: (event) => reportLoss(config, reporter, event, roundStep, lastLoggedStep[event.rank] ?? 0),
    outerOptimizer,
    onLog: (rank, record) => {
      const r = parseWorkerLog(rank, record);
      if (r.kind === 'train') lastLoggedStep[rank] = r.step;
      if (r.kind === 'train' || r.kind === 'eval') reporter.record(r);
      else if (r.kind === 'model' && rank === describingRank && !layout) { // a respawned rank 0 describes the model again
        // Rank 0 logs this before its first parameter round, so it is here before any.
        layout = r.layout;
        checkRoomForCheckpoint(config, layout);
        roundStep = r.startStep;
        totalSteps = r.totalSteps;
        if (config.resume) resumeOuterOptimizer(config.resume, layout, outerOptimizer);
        reporter.start(r, describeMode(config));
      }
    },
    onRoundComplete: ({ tag, step, averaged }) => {
      if (tag !== 'params') return;
      if (step === undefined) throw new Error('internal: a parameter round came without its step; workers pass it to averageParameters');
      roundStep = step;
      if (step === totalSteps) finalAverage = averaged.slice();
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
  }).catch((error: unknown) => {
    if ((error instanceof WorkerFailedError || error instanceof WorkerTimeoutError) && finalAverage && layout) saveAfterLateLoss(config, layout, finalAverage, totalSteps, startedAt, error);
    throw error;
  });
  const finished = result.summaries.flatMap((s, rank) => (s === undefined ? [] : [parseWorkerSummary(rank, s)]));
  // Across machines the master's rank 0 evaluates and saves; the other machines' workers do neither.
  if (config.nodeRank === 0 && finished.length > 0 && !finished.some((s) => s.test !== undefined)) {
    // The rank that evaluates and saves was lost after the closing round, when the others had already finished.
    const saving = config.save && layout && result.lastParameters && config.localSgd;
    if (saving) saveCheckpoint(config.save!, layout!, { params: result.lastParameters!, step: roundStep, config });
    console.error('the worker that evaluates and saves was lost after the last averaging round: the final weights were not evaluated' +
      (saving ? `; the coordinator saved them to ${config.save}` : ''));
    if (config.save && !saving) {
      // Synchronous mode sends gradients, so the coordinator holds no weights to save in its place.
      console.error(`error: --save ${config.save} was NOT written: in synchronous mode only workers hold the weights`);
      process.exitCode = 1;
    }
  }
  const faults = { lost: result.lost.length, respawns: result.lost.filter((e) => e.action === 'respawned').length };
  const summary = summarize(config, finished, result.stats, result.wallSeconds, faults);
  const link = result.stats.crossMachine;
  if (link) {
    const last = result.lastParameters;
    summary.machine = {
      nodeRank: config.nodeRank, nodes: config.nnodes, linkBytesSent: link.bytesSent, linkBytesReceived: link.bytesReceived,
      crossMachineSteps: link.parameterRoundSteps,
      ...(last ? { finalParametersSha256: createHash('sha256').update(new Uint8Array(last.buffer, last.byteOffset, last.byteLength)).digest('hex') } : {}),
    };
  }
  return summary;
}

/** The ranks this launcher starts: all of them, or on a machine of several its own. */
function ranksHere(config: TrainConfig): number[] {
  const perNode = config.nprocPerNode ?? config.procs;
  return Array.from({ length: perNode }, (_, i) => config.nodeRank * perNode + i);
}

/** Across machines: where this one sits, the join secret, TLS, and the settings the master compares. */
function machineOptions(config: TrainConfig): MachineOptions | undefined {
  if (config.nnodes === 1) return undefined;
  let secret: Uint8Array | undefined;
  try {
    secret = config.insecure ? insecureSecret() : readJoinSecret({ tokenFile: config.joinTokenFile });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!secret) {
    throw new UsageError(
      'a run across machines needs a join secret, so that nobody else can join it or change its weights: make a token ' +
        `(${MAKE_TOKEN}), copy it to every machine and give --join-token-file join.token (or set ${JOIN_TOKEN_ENV}); ` +
        'on a network you fully trust, --insecure runs without one',
    );
  }
  const tls = config.tlsCert && config.tlsKey && config.tlsCa ? { cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa } : undefined;
  return {
    nodes: config.nnodes, nodeRank: config.nodeRank, perNode: config.nprocPerNode ?? config.procs / config.nnodes,
    master: { host: config.masterAddr ?? '127.0.0.1', port: config.masterPort }, secret, insecure: config.insecure, tls,
    rendezvousTimeoutMs: config.rendezvousTimeout * 1000, settings: runSettings(config), host: hostname(),
  };
}

/** Once the model is known, before its first step: is there room for one checkpoint of it? */
function checkRoomForCheckpoint(config: TrainConfig, layout: ParameterLayout): void {
  if (config.save) checkFreeSpace({ flag: '--save', path: config.save }, checkpointBytesBound(layout.totalFloats));
}

/**
 * A worker died after the closing average was taken (--on-worker-failure abort): the run still
 * fails, but the model it trained is saved from the coordinator's copy of that average, unless the
 * main rank already wrote it (with its optimizer state) before the loss.
 */
function saveAfterLateLoss(
  config: TrainConfig, layout: ParameterLayout, params: Float32Array, step: number, startedAt: number, error: WorkerFailedError | WorkerTimeoutError,
): void {
  const ranks = error instanceof WorkerFailedError ? [error.rank] : error.ranks;
  const what = `worker rank ${ranks.join(', ')} was lost after the closing average of step ${step}, so every weight of the final model was known`;
  if (!config.save) {
    error.message += `\n${what}; give --save FILE to keep such a model`;
    return;
  }
  if (existsSync(config.save) && statSync(config.save).mtimeMs >= startedAt && readSafetensorsFile(config.save).metadata.step === String(step)) {
    error.message += `\n${what}; the main rank had already saved it to ${config.save}`;
    return;
  }
  saveCheckpoint(config.save, layout, { params, step, config });
  error.message += `\n${what}; the coordinator saved it to ${config.save} (weights only, not evaluated: continue from it with --init)`;
}

/** A worker's log record, checked on arrival: a record that does not fit stops the run naming the rank and field. */
function parseWorkerLog(rank: number, record: unknown): WorkerLogRecord {
  const r = WorkerLogRecord.safeParse(record);
  if (r.success) return r.data;
  throw new Error(`worker rank ${rank} logged a record that is not a train, eval or model record (${issues(r.error)}): are dist/train.js and dist/worker.js from the same build?`);
}

function parseWorkerSummary(rank: number, summary: unknown): WorkerSummary {
  const r = WorkerSummary.safeParse(summary);
  if (r.success) return r.data;
  throw new Error(`worker rank ${rank} finished with a summary that does not fit (${issues(r.error)}): are dist/train.js and dist/worker.js from the same build?`);
}

const issues = (e: z.ZodError) => e.issues.map((x) => `${x.path.join('.') || 'record'}: ${x.message}`).join('; ');

/** A lost worker: one line on stderr (whatever --quiet says) and a `worker-lost` metrics record. */
function reportLoss(config: TrainConfig, reporter: Reporter, event: WorkerLostEvent, roundStep: number, lastLogged: number): void {
  // The last step every rank had surely completed: the last parameter average (Local SGD), or the
  // last gradient all-reduce (synchronous mode, one per step). The rank's own log may say more.
  // roundStep is the step of the last parameter round, or the start step before the first one.
  const averagedStep = event.completed.params > 0 ? roundStep : roundStep + event.completed.grads;
  const step = Math.max(averagedStep, lastLogged);
  const what = event.reason.split('\n')[0]!.replace(/^worker rank \d+ /, '');
  const tab = tabRanks(config).includes(event.rank);
  const next = event.action === 'dropped'
    ? `continuing with ${event.liveRanks.length} of ${config.procs} workers (ranks ${event.liveRanks.join(', ')})`
    : `${tab ? 'the next browser tab to open the join link takes it over' : 'respawning it'} from the parameters averaged at step ${averagedStep} (restart ${event.restarts} of at most ${config.maxRespawns})`;
  reporter.finish();
  console.error(`worker rank ${event.rank} lost after step ${step} (${what}); ${next}`);
  if (event.action === 'dropped') reporter.dropRank(event.rank);
  reporter.writeMetric({
    kind: 'worker-lost', rank: event.rank, step, averagedStep, action: event.action, liveRanks: event.liveRanks,
    restarts: event.restarts, reason: event.reason, time: Date.now() / 1000,
  });
}

/** What a whole-run checkpoint's continuation must share with the run that wrote it: shards and schedule. */
const SAME_RUN_KEYS = [
  'procs', 'data', 'text', 'localSgdSteps', 'localSgdWarmupSteps', 'batchSize', 'gradAccum', 'seed', 'shuffle', 'outerOptimizer', 'outerLr', 'outerMomentum',
] as const;

/**
 * --resume of a whole-run checkpoint continues that run, which is only true with the same workers,
 * averaging schedule and data order; anything else would run, but as a different run.
 */
function checkSameRun(path: string, config: TrainConfig): void {
  if (!existsSync(path)) return; // the worker's loader names the missing file
  const { metadata } = readSafetensorsFile(path);
  if (!metadata.outer || !metadata.config) return; // not a whole-run checkpoint
  const saved = JSON.parse(metadata.config) as Partial<TrainConfig>;
  for (const key of SAME_RUN_KEYS) {
    if (saved[key] === undefined || saved[key] === config[key]) continue;
    const flag = FLAGS.find((f) => f.key === key)!.flag;
    throw new UsageError(
      `--resume ${path}: that run had ${flag} ${String(saved[key])}, this one ${String(config[key])}; a whole-run checkpoint ` +
        `continues only the same run (same shards and averaging schedule). Use ${flag} ${String(saved[key])}, or --init ${path} to start a new run from its weights`,
    );
  }
}

/** A whole-run checkpoint restores the outer momentum; θ arrives with rank 0's broadcast of the checkpoint's weights. */
function resumeOuterOptimizer(path: string, layout: ParameterLayout, outerOptimizer: OuterOptimizer): void {
  const loaded = loadCheckpoint(path, layout, { withOptimizer: false });
  if (loaded.outer) outerOptimizer.loadMomentum(loaded.outer.momentumBuffer, loaded.outer.rounds);
}

function describeMode(config: TrainConfig): string {
  if (config.procs === 1 && config.browserWorkers === 0) return 'one process';
  if (config.nnodes > 1) {
    const perNode = config.nprocPerNode ?? config.procs / config.nnodes;
    const across = config.crossNodeEvery > 1 ? `, across machines every ${config.crossNodeEvery} rounds` : '';
    return `node ${config.nodeRank} of ${config.nnodes} (${perNode} workers each), ${describeWorkers(config)}${across}`;
  }
  return describeWorkers(config);
}

function describeWorkers(config: TrainConfig): string {
  const tabs = config.browserWorkers;
  const who = tabs > 0 ? `${config.procs} workers (${config.procs - tabs} processes, ${tabs} browser tab${tabs > 1 ? 's' : ''})` : `${config.procs} workers`;
  if (!config.localSgd) return `${who}, synchronous data-parallel`;
  const warmup = config.localSgdWarmupSteps > 0 ? ` after ${config.localSgdWarmupSteps} synchronous steps` : '';
  const outer = isPlainAveraging(outerSettings(config)) ? '' : `, outer ${config.outerOptimizer} lr ${config.outerLr} momentum ${config.outerMomentum}`;
  const averaging = config.commDtype === 'f32' ? '' : `, averaging sends ${config.commDtype} deltas`;
  return `${who}, Local SGD every ${config.localSgdSteps} steps${warmup}${outer}${averaging}`;
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
