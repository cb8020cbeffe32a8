// A float64 CPU simulation of data-parallel MLP training with plain SGD (no momentum, no weight
// decay, constant lr): W workers on their own shards, parameters averaged every K steps and at the
// end (Local SGD), or gradients averaged every step (synchronous); optionally a post-local SGD
// warmup and a DiLoCo outer optimizer (PyTorch SGD on θ − mean). The reference the GPU run must match.
import type { Dataset } from '../../src/data/dataset.js';
import { ShardedLoader } from '../../src/data/loader.js';
import type { ParameterLayout } from '../../src/nn/layout.js';

export interface CpuRunOptions {
  layout: ParameterLayout;
  sizes: readonly number[];
  init: Float32Array;
  dataset: Dataset;
  worldSize: number;
  batchSize: number;
  steps: number;
  lr: number;
  seed: number;
  shuffle: boolean;
  /** undefined: synchronous gradient averaging. */
  localSgdSteps: number | undefined;
  /** Post-local SGD: synchronous steps before Local SGD; rounds after steps W+K, W+2K, ... */
  warmupSteps?: number;
  outer?: { kind: 'sgd' | 'nesterov'; lr: number; momentum: number };
}

/** Gradient of the mean softmax cross-entropy over one batch, ReLU hidden layers, in float64. */
export function mlpGradient(layout: ParameterLayout, sizes: readonly number[], params: Float64Array, x: Float32Array, y: Uint32Array, rows: number): Float64Array {
  const L = sizes.length - 1;
  const W = (l: number) => layout.tensors[2 * l]!.offset;
  const b = (l: number) => layout.tensors[2 * l + 1]!.offset;
  const acts: Float64Array[] = [Float64Array.from(x.subarray(0, rows * sizes[0]!))];
  const pre: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    const [nIn, nOut] = [sizes[l]!, sizes[l + 1]!];
    const z = new Float64Array(rows * nOut);
    for (let i = 0; i < rows; i++) {
      for (let o = 0; o < nOut; o++) {
        let s = params[b(l) + o]!;
        for (let k = 0; k < nIn; k++) s += acts[l]![i * nIn + k]! * params[W(l) + o * nIn + k]!;
        z[i * nOut + o] = s;
      }
    }
    pre.push(z);
    acts.push(l < L - 1 ? z.map((v) => Math.max(0, v)) : z);
  }
  const grad = new Float64Array(params.length);
  const classes = sizes[L]!;
  let dz = new Float64Array(rows * classes);
  for (let i = 0; i < rows; i++) {
    const logits = pre[L - 1]!.subarray(i * classes, (i + 1) * classes);
    const max = Math.max(...logits);
    let sum = 0;
    for (const v of logits) sum += Math.exp(v - max);
    for (let c = 0; c < classes; c++) dz[i * classes + c] = (Math.exp(logits[c]! - max) / sum - (c === y[i] ? 1 : 0)) / rows;
  }
  for (let l = L - 1; l >= 0; l--) {
    const [nIn, nOut] = [sizes[l]!, sizes[l + 1]!];
    const dIn = new Float64Array(rows * nIn);
    for (let i = 0; i < rows; i++) {
      for (let o = 0; o < nOut; o++) {
        const g = dz[i * nOut + o]!;
        grad[b(l) + o] += g;
        for (let k = 0; k < nIn; k++) {
          grad[W(l) + o * nIn + k] += g * acts[l]![i * nIn + k]!;
          dIn[i * nIn + k] += g * params[W(l) + o * nIn + k]!;
        }
      }
    }
    if (l > 0) dz = dIn.map((v, j) => (pre[l - 1]![j]! > 0 ? v : 0));
  }
  return grad;
}

/** Final parameters (identical on every simulated worker after the closing average). */
export function simulateDataParallel(o: CpuRunOptions): Float64Array {
  const loaders = Array.from({ length: o.worldSize }, (_, rank) =>
    new ShardedLoader(o.dataset, { rank, worldSize: o.worldSize, batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed }));
  const workers = loaders.map(() => Float64Array.from(o.init));
  const mean = (vectors: Float64Array[]) => vectors[0]!.map((_, j) => vectors.reduce((s, v) => s + v[j]!, 0) / vectors.length);
  const warmup = o.warmupSteps ?? 0;
  let theta = Float64Array.from(o.init);
  const buf = new Float64Array(theta.length);
  const outerStep = (avg: Float64Array): Float64Array => {
    if (!o.outer) return avg;
    const { kind, lr, momentum } = o.outer;
    theta = theta.map((t, j) => {
      const g = t - avg[j]!;
      buf[j] = momentum * buf[j]! + g;
      return t - lr * (kind === 'nesterov' ? g + momentum * buf[j]! : buf[j]!);
    });
    return theta;
  };
  let sinceAverage = 0;
  for (let step = 0; step < o.steps; step++) {
    const epoch = Math.floor(step / loaders[0]!.batchesPerEpoch);
    const grads = workers.map((params, rank) => {
      const batch = loaders[rank]!.batch(epoch, step % loaders[0]!.batchesPerEpoch);
      return mlpGradient(o.layout, o.sizes, params, batch.x, batch.y, batch.size);
    });
    const synchronous = o.localSgdSteps === undefined || step < warmup;
    const applied = synchronous ? Array(o.worldSize).fill(mean(grads)) : grads;
    workers.forEach((params, rank) => params.forEach((p, j) => (params[j] = p - o.lr * applied[rank]![j]!)));
    const n = step + 1;
    if (o.localSgdSteps === undefined) continue;
    if (n === warmup) theta = Float64Array.from(workers[0]!);
    if (n <= warmup) continue;
    sinceAverage++;
    if ((n - warmup) % o.localSgdSteps === 0) {
      const next = outerStep(mean(workers));
      workers.forEach((w) => w.set(next));
      sinceAverage = 0;
    }
  }
  if (o.localSgdSteps !== undefined && sinceAverage > 0) return outerStep(mean(workers));
  return workers[0]!;
}
