// The Accelerator of this project (after Hugging Face Accelerate): it owns the worker's WebGPU
// device and its channel to the coordinator, shards the data by rank, records each training step
// into one command buffer, and averages gradients across workers in synchronous data-parallel mode.
import { openGpu, formatAdapter, GpuContext, type GpuOptions } from '../gpu/device.js';
import { readFloat32, writeBuffer } from '../gpu/buffers.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ShardedLoader } from '../data/loader.js';
import type { Dataset } from '../data/dataset.js';
import type { Batch } from '../data/batch.js';
import type { ModelGraph } from '../nn/model.js';
import type { CommDtype } from '../comm/delta-codec.js';
import type { MemberChannel } from '../comm/member-channel.js';
import type { AveragingScope } from '../comm/protocol.js';
import { CompressedAveraging } from './delta-codec.js';
import { describeNonFinite, firstNonFinite, NonFiniteError } from './finite.js';
import { StepRecorder } from './step-recorder.js';

/** Anything whose parameters and gradients are flat GPU buffers. */
export interface FlatModel {
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
}

export interface CommTimes {
  /** GPU → CPU copies of parameters or gradients. */
  readbackSeconds: number;
  /** From sending to the coordinator until the averaged result arrived (transfer + reduction). */
  exchangeSeconds: number;
  /** CPU → GPU writes of the averaged result. */
  uploadSeconds: number;
  /** All-reduces of parameters (Local SGD averaging). */
  parameterRounds: number;
  /** All-reduces of gradients (synchronous data-parallel). */
  gradientRounds: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface AcceleratorOptions {
  gradientAccumulationSteps: number;
  /** Which device to open, or one opened already. */
  gpu?: GpuOptions | GpuContext;
  channel?: MemberChannel | undefined;
  /**
   * What parameter averaging sends: f32 (default), or f16/bf16 deltas from the last average
   * (accelerate/delta-codec.ts). Gradient rounds always send f32.
   */
  commDtype?: CommDtype;
}

export class Accelerator {
  readonly rank: number;
  readonly worldSize: number;
  readonly recorder: StepRecorder;
  /** False under Local SGD: gradients stay local (Accelerate's no_sync). */
  gradientSyncEnabled = true;
  readonly comm: CommTimes = { readbackSeconds: 0, exchangeSeconds: 0, uploadSeconds: 0, parameterRounds: 0, gradientRounds: 0, bytesSent: 0, bytesReceived: 0 };

  private compressed: CompressedAveraging | undefined;

  private constructor(
    readonly ctx: GpuContext,
    readonly gradientAccumulationSteps: number,
    readonly channel: MemberChannel | undefined,
    readonly commDtype: CommDtype,
  ) {
    this.rank = channel?.rank ?? 0;
    this.worldSize = channel?.worldSize ?? 1;
    this.recorder = new StepRecorder(ctx);
  }

  static async create(options: AcceleratorOptions): Promise<Accelerator> {
    const ctx = options.gpu instanceof GpuContext ? options.gpu : await openGpu(options.gpu);
    return new Accelerator(ctx, options.gradientAccumulationSteps, options.channel, options.commDtype ?? 'f32');
  }

  /** Rank 0, or the lowest surviving rank once rank 0 has been lost (--on-worker-failure continue). */
  get isMainProcess(): boolean {
    return this.rank === (this.channel?.mainRank ?? 0);
  }

  get adapterName(): string {
    return formatAdapter(this.ctx.info);
  }

  /** Rank 0's view of the data is not special: every rank gets its own disjoint shard. */
  prepareLoader(dataset: Dataset, options: { batchSize: number; shuffle: boolean; seed: number }): ShardedLoader {
    return new ShardedLoader(dataset, { ...options, rank: this.rank, worldSize: this.worldSize });
  }

  /**
   * Starts every worker from rank 0's parameters, as data-parallel training requires. A process that
   * takes over a lost rank after that broadcast passes the weights it rejoins with instead.
   */
  async broadcastParameters(model: FlatModel, initial: Float32Array): Promise<void> {
    writeBuffer(this.ctx, model.params, initial);
    const rejoin = this.channel?.rejoin;
    if (rejoin && rejoin.rounds.params > 0 && this.commDtype !== 'f32') {
      // It rejoins with the last average, which the coordinator and every other worker hold as
      // their anchor: its next round must send a 16-bit delta like theirs, not the first f32 round.
      (await this.compression(model)).setAnchor(initial);
    }
    if (!this.channel || this.worldSize === 1 || (rejoin?.rounds.broadcast ?? 0) > 0) return;
    const received = await this.channel.broadcast(this.isMainProcess ? initial : undefined);
    writeBuffer(this.ctx, model.params, received);
  }

  /**
   * Sends the main process's parameters to every worker without writing them: after synchronous steps they
   * already hold the same bytes (the same averaged gradients applied by the same kernels). The
   * broadcast tells the coordinator's outer optimizer which weights the local steps start from.
   */
  async announceParameters(model: FlatModel): Promise<void> {
    if (!this.channel || this.worldSize === 1) return;
    await this.recorder.sync();
    // The main process sends: rank 0, or the lowest survivor if rank 0 was lost (--on-worker-failure continue).
    await this.channel.broadcast(this.isMainProcess ? await readFloat32(this.ctx, model.params) : undefined);
  }

  /** True on the micro-batch that completes an accumulation cycle (Accelerate's sync_gradients). */
  isLastMicroBatch(microBatch: number): boolean {
    return (microBatch + 1) % this.gradientAccumulationSteps === 0;
  }

  record(dispatches: readonly Dispatch[]): void {
    this.recorder.record(dispatches);
  }

  /**
   * Records forward, loss and backward of one micro-batch into the step's command buffer (the
   * tutorial's `loss = model(inputs); accelerator.backward(loss)`): the first micro-batch of an
   * accumulation cycle overwrites the gradients, later ones add to them in-kernel.
   */
  backward(graph: ModelGraph, batch: Batch, microBatch: number): void {
    this.recorder.flush(); // the micro-batch recorded before must read its inputs before the upload overwrites them
    graph.upload(batch);
    this.record(graph.trainDispatches(microBatch % this.gradientAccumulationSteps === 0));
  }

  /** Records the optimizer's step and ends the step's command buffer. */
  async optimizerStep(optimizer: { prepareStep(lr: number): Dispatch[] }, lr: number): Promise<void> {
    this.record(optimizer.prepareStep(lr));
    await this.recorder.endStep();
  }

  /** Synchronous data-parallel: averages the accumulated gradients across workers. */
  async reduceGradients(model: FlatModel): Promise<void> {
    if (!this.gradientSyncEnabled || this.worldSize === 1) return;
    await this.allReduceMean('grads', model.grads);
  }

  /**
   * Local SGD: replaces every worker's parameters by their mean. With a 16-bit commDtype, the
   * first round sends f32 and sets the anchor; later rounds send 16-bit deltas from it. `step`
   * (the optimizer steps taken) travels with the round: a worker that takes over a lost rank starts there.
   */
  async averageParameters(model: FlatModel, step?: number, scope: AveragingScope = 'global'): Promise<void> {
    if (this.worldSize === 1) return;
    if (this.commDtype === 'f32') {
      await this.allReduceMean('params', model.params, step, scope);
      return;
    }
    if (scope !== 'global') throw new Error(`internal: a ${this.commDtype} parameter round within machines; across machines workers send f32 and the launchers compress`);
    const compressed = await this.compression(model);
    if (!compressed.ready) {
      compressed.setAnchor(await this.allReduceMean('params', model.params, step));
      return;
    }
    await this.recorder.sync();
    const times = await compressed.round(this.channel!, step);
    this.comm.readbackSeconds += times.readbackSeconds;
    this.comm.exchangeSeconds += times.exchangeSeconds;
    this.comm.uploadSeconds += times.uploadSeconds;
    this.comm.parameterRounds++;
    this.comm.bytesSent += times.bytes;
    this.comm.bytesReceived += times.bytes;
  }

  /** The 16-bit averaging state, made on first use. */
  private async compression(model: FlatModel): Promise<CompressedAveraging> {
    const dtype = this.commDtype;
    if (dtype === 'f32') throw new Error('internal: 16-bit averaging state asked for with --comm-dtype f32');
    // Every float of the buffer travels, as in the f32 rounds (the padding that aligns tensors included).
    this.compressed ??= await CompressedAveraging.create(this.ctx, model.params, model.params.size / 4, dtype);
    return this.compressed;
  }

  private async allReduceMean(tag: 'params' | 'grads', buffer: GPUBuffer, step?: number, scope: AveragingScope = 'global'): Promise<Float32Array> {
    const channel = this.channel!;
    // Drain the queue first, so the read-back time below is the copy alone, not the step's compute.
    await this.recorder.sync();
    let t = performance.now();
    const local = await readFloat32(this.ctx, buffer);
    this.comm.readbackSeconds += (performance.now() - t) / 1000;
    // Checked before sending, so the rank that diverged first is the one named, and a NaN never
    // reaches the average (or a checkpoint written from it).
    this.assertFinite(local, `its ${tag === 'params' ? 'parameters' : 'gradients'} before ${describeRound(tag, step)}`);
    t = performance.now();
    const mean = await channel.allReduceMean(tag, local, step, scope);
    this.comm.exchangeSeconds += (performance.now() - t) / 1000;
    this.assertFinite(mean, `the average it received in ${describeRound(tag, step)}`);
    t = performance.now();
    writeBuffer(this.ctx, buffer, mean);
    this.comm.uploadSeconds += (performance.now() - t) / 1000;
    if (tag === 'params') this.comm.parameterRounds++;
    else this.comm.gradientRounds++;
    this.comm.bytesSent += local.byteLength;
    this.comm.bytesReceived += mean.byteLength;
    return mean;
  }

  /** Throws a NonFiniteError naming this rank and `what` if `values` holds a NaN or ±Infinity. */
  assertFinite(values: Float32Array, what: string): void {
    const at = firstNonFinite(values);
    if (at >= 0) throw new NonFiniteError(`rank ${this.rank}: ${what} hold ${describeNonFinite(values, at)} (element ${at} of ${values.length})`);
  }

  /** Prints on rank 0 only (llm.c's printf0). */
  print(message: string): void {
    if (this.isMainProcess) console.log(message);
  }

  close(): void {
    this.compressed?.destroy();
    this.ctx.close();
  }
}

function describeRound(tag: 'params' | 'grads', step: number | undefined): string {
  return tag === 'params' ? `the parameter average${step === undefined ? '' : ` at step ${step}`}` : 'the gradient average';
}
