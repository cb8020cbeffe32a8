// Seeded weight initialisation on the CPU, chosen per tensor role. Every rank uses the same seed,
// so all workers start equal even before rank 0's weights are broadcast.
import { createRng } from '../data/prng.js';
import type { ParameterLayout, TensorLayout, TensorRole } from './layout.js';

export type Initializer =
  /** Every value the same: zeros for biases, ones for a normalisation's scale. */
  | { kind: 'constant'; value: number }
  /** U(−√(6 / fan_in), √(6 / fan_in)): PyTorch's kaiming_uniform_(nonlinearity='relu'). */
  | { kind: 'kaiming-uniform' }
  /** N(0, std²): GPT-2's 0.02 for weights and embeddings. */
  | { kind: 'normal'; std: number };

/** The initializer of each role a model uses; a layout with a role missing here is an error. */
export type InitScheme = Partial<Record<TensorRole, Initializer>>;

export const zeros: Initializer = { kind: 'constant', value: 0 };
export const ones: Initializer = { kind: 'constant', value: 1 };

/**
 * The flat parameters of `layout` for `seed`. Tensors draw from one generator in layout order, and
 * constant ones draw nothing, so adding a bias or a norm never changes the weights' values.
 */
export function initParameters(layout: ParameterLayout, seed: number, scheme: InitScheme): Float32Array {
  const params = new Float32Array(layout.totalFloats);
  const rng = createRng(seed);
  for (const t of layout.tensors) {
    const init = scheme[t.role];
    if (!init) {
      throw new Error(`initialisation: tensor "${t.name}" has role ${t.role}, which this model's scheme does not cover (it covers ${Object.keys(scheme).join(', ')}); add the role to the scheme`);
    }
    const values = params.subarray(t.offset, t.offset + t.size);
    if (init.kind === 'constant') {
      values.fill(init.value);
    } else if (init.kind === 'kaiming-uniform') {
      const bound = Math.sqrt(6 / fanIn(t));
      for (let i = 0; i < t.size; i++) values[i] = (rng.next() * 2 - 1) * bound;
    } else {
      for (let i = 0; i < t.size; i++) values[i] = rng.normal() * init.std;
    }
  }
  return params;
}

/** Inputs per output, as PyTorch counts them: shape[1] times the receptive field (the dimensions after it). */
function fanIn(t: TensorLayout): number {
  if (t.shape.length < 2) {
    throw new Error(`initialisation: kaiming-uniform needs a tensor of 2 or more dimensions to know its fan-in, but "${t.name}" has shape [${t.shape.join(', ')}]; give its role a constant or normal initializer`);
  }
  return t.shape.slice(1).reduce((a, b) => a * b, 1);
}
