// DiLoCo's outer optimizer (Douillard et al. 2023; torchft and OpenDiLoCo do the same): the
// coordinator keeps the global weights θ that every worker started its local steps from, and at
// each averaging round treats Δ = θ − mean(θ_i) as a gradient for PyTorch's SGD (momentum,
// optionally Nesterov, no dampening):
//   buf ← μ·buf + Δ;   u = Nesterov ? Δ + μ·buf : buf;   θ ← θ − lr·u
// and the new θ goes back to every worker. With lr = 1 and μ = 0 this is plain averaging, and it
// is computed so that it gives exactly the mean's bytes (see step()).
//
// Works on flat float32 tensors only; θ and the momentum buffer are stored in float32 (what the
// workers hold and what a checkpoint saves), each round computed in float64 and rounded once.

export type OuterOptimizerKind = 'sgd' | 'nesterov';

export interface OuterOptimizerOptions {
  kind: OuterOptimizerKind;
  lr: number;
  momentum: number;
}

/** lr 1, momentum 0 (plain SGD): the outer step is plain averaging, the default. */
export function isPlainAveraging(options: OuterOptimizerOptions): boolean {
  return options.kind === 'sgd' && options.lr === 1 && options.momentum === 0;
}

export class OuterOptimizer {
  readonly kind: OuterOptimizerKind;
  readonly lr: number;
  readonly momentum: number;
  /** θ: the weights every worker holds after the last round (or at the start of its local steps). */
  theta: Float32Array | undefined;
  /** PyTorch's momentum_buffer, in θ's layout; zero before the first round. */
  momentumBuffer: Float32Array | undefined;
  /** Outer steps taken. */
  rounds = 0;

  constructor(options: OuterOptimizerOptions) {
    if (options.kind !== 'sgd' && options.kind !== 'nesterov') throw new RangeError(`OuterOptimizer: kind must be sgd or nesterov (got ${String(options.kind)})`);
    if (!(Number.isFinite(options.lr) && options.lr > 0)) throw new RangeError(`OuterOptimizer: lr must be a positive number (got ${options.lr})`);
    if (!(options.momentum >= 0 && options.momentum < 1)) throw new RangeError(`OuterOptimizer: momentum must be in [0, 1) (got ${options.momentum})`);
    if (options.kind === 'nesterov' && options.momentum === 0) {
      throw new RangeError('OuterOptimizer: Nesterov needs a momentum > 0 (as PyTorch\'s SGD(nesterov=True) does)');
    }
    this.kind = options.kind;
    this.lr = options.lr;
    this.momentum = options.momentum;
  }

  get isPlainAveraging(): boolean {
    return isPlainAveraging(this);
  }

  /**
   * θ ← `weights`, which every worker now holds (the initial broadcast, or the end of a post-local
   * SGD warmup), so the next Δ measures only the local steps. Keeps the momentum buffer, which a
   * resumed run has loaded by then.
   */
  setGlobal(weights: Float32Array): void {
    if (this.momentumBuffer && this.momentumBuffer.length !== weights.length) {
      throw new RangeError(`OuterOptimizer: the momentum buffer holds ${this.momentumBuffer.length} floats but the weights ${weights.length}; was the checkpoint written for another model?`);
    }
    if (this.theta?.length === weights.length) this.theta.set(weights);
    else this.theta = weights.slice();
    this.momentumBuffer ??= new Float32Array(weights.length);
  }

  /** Restores the momentum buffer of a checkpoint (before setGlobal, or after it with equal length). */
  loadMomentum(buffer: Float32Array, rounds: number): void {
    if (this.theta && this.theta.length !== buffer.length) {
      throw new RangeError(`OuterOptimizer: momentum buffer of ${buffer.length} floats for weights of ${this.theta.length}`);
    }
    this.momentumBuffer = buffer.slice();
    this.rounds = rounds;
  }

  /** Replaces `mean` (the workers' averaged weights) in place by the new θ, keeps it as θ, and returns it. */
  step(mean: Float32Array): Float32Array {
    const theta = this.theta;
    const buf = this.momentumBuffer;
    if (!theta || !buf) throw new Error('OuterOptimizer: step() before setGlobal(); the coordinator sets θ from the initial broadcast of rank 0\'s weights');
    if (mean.length !== theta.length) throw new RangeError(`OuterOptimizer: mean of ${mean.length} floats for θ of ${theta.length}`);
    const { lr, momentum: mu } = this;
    const nesterov = this.kind === 'nesterov';
    for (let i = 0; i < mean.length; i++) {
      const m = mean[i]!;
      const delta = theta[i]! - m;
      const b = mu * buf[i]! + delta;
      buf[i] = b;
      // u from the float64 b, not the stored float32 one: with μ = 0, b is Δ exactly, so u = Δ.
      const u = nesterov ? delta + mu * b : b;
      // θ − lr·u written as m + (Δ − lr·u): with lr = 1 and u = Δ the bracket is exactly 0, so the
      // result is the mean's own bytes. θ − 1·(θ − m) is m only while θ − m is exact: for θ = 0.5
      // and m = 1e-42, θ − m rounds to θ and the result is 0 (likewise in float32 arithmetic for
      // much closer magnitudes). Where the step is 0 take m itself: m + 0 turns a −0 mean into +0.
      const step = delta - lr * u;
      theta[i] = mean[i] = step === 0 ? m : m + step;
    }
    this.rounds++;
    return mean;
  }
}
