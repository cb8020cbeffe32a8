// WebGPU rejects a dispatch that binds a buffer it writes a second time, as read-only storage, even
// at a disjoint range (one usage scope per buffer), and Dawn rejects two written bindings whose
// ranges overlap. Both surface late, as a validation message at submit; kernels check up front and
// name the pair.
import { refLabel, type TensorRef } from '../gpu/dispatch.js';

function range(ref: TensorRef): { buffer: GPUBuffer; start: number; end: number } {
  return 'buffer' in ref
    ? { buffer: ref.buffer, start: ref.offset, end: ref.offset + ref.size }
    : { buffer: ref, start: 0, end: ref.size };
}

/**
 * Throws if a tensor in `writes` lies in the same buffer as one in `reads`, or overlaps another
 * tensor in `writes` (written tensors may share a buffer at disjoint ranges: gradients in one flat buffer).
 */
export function assertNoOverlap(kernel: string, writes: [string, TensorRef][], reads: [string, TensorRef][]): void {
  for (let w = 0; w < writes.length; w++) {
    const [name, ref] = writes[w]!;
    const x = range(ref);
    for (const [other, otherRef] of writes.slice(w + 1)) {
      const y = range(otherRef);
      if (x.buffer === y.buffer && x.start < y.end && y.start < x.end) {
        throw new RangeError(
          `${kernel}: ${name} (${refLabel(ref)}) overlaps ${other} (${refLabel(otherRef)}); both are written: give them disjoint ranges`,
        );
      }
    }
    for (const [other, otherRef] of reads) {
      if (x.buffer === range(otherRef).buffer) {
        throw new RangeError(
          `${kernel}: ${name} (${refLabel(ref)}) is in the same buffer as ${other} (${refLabel(otherRef)}); WebGPU forbids ` +
            `binding a buffer a dispatch writes again as read-only, even at a disjoint range: put ${name} in another buffer`,
        );
      }
    }
  }
}
