// SGD (momentum, Nesterov, weight decay) and AdamW over the whole flat parameter buffer in one
// dispatch each, with PyTorch's semantics; optionally with a per-element weight-decay mask and with
// clip_grad_norm_'s scale applied as the gradients are read. See shaders/optimizers.wgsl.
//
// Hyper-parameters live in a uniform that setHyper rewrites before each step's submit, so a
// learning-rate schedule costs one small queue.writeBuffer and no recompilation. setHyper runs
// every step: it validates, packs into one reused ArrayBuffer and writes; nothing else.
import code from '../../shaders/optimizers.wgsl';
import type { GpuContext } from '../gpu/device.js';
import { createBindGroup, gridOfQuads, type Dispatch, type TensorRef } from '../gpu/dispatch.js';
import { createStorage, createUniform } from '../gpu/buffers.js';
import { assertHolds, assertWholeNumber } from './uniforms.js';

const SHADER = { file: 'optimizers.wgsl', code };
const WORKGROUP = 256;

export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** Default 0, as in PyTorch. */
  dampening?: number;
}

export interface PreparedSgd {
  dispatch: Dispatch;
  /** firstStep: the momentum buffer is initialised from this step's gradient (PyTorch's first step). */
  setHyper(h: SgdHyper & { firstStep: boolean }): void;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based, for bias correction. */
  step: number;
}

export interface PreparedAdamW {
  dispatch: Dispatch;
  setHyper(h: AdamWHyper): void;
}

export interface SgdArgs {
  params: TensorRef;
  grads: TensorRef;
  /** Unused (but still bound) when momentum is 0. */
  momentumBuffer: TensorRef;
  count: number;
  /** As AdamWArgs.decayMask: elements whose bit is clear step with weightDecay 0. */
  decayMask?: TensorRef | undefined;
  /** As AdamWArgs.gradScale. */
  gradScale?: TensorRef | undefined;
  label?: string;
}

export interface AdamWArgs {
  params: TensorRef;
  grads: TensorRef;
  /** First and second moments, zero-initialised by the caller before step 1. */
  m: TensorRef;
  v: TensorRef;
  count: number;
  /**
   * Per-element weight-decay mask, u32 words of 32 bits (build it with `weightDecayMask`): element
   * i decays iff bit i % 32 of word ⌊i / 32⌋ is set. Without it every element decays.
   */
  decayMask?: TensorRef | undefined;
  /**
   * clip_grad_norm_ fused: a (norm, scale) pair of f32 as prepareGradNormClip's `clip` (written by its
   * `norm` dispatches, encoded before this step); each gradient is multiplied by the scale as it is
   * read, the product its `scale` dispatches would have stored, so they need not run. The gradient
   * buffer is left unscaled.
   */
  gradScale?: TensorRef | undefined;
  label?: string;
}

/** A range of the flat buffer, in floats, and whether AdamW decays it (nanoGPT: 2-D weights only). */
export interface DecayRange {
  offset: number;
  count: number;
  decays: boolean;
}

/**
 * The bits `AdamWArgs.decayMask` takes, from the layout's tensors: ranges not listed (alignment
 * padding) do not decay. Upload once; it changes only with the layout.
 */
export function weightDecayMask(count: number, ranges: readonly DecayRange[]): Uint32Array {
  assertWholeNumber('weightDecayMask', 'count', count, 1);
  const bits = new Uint32Array(Math.ceil(count / 32));
  for (const r of ranges) {
    assertWholeNumber('weightDecayMask', 'range offset', r.offset);
    assertWholeNumber('weightDecayMask', 'range count', r.count);
    if (r.offset + r.count > count) {
      throw new RangeError(`weightDecayMask: range ${r.offset}..${r.offset + r.count} is past the ${count} floats of the buffer`);
    }
    if (!r.decays) continue;
    for (let i = r.offset; i < r.offset + r.count; i++) bits[i >>> 5]! |= 1 << (i & 31);
  }
  return bits;
}

const FLAG_MOMENTUM = 1;
const FLAG_NESTEROV = 2;
const FLAG_FIRST_STEP = 4;
/** Both hyper-parameter structs' flags. */
const FLAG_DECAY_MASK = 8;
const FLAG_GRAD_SCALE = 16;

/**
 * The flags and the two optional bindings (mask, scale) both entries take; an absent one is a
 * 4-byte placeholder, which a binding needs although the shader never reads it.
 */
function optionalInputs(ctx: GpuContext, name: string, count: number, args: { decayMask?: TensorRef | undefined; gradScale?: TensorRef | undefined }): { flags: number; bindings: TensorRef[] } {
  if (args.decayMask) assertHolds(name, 'decayMask', args.decayMask, Math.ceil(count / 32), `count=${count} (one bit per element)`, 'u32 words');
  if (args.gradScale) assertHolds(name, 'gradScale', args.gradScale, 2, 'its (norm, scale) pair');
  const placeholder = (what: string) => createStorage(ctx, `${name} (no ${what})`, 4);
  return {
    flags: (args.decayMask ? FLAG_DECAY_MASK : 0) | (args.gradScale ? FLAG_GRAD_SCALE : 0),
    bindings: [args.decayMask ?? placeholder('weight-decay mask'), args.gradScale ?? placeholder('gradient scale')],
  };
}

export async function prepareSgd(ctx: GpuContext, args: SgdArgs): Promise<PreparedSgd> {
  const name = args.label ?? 'sgd';
  const { count } = args;
  checkTensors(name, count, [['params', args.params], ['grads', args.grads], ['momentumBuffer', args.momentumBuffer]]);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'sgd', constants: { WG: WORKGROUP } });
  const optional = optionalInputs(ctx, name, count, args);
  const hyper = new HyperBuffer(ctx, `${name} hyper-parameters`, 8);
  // Until setHyper runs, lr is NaN: a step taken without hyper-parameters poisons the parameters
  // visibly instead of silently doing nothing.
  hyper.u32(0, count).u32(1, optional.flags).f32(2, NaN).write();
  const bindGroup = createBindGroup(ctx, name, pipeline, [hyper.buffer, args.params, args.grads, args.momentumBuffer, ...optional.bindings]);
  return {
    dispatch: { label: name, pipeline, bindGroup, workgroups: gridOfQuads(count, WORKGROUP) },
    setHyper(h) {
      const dampening = h.dampening ?? 0;
      finite(name, 'lr', h.lr, 0);
      finite(name, 'momentum', h.momentum, 0);
      finite(name, 'weightDecay', h.weightDecay, 0);
      finite(name, 'dampening', dampening);
      if (h.nesterov && (h.momentum <= 0 || dampening !== 0)) {
        throw new RangeError(`${name}: Nesterov momentum needs momentum > 0 and dampening = 0 (got momentum=${h.momentum}, dampening=${dampening}), as in torch.optim.SGD`);
      }
      const flags = optional.flags | (h.momentum !== 0 ? FLAG_MOMENTUM : 0) | (h.nesterov ? FLAG_NESTEROV : 0) | (h.firstStep ? FLAG_FIRST_STEP : 0);
      hyper.u32(0, count).u32(1, flags).f32(2, h.lr).f32(3, h.momentum).f32(4, h.weightDecay).f32(5, 1 - dampening).write();
    },
  };
}

export async function prepareAdamW(ctx: GpuContext, args: AdamWArgs): Promise<PreparedAdamW> {
  const name = args.label ?? 'adamw';
  const { count } = args;
  checkTensors(name, count, [['params', args.params], ['grads', args.grads], ['m', args.m], ['v', args.v]]);
  const { flags, bindings } = optionalInputs(ctx, name, count, args);
  const pipeline = await ctx.pipelines.get({ shader: SHADER, entry: 'adamw', constants: { WG: WORKGROUP } });
  const hyper = new HyperBuffer(ctx, `${name} hyper-parameters`, 12);
  hyper.u32(0, count).f32(6, NaN).u32(9, flags).write(); // stepSize NaN until setHyper: see prepareSgd
  const bindGroup = createBindGroup(ctx, name, pipeline, [hyper.buffer, args.params, args.grads, args.m, args.v, ...bindings]);
  return {
    dispatch: { label: name, pipeline, bindGroup, workgroups: gridOfQuads(count, WORKGROUP) },
    setHyper(h) {
      finite(name, 'lr', h.lr, 0);
      finite(name, 'beta1', h.beta1, 0, 1);
      finite(name, 'beta2', h.beta2, 0, 1);
      finite(name, 'weightDecay', h.weightDecay, 0);
      finite(name, 'eps', h.eps);
      if (!(h.eps > 0)) throw new RangeError(`${name}: eps must be > 0, e.g. 1e-8 (got ${h.eps})`);
      assertWholeNumber(name, 'step (1-based, for bias correction)', h.step, 1);
      // Bias corrections in float64, in the order of PyTorch's single-tensor AdamW.
      const stepSize = h.lr / (1 - h.beta1 ** h.step);
      const bc2Sqrt = Math.sqrt(1 - h.beta2 ** h.step);
      hyper.u32(0, count).f32(1, 1 - h.lr * h.weightDecay).f32(2, h.beta1).f32(3, h.beta2)
        .f32(4, 1 - h.beta1).f32(5, 1 - h.beta2).f32(6, stepSize).f32(7, bc2Sqrt).f32(8, h.eps).u32(9, flags).write();
    },
  };
}

/** One uniform buffer and one reused CPU-side copy of it. */
class HyperBuffer {
  readonly buffer: GPUBuffer;
  private readonly bytes: ArrayBuffer;
  private readonly view: DataView;

  constructor(private readonly ctx: GpuContext, label: string, fields: number) {
    this.bytes = new ArrayBuffer(Math.ceil((fields * 4) / 16) * 16);
    this.view = new DataView(this.bytes);
    this.buffer = createUniform(ctx, label, this.bytes.byteLength);
  }

  u32(field: number, value: number): this {
    this.view.setUint32(field * 4, value, true);
    return this;
  }

  f32(field: number, value: number): this {
    this.view.setFloat32(field * 4, value, true);
    return this;
  }

  write(): void {
    this.ctx.device.queue.writeBuffer(this.buffer, 0, this.bytes);
  }
}

function checkTensors(name: string, count: number, tensors: [string, TensorRef][]): void {
  assertWholeNumber(name, 'count', count, 1);
  for (const [what, ref] of tensors) assertHolds(name, what, ref, count);
}

/** Throws unless value is finite and in [min, maxExclusive). */
function finite(name: string, what: string, value: number, min = -Infinity, maxExclusive = Infinity): void {
  if (!Number.isFinite(value) || value < min || value >= maxExclusive) {
    const range = maxExclusive < Infinity ? ` in [${min}, ${maxExclusive})` : min > -Infinity ? ` >= ${min}` : '';
    throw new RangeError(`${name}: hyper-parameter ${what} must be a finite number${range} (got ${value})`);
  }
}
