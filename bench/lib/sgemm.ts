// The machine's own limit for a matrix product: PyTorch's OpenBLAS sgemm at the same shape and
// transposes (bench/sgemm_shapes.py), one BLAS thread, the anchor configured by pytorch-anchor.ts.
import { z } from 'zod';
import type { MatmulWork } from '../../src/gpu/dispatch.js';
import { benchScript, runAnchorScript, type PytorchAnchor } from './pytorch-anchor.js';

const SgemmOut = z.object({ ms: z.array(z.number()) });

/** Median sgemm milliseconds per product at each shape, in order; `seconds` of sampling per shape. */
export function sgemmMs(anchor: PytorchAnchor, shapes: readonly MatmulWork[], seconds: number): number[] {
  if (shapes.length === 0) return [];
  const out = SgemmOut.parse(runAnchorScript(anchor, benchScript('sgemm_shapes.py'), [JSON.stringify(shapes), String(seconds)], { torch: 1, blas: 1 }));
  if (out.ms.length !== shapes.length) throw new Error(`sgemm_shapes.py timed ${out.ms.length} shapes, asked ${shapes.length}`);
  return out.ms;
}
