// One worker's training run. The loop in trainWorker reads like the seed tutorial: load a batch,
// forward + loss + backward (accumulating gradients in-kernel), optimizer step, localSgd.step().
// Setting up, logging, evaluating and saving live below it; what a test or a benchmark adds to a
// run (fault injection, weight traces) comes in through `hooks`.
import { Accelerator, type CommTimes } from '../accelerate/accelerator.js';
import { NonFiniteError } from '../accelerate/finite.js';
import { InterruptedError } from '../comm/interrupted.js';
import { LocalSGD } from '../accelerate/local-sgd.js';
import type { MemberChannel } from '../comm/member-channel.js';
import { createStorage } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { Autotuner, useAutotuner } from '../kernels/autotune.js';
import { prepareGradNormClip, type PreparedGradNormClip } from '../kernels/grad-norm.js';
import type { ParameterLayout } from '../nn/layout.js';
import { createModel, type Model, type ModelGraph } from '../nn/model.js';
import { createOptimizer, type Optimizer } from '../nn/optimizer.js';
import { learningRate, type ScheduleConfig } from '../nn/schedule.js';
import type { TrainConfig } from './config.js';
import { evaluateBatches, type Evaluation } from './evaluate.js';
import type { ParametersEvent, StepEvent, TrainHooks } from './hooks.js';
import type { EvalRecord, TrainRecord, WorkerSummary } from './records.js';
import { startingPoint, type StartingPoint } from './starting-point.js';
import type { TrainingData } from './training-data.js';
import type { WorkerPlatform } from './worker-platform.js';

/** What rank 0 tells the coordinator once its model is built. */
export interface ModelInfo {
  /** For people, e.g. "MLP 784-256-10". */
  description: string;
  /** The flat parameter layout: what a checkpoint written by the coordinator is made of. */
  layout: ParameterLayout;
  parameterCount: number;
  adapter: string;
  trainSamples: number;
  testSamples: number;
  data: string;
  /** Optimizer steps before this run (a resumed one) and at its end. */
  startStep: number;
  totalSteps: number;
}

export interface WorkerOptions {
  /** Where the data and the checkpoint files come from: nodePlatform (node-platform.ts), or a browser tab's. */
  platform: WorkerPlatform;
  /** A device the caller opened already (a browser tab checks for WebGPU before it joins); else the platform's default. */
  gpu?: GpuContext | undefined;
  channel?: MemberChannel | undefined;
  /** Receives every logged step (rank-local numbers). */
  onLog: (record: TrainRecord | EvalRecord) => void;
  /** Called with rank 0's model description once it is known (used to save on Ctrl-C). */
  onModel?: (info: ModelInfo) => void;
  hooks?: TrainHooks | undefined;
  /** One process (--procs 1): Ctrl-C asks the loop to save and stop at the end of the current step. */
  stopRequested?: () => boolean;
}

export async function trainWorker(config: TrainConfig, options: WorkerOptions): Promise<WorkerSummary> {
  const wallStart = performance.now();
  // What the heartbeats say this worker is doing: a worker that goes silent is reported with it.
  const doing = (what: string) => options.channel?.setActivity(what);
  doing('setting up: loading the data, building the model');
  const accelerator = await Accelerator.create({
    gradientAccumulationSteps: config.gradAccum,
    gpu: options.gpu ?? { adapter: config.adapter, backend: config.backend },
    channel: options.channel,
    commDtype: config.commDtype,
  });
  if (config.autotune) {
    // Only the main rank says its choices (its stdout is the one the launcher shows); the others
    // choose alike on the same adapter, and any choice gives the same numbers.
    const say = accelerator.isMainProcess && !config.quiet;
    useAutotuner(accelerator.ctx, new Autotuner({ store: options.platform.autotuneStore(), log: (line) => say && console.log(line) }));
  }
  try {
    const { data, model, optimizer, graph, start, totalSteps, clipping } = await setUp(config, accelerator, options);
    const hooks = options.hooks ?? {};
    const events = new HookEvents(accelerator, model, options.channel?.rejoin?.restarts ?? 0);
    const schedule: ScheduleConfig = { kind: config.schedule, baseLr: config.lr, minLr: config.minLr, warmupSteps: config.warmupSteps, totalSteps };
    const log = new LogWindow(accelerator, graph, config.gradAccum, start.step);
    const evaluator = new MainProcessEvaluator(accelerator, model, data);
    await evaluator.graph();
    // A resumed run, or a respawned rank 0, does not repeat (or catch up on) the evaluations made
    // before its starting step: the schedule continues where the earlier process left it.
    const periodic = new PeriodicEvaluation(config.evalEvery, start.step);
    const save = (step: number) => {
      doing(`saving to ${config.save} (step ${step})`);
      return saveRun(config, options.platform, accelerator, model, optimizer, step);
    };
    const trainStart = performance.now();
    await accelerator.recorder.sync(); // training time starts from an idle GPU, setup done
    const localSgd = new LocalSGD({
      accelerator, model, localSgdSteps: config.localSgdSteps, enabled: config.localSgd,
      warmupSteps: config.localSgdWarmupSteps, startStep: start.step, crossNodeEvery: config.crossNodeEvery, totalSteps,
    });
    hooks.beforeTraining?.(events.step(start.step));

    for (let step = start.step; step < totalSteps; step++) {
      doing(`training step ${step + 1} of ${totalSteps}`);
      hooks.beforeStep?.(events.step(step));
      let epoch = 0;
      for (let micro = 0; micro < config.gradAccum; micro++) {
        const next = data.batchAt(step * config.gradAccum + micro);
        epoch = next.epoch;
        accelerator.backward(graph, next.batch, micro);
      }
      await accelerator.reduceGradients(model); // synchronous mode only: Local SGD keeps gradients local
      // Clipping follows the reduction, as clip_grad_norm_ after DDP's backward: in synchronous mode
      // every worker clips the same averaged gradients; under Local SGD each its own.
      if (clipping) accelerator.record(clipping.norm);
      const lr = learningRate(schedule, step);
      await accelerator.optimizerStep(optimizer, lr);
      await localSgd.step();
      await hooks.afterStep?.(events.parameters(step + 1));

      if ((step + 1) % config.logEvery === 0 || step + 1 === totalSteps) options.onLog(await log.read(step + 1, epoch, lr));
      // Evaluate where every worker holds the same weights: after an averaging round, or any
      // step in synchronous mode or the post-local SGD warmup.
      if (periodic.due(step + 1, localSgd.parametersInSync || accelerator.worldSize === 1)) {
        const t = performance.now();
        doing(`evaluating after step ${step + 1}`);
        const result = await evaluator.evaluate();
        if (result) {
          periodic.seconds += (performance.now() - t) / 1000;
          options.onLog({
            kind: 'eval', rank: accelerator.rank, step: step + 1, accuracy: result.accuracy, loss: result.loss,
            trainSeconds: (performance.now() - trainStart) / 1000 - periodic.seconds,
            bytesCommunicated: accelerator.comm.bytesSent + accelerator.comm.bytesReceived,
          });
        }
      }
      if (config.saveEvery && (step + 1) % config.saveEvery === 0 && step + 1 < totalSteps && accelerator.isMainProcess) await save(step + 1);
      if (options.stopRequested?.()) {
        await save(step + 1);
        throw new InterruptedError(`interrupted after step ${step + 1} of ${totalSteps}` +
          (config.save ? `; saved the weights and optimizer state to ${config.save}: --resume it to continue` : '; no --save FILE was given, so nothing was saved'));
      }
    }
    doing(`averaging the final weights (step ${totalSteps})`);
    await localSgd.close();
    await accelerator.recorder.sync();
    await hooks.afterTraining?.(events.parameters(totalSteps));
    doing(`evaluating the final weights (step ${totalSteps})`);

    // After the closing average every worker holds the same weights; the main process (rank 0, or
    // the lowest survivor) evaluates and saves.
    const test = await evaluator.evaluate();
    if (test) await save(totalSteps);
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const comm: CommTimes = { ...accelerator.comm };
    const commSeconds = comm.readbackSeconds + comm.exchangeSeconds + comm.uploadSeconds;
    return {
      rank: accelerator.rank,
      worldSize: accelerator.worldSize,
      adapter: accelerator.adapterName,
      model: model.description,
      layout: model.layout,
      parameterCount: model.layout.parameterCount,
      steps: totalSteps - start.step,
      samples: (totalSteps - start.step) * config.gradAccum * config.batchSize,
      localSgdRounds: localSgd.rounds,
      finalTrainLoss: log.lastLoss,
      test,
      wallSeconds,
      commSeconds,
      computeSeconds: wallSeconds - commSeconds,
      gpuWaitSeconds: accelerator.recorder.gpuWaitSeconds,
      evalSeconds: periodic.seconds,
      comm,
    };
  } catch (error) {
    throw error instanceof NonFiniteError ? withLikelyCause(error, config) : error;
  } finally {
    accelerator.close();
  }
}

/** A diverged run's error says where to look first. */
function withLikelyCause(error: NonFiniteError, config: TrainConfig): NonFiniteError {
  error.message += `. Training diverged: the likely cause is a learning rate too high for this model (--lr ${config.lr}` +
    `${config.optimizer === 'sgd' ? `, --momentum ${config.momentum}` : ''}), or extreme or non-finite values in the data (--data ${config.data}); ` +
    `the last finite weights are those of the last averaging round or --save checkpoint`;
  return error;
}

interface Run {
  data: TrainingData;
  model: Model;
  optimizer: Optimizer;
  graph: ModelGraph;
  start: StartingPoint;
  totalSteps: number;
  /** --grad-clip's norm dispatches, recorded before each optimizer step (which applies the scale); absent when off. */
  clipping: PreparedGradNormClip | undefined;
}

/** The data, the model (from the config's `model`), its optimizer and where training starts; every worker starts from rank 0's weights. */
async function setUp(config: TrainConfig, accelerator: Accelerator, options: WorkerOptions): Promise<Run> {
  const data = await options.platform.loadData(config, accelerator.rank, accelerator.worldSize);
  const model = await createModel(accelerator.ctx, config.model, data.shape);
  // --grad-clip: the norm dispatches write (norm, scale) here; the optimizer step scales the
  // gradients as it reads them (one pass over them fewer than a separate scaling dispatch).
  const clip = config.gradClip > 0 ? createStorage(accelerator.ctx, 'gradient norm and clip scale', 8) : undefined;
  const optimizer = await createOptimizer(accelerator.ctx, model, { ...config, kind: config.optimizer, weightDecayRoles: model.weightDecayRoles }, { gradScale: clip });
  const totalSteps = config.maxSteps ?? Math.floor((config.epochs * data.batchesPerEpoch) / config.gradAccum);
  if (totalSteps < 1) {
    throw new Error(`--grad-accum ${config.gradAccum} needs at least that many batches, but one epoch holds ${data.batchesPerEpoch}; lower --grad-accum or --batch-size, or raise --epochs`);
  }
  const start = startingPoint(config, model, optimizer, options.channel?.rejoin, totalSteps, options.platform.loadCheckpoint);
  await accelerator.broadcastParameters(model, start.params);
  const graph = await model.graph(config.batchSize, config.gradAccum);
  const clipping = clip ? await prepareGradNormClip(accelerator.ctx, {
    tensors: [{ grads: model.grads, count: model.layout.totalFloats }], maxNorm: config.gradClip,
    clip, label: `clip_grad_norm_ ${config.gradClip}`,
  }) : undefined;
  options.onModel?.({
    description: model.description, layout: model.layout, parameterCount: model.layout.parameterCount, adapter: accelerator.adapterName,
    trainSamples: data.trainSamples, testSamples: data.testSamples, data: data.description, startStep: start.step, totalSteps,
  });
  return { data, model, optimizer, graph, start, totalSteps, clipping };
}

/** The --save checkpoint, with this worker's optimizer state. */
async function saveRun(config: TrainConfig, platform: WorkerPlatform, accelerator: Accelerator, model: Model, optimizer: Optimizer, step: number): Promise<void> {
  if (!config.save) return;
  const params = await accelerator.recorder.stall(() => model.getParameters());
  // A diverged model must not replace the last good checkpoint.
  accelerator.assertFinite(params, `its parameters at step ${step}, to be saved to ${config.save},`);
  platform.saveCheckpoint(config.save, model.layout, {
    params,
    optimizer: { kind: optimizer.kind, state: await optimizer.readState() },
    step,
    config,
  });
}

/** What the hooks are told. */
class HookEvents {
  constructor(private readonly accelerator: Accelerator, private readonly model: Model, private readonly restarts: number) {}

  step(step: number): StepEvent {
    return { rank: this.accelerator.rank, step, restarts: this.restarts };
  }

  parameters(step: number): ParametersEvent {
    return {
      ...this.step(step),
      layout: this.model.layout,
      readParameters: () => this.accelerator.recorder.stall(() => this.model.getParameters()),
    };
  }
}

/** Rank 0's job, taken over by the lowest surviving rank if rank 0 is lost (--on-worker-failure continue). */
class MainProcessEvaluator {
  private evalGraph: ModelGraph | undefined;

  constructor(private readonly accelerator: Accelerator, private readonly model: Model, private readonly data: TrainingData) {}

  /** The evaluation graph on the main process, built on first use; undefined on the others. */
  async graph(): Promise<ModelGraph | undefined> {
    if (!this.accelerator.isMainProcess) return undefined;
    this.evalGraph ??= await this.model.graph(this.data.evalBatchSize, 1, { training: false });
    return this.evalGraph;
  }

  /** The test set's (a language model's validation sample's) loss and accuracy per prediction, on the main process only. */
  async evaluate(): Promise<Evaluation | undefined> {
    const graph = await this.graph();
    return graph && evaluateBatches(this.accelerator, graph, this.data.evalBatches());
  }
}

/** --eval-every N: at the first step where workers agree at or after every N steps. */
class PeriodicEvaluation {
  private next: number;
  /** Time spent in these evaluations. */
  seconds = 0;

  /** `skipThrough`: evaluations at or before this step were made by an earlier process. */
  constructor(private readonly every: number | undefined, skipThrough: number) {
    this.next = every ?? Infinity;
    if (every) while (this.next <= skipThrough) this.next += every;
  }

  due(step: number, workersAgree: boolean): boolean {
    if (step < this.next || !workersAgree) return false;
    this.next += this.every!;
    return true;
  }
}

/** Reads the loss accumulated on the GPU since the last log line: the only read-back in the loop. */
class LogWindow {
  private lastTime = performance.now();
  lastLoss = Number.NaN;

  /** `lastStep`: where this process starts (a resumed or respawned one not at 0), so the first window's mean is over its own steps. */
  constructor(private readonly accelerator: Accelerator, private readonly graph: ModelGraph, private readonly gradAccum: number, private lastStep: number) {}

  async read(step: number, epoch: number, lr: number): Promise<TrainRecord> {
    const { graph, gradAccum } = this;
    const stats = await this.accelerator.recorder.stall(() => graph.readStats(graph.batchSize));
    graph.clearStats();
    const rows = (step - this.lastStep) * gradAccum * graph.batchSize;
    const predictions = rows * graph.predictionsPerSample;
    const now = performance.now();
    const seconds = (now - this.lastTime) / 1000;
    this.lastTime = now;
    this.lastStep = step;
    this.lastLoss = stats.lossSum / predictions;
    if (!Number.isFinite(this.lastLoss)) {
      throw new NonFiniteError(`rank ${this.accelerator.rank}: the training loss is ${this.lastLoss} at step ${step} (the mean over the steps since the last log line)`);
    }
    return {
      kind: 'train',
      rank: this.accelerator.rank,
      step,
      epoch,
      loss: this.lastLoss,
      trainAccuracy: stats.correct / predictions,
      lr,
      samplesPerSecond: rows / seconds,
      time: Date.now() / 1000,
    };
  }
}
