// One worker's training run. The loop in trainWorker reads like the seed tutorial: load a batch,
// forward + loss + backward (accumulating gradients in-kernel), optimizer step, localSgd.step().
import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { Accelerator, type CommTimes } from '../accelerate/accelerator.js';
import { LocalSGD } from '../accelerate/local-sgd.js';
import type { Rejoin, WorkerChannel } from '../comm/worker-channel.js';
import { initMlpParameters } from '../nn/init.js';
import { Mlp, type MlpGraph } from '../nn/mlp.js';
import { createOptimizer, type Optimizer } from '../nn/optimizer.js';
import { learningRate, type ScheduleConfig } from '../nn/schedule.js';
import type { TrainConfig } from './config.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { loadTrainingData } from './data.js';
import { evaluate, type Evaluation } from './evaluate.js';
import type { EvalRecord, TrainRecord, WorkerSummary } from './records.js';
import { sigkillIfTestAsks } from './fault-injection.js';

/** Debugging and tests: every rank also saves its final weights to `<--save>.rank<r>`. */
export const SAVE_EVERY_RANK_ENV = 'LOCALSGD_SAVE_EVERY_RANK';

/**
 * Tests: every rank appends `{step, digest}` (SHA-256 of its weights' bytes) after every optimizer
 * step to `<value>.rank<r>.jsonl`, so a test can see when workers agree bit for bit.
 */
export const TRACE_WEIGHTS_ENV = 'LOCALSGD_TRACE_WEIGHTS';

export interface ModelInfo {
  sizes: readonly number[];
  parameterCount: number;
  adapter: string;
  trainSamples: number;
  testSamples: number;
  data: string;
  /** Optimizer steps before this run (a resumed one) and at its end. */
  startStep: number;
  totalSteps: number;
}

export interface WorkerHooks {
  channel?: WorkerChannel | undefined;
  /** Receives every logged step (rank-local numbers). */
  onLog: (record: TrainRecord | EvalRecord) => void;
  /** Called with rank 0's model description once it is known (used to save on Ctrl-C). */
  onModel?: (info: ModelInfo) => void;
}

export async function trainWorker(config: TrainConfig, hooks: WorkerHooks): Promise<WorkerSummary> {
  const wallStart = performance.now();
  const accelerator = await Accelerator.create({
    gradientAccumulationSteps: config.gradAccum,
    gpu: { adapter: config.adapter ?? process.env.WEBGPU_ADAPTER, backend: config.backend ?? process.env.WEBGPU_BACKEND },
    channel: hooks.channel,
    commDtype: config.commDtype,
  });
  try {
    const data = await loadTrainingData(config);
    const model = new Mlp(accelerator.ctx, {
      inputs: data.train.features, hidden: config.hidden, classes: data.train.classes, activation: config.activation,
    });
    const optimizer = await createOptimizer(accelerator.ctx, model, { ...config, kind: config.optimizer });
    const loader = accelerator.prepareLoader(data.train, { batchSize: config.batchSize, shuffle: config.shuffle, seed: config.seed });
    const totalSteps = config.maxSteps ?? Math.floor((config.epochs * loader.batchesPerEpoch) / config.gradAccum);
    if (totalSteps < 1) {
      throw new Error(`--grad-accum ${config.gradAccum} needs at least that many batches, but one epoch holds ${loader.batchesPerEpoch}; lower --grad-accum or --batch-size, or raise --epochs`);
    }
    const start = startingPoint(config, model, optimizer, hooks.channel?.rejoin, totalSteps);
    await accelerator.broadcastParameters(model, start.params);
    const graph = await model.graph(config.batchSize, config.gradAccum);
    hooks.onModel?.({
      sizes: model.sizes, parameterCount: model.layout.parameterCount, adapter: accelerator.adapterName,
      trainSamples: data.train.count, testSamples: data.test.count, data: data.train.name, startStep: start.step, totalSteps,
    });
    const schedule: ScheduleConfig = { kind: config.schedule, baseLr: config.lr, warmupSteps: config.warmupSteps, totalSteps };
    const log = new LogWindow(accelerator, graph.batchSize, start.step);
    const save = async (step: number) => {
      if (!config.save) return;
      saveCheckpoint(config.save, model.layout, {
        params: await accelerator.recorder.stall(() => model.getParameters()),
        optimizer: { kind: optimizer.kind, state: await optimizer.readState() },
        step,
        config,
      });
    };

    let evalGraph: MlpGraph | undefined;
    // Rank 0's job, taken over by the lowest surviving rank if rank 0 is lost (--on-worker-failure continue).
    const mainEvalGraph = async () => {
      if (accelerator.isMainProcess) evalGraph ??= await model.graph(Math.min(config.evalBatchSize, data.test.count), 1, { training: false });
      return accelerator.isMainProcess ? evalGraph : undefined;
    };
    await mainEvalGraph();
    let evalSeconds = 0;
    let nextEval = config.evalEvery ?? Infinity;
    // A respawned rank 0 does not repeat the evaluations its predecessor made before the rejoin point.
    if (hooks.channel?.rejoin) while (nextEval <= start.step) nextEval += config.evalEvery!;
    const trainStart = performance.now();
    await accelerator.recorder.sync(); // start the step-time estimate from an idle GPU
    const localSgd = new LocalSGD({
      accelerator, model, localSgdSteps: config.localSgdSteps, enabled: config.localSgd,
      warmupSteps: config.localSgdWarmupSteps, startStep: start.step,
    });
    const trace = weightTrace(accelerator, model);
    for (let step = start.step; step < totalSteps; step++) {
      sigkillIfTestAsks(accelerator.rank, hooks.channel?.rejoin?.restarts ?? 0, step);
      let epoch = 0;
      for (let micro = 0; micro < config.gradAccum; micro++) {
        const position = step * config.gradAccum + micro;
        epoch = Math.floor(position / loader.batchesPerEpoch);
        const batch = loader.batch(epoch, position % loader.batchesPerEpoch);
        accelerator.recorder.flush(); // the previous micro-batch must read x before it is overwritten
        graph.upload(batch.x, batch.y);
        accelerator.record(graph.trainDispatches(micro === 0));
      }
      await accelerator.reduceGradients(model);
      const lr = learningRate(schedule, step);
      accelerator.record([optimizer.prepareStep(lr)]);
      await accelerator.recorder.endStep();
      await localSgd.step();
      await trace?.(step + 1);

      if ((step + 1) % config.logEvery === 0 || step + 1 === totalSteps) {
        hooks.onLog(await log.read(step + 1, epoch, lr, graph, config.gradAccum));
      }
      // Evaluate where every worker holds the same weights: after an averaging round, or any
      // step in synchronous mode or the post-local SGD warmup.
      const workersAgree = localSgd.parametersInSync || accelerator.worldSize === 1;
      if (step + 1 >= nextEval && workersAgree) {
        nextEval += config.evalEvery!;
        const evalGraph = await mainEvalGraph();
        if (evalGraph) {
          const t = performance.now();
          const result = await evaluate(accelerator, evalGraph, data.test);
          evalSeconds += (performance.now() - t) / 1000;
          hooks.onLog({
            kind: 'eval', rank: accelerator.rank, step: step + 1, accuracy: result.accuracy, loss: result.loss,
            trainSeconds: (performance.now() - trainStart) / 1000 - evalSeconds,
            bytesCommunicated: accelerator.comm.bytesSent + accelerator.comm.bytesReceived,
          });
        }
      }
      if (config.saveEvery && (step + 1) % config.saveEvery === 0 && step + 1 < totalSteps && accelerator.isMainProcess) {
        await save(step + 1);
      }
    }
    await localSgd.close();
    await accelerator.recorder.sync();

    if (process.env[SAVE_EVERY_RANK_ENV] && config.save) {
      saveCheckpoint(`${config.save}.rank${accelerator.rank}`, model.layout, { params: await model.getParameters(), step: totalSteps });
    }
    // After the closing average every worker holds the same weights; the main process (rank 0, or
    // the lowest survivor) evaluates and saves.
    let test: Evaluation | undefined;
    sigkillIfTestAsks(accelerator.rank, hooks.channel?.rejoin?.restarts ?? 0, totalSteps); // after the closing round
    const finalEvalGraph = await mainEvalGraph();
    if (finalEvalGraph) {
      test = await evaluate(accelerator, finalEvalGraph, data.test);
      await save(totalSteps);
    }
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const comm: CommTimes = { ...accelerator.comm };
    const commSeconds = comm.readbackSeconds + comm.exchangeSeconds + comm.uploadSeconds;
    return {
      rank: accelerator.rank,
      worldSize: accelerator.worldSize,
      adapter: accelerator.adapterName,
      sizes: [...model.sizes],
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
      evalSeconds,
      comm,
    };
  } finally {
    accelerator.close();
  }
}

/**
 * Where this worker starts. A process that took over a lost rank (--on-worker-failure respawn)
 * starts from the last averaged parameters, at the step they were averaged, with fresh optimizer
 * state (zero moments): Local SGD averages only parameters, so no worker's moments were ever
 * shared, and the dead one's are gone.
 */
function startingPoint(config: TrainConfig, model: Mlp, optimizer: Optimizer, rejoin: Rejoin | undefined, totalSteps: number): { params: Float32Array; step: number } {
  if (rejoin && !config.localSgd) {
    throw new Error('a respawned worker can only rejoin a Local SGD run: synchronous mode never averages parameters, so there are none to rejoin from');
  }
  // Lost before the first averaging round: start exactly as at launch.
  if (!rejoin?.params) return launchPoint(config, model, optimizer);
  if (rejoin.params.length !== model.layout.totalFloats) {
    throw new Error(`rejoin parameters hold ${rejoin.params.length} floats, but this model's flat buffer has ${model.layout.totalFloats}`);
  }
  // The server's init says at which step the average was taken (each parameter round carries it).
  // The --resume file is not read again: by now --checkpoint-every may have overwritten it with a later round.
  if (rejoin.step === undefined) throw new Error('rejoin parameters came without the step they were averaged at; the workers\' parameter rounds must carry it');
  return { params: rejoin.params, step: Math.min(rejoin.step, totalSteps) };
}

function launchPoint(config: TrainConfig, model: Mlp, optimizer: Optimizer): { params: Float32Array; step: number } {
  if (config.resume) {
    const loaded = loadCheckpoint(config.resume, model.layout, { withOptimizer: true, optimizerKind: optimizer.kind, optimizerStates: optimizer.stateNames });
    // A whole-run checkpoint has no worker optimizer state (it is local to each worker): workers
    // restart theirs, momentum and AdamW moments at zero with bias correction counted from this
    // restart, while the learning-rate schedule and the data continue from the checkpoint's step.
    if (loaded.optimizer) optimizer.loadState(loaded.optimizer.state, loaded.step);
    return { params: loaded.params, step: loaded.step };
  }
  if (config.init) return { params: loadCheckpoint(config.init, model.layout, { withOptimizer: false }).params, step: 0 };
  return { params: initMlpParameters(model.layout, config.seed), step: 0 };
}

function weightTrace(accelerator: Accelerator, model: Mlp): ((step: number) => Promise<void>) | undefined {
  const prefix = process.env[TRACE_WEIGHTS_ENV];
  if (!prefix) return undefined;
  const path = `${prefix}.rank${accelerator.rank}.jsonl`;
  writeFileSync(path, '');
  return async (step) => {
    const params = await accelerator.recorder.stall(() => model.getParameters()); // a stall per step: tests only
    const digest = createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex');
    appendFileSync(path, `${JSON.stringify({ step, digest })}\n`);
  };
}

/** Reads the loss accumulated on the GPU since the last log line: the only read-back in the loop. */
class LogWindow {
  private lastTime = performance.now();
  lastLoss = Number.NaN;

  /** `lastStep`: where this process starts (a resumed or respawned one not at 0), so the first window's mean is over its own steps. */
  constructor(private readonly accelerator: Accelerator, private readonly batchSize: number, private lastStep: number) {}

  async read(step: number, epoch: number, lr: number, graph: MlpGraph, gradAccum: number): Promise<TrainRecord> {
    const recorder = this.accelerator.recorder;
    const stats = await recorder.stall(() => graph.readStats(this.batchSize));
    graph.clearStats();
    const rows = (step - this.lastStep) * gradAccum * this.batchSize;
    const now = performance.now();
    const seconds = (now - this.lastTime) / 1000;
    this.lastTime = now;
    this.lastStep = step;
    this.lastLoss = stats.lossSum / rows;
    return {
      kind: 'train',
      rank: this.accelerator.rank,
      step,
      epoch,
      loss: this.lastLoss,
      trainAccuracy: stats.correct / rows,
      lr,
      samplesPerSecond: rows / seconds,
      time: Date.now() / 1000,
    };
  }
}
