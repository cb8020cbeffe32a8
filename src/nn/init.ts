// Seeded weight initialisation on the CPU. Every rank uses the same seed, so all workers start equal
// even before rank 0's weights are broadcast.
import { createRng } from '../data/prng.js';
import type { ParameterLayout } from './layout.js';

/**
 * He/Kaiming uniform for weights (bound √(6 / fan_in), the ReLU gain), zeros for biases: the
 * init PyTorch's kaiming_uniform_(nonlinearity='relu') gives.
 */
export function initMlpParameters(layout: ParameterLayout, seed: number): Float32Array {
  const params = new Float32Array(layout.totalFloats);
  const rng = createRng(seed);
  for (const t of layout.tensors) {
    if (!t.name.endsWith('.weight')) continue;
    const fanIn = t.shape[1]!;
    const bound = Math.sqrt(6 / fanIn);
    for (let i = 0; i < t.size; i++) params[t.offset + i] = (rng.next() * 2 - 1) * bound;
  }
  return params;
}
