// WebGPU rejects a dispatch whose writable storage binding overlaps another of its bindings (the
// error surfaces late, as a Dawn validation message); kernels check it up front and say which pair.
import { refLabel, type TensorRef } from '../gpu/dispatch.js';

function range(ref: TensorRef): { buffer: GPUBuffer; start: number; end: number } {
  return 'buffer' in ref
    ? { buffer: ref.buffer, start: ref.offset, end: ref.offset + ref.size }
    : { buffer: ref, start: 0, end: ref.size };
}

function overlaps(a: TensorRef, b: TensorRef): boolean {
  const [x, y] = [range(a), range(b)];
  return x.buffer === y.buffer && x.start < y.end && y.start < x.end;
}

/** Throws if any tensor in `writes` overlaps another tensor in `writes` or one in `reads`. */
export function assertNoOverlap(kernel: string, writes: [string, TensorRef][], reads: [string, TensorRef][]): void {
  for (let w = 0; w < writes.length; w++) {
    const [name, ref] = writes[w]!;
    for (const [other, otherRef] of [...writes.slice(w + 1), ...reads]) {
      if (overlaps(ref, otherRef)) {
        throw new RangeError(
          `${kernel}: ${name} (${refLabel(ref)}) overlaps ${other} (${refLabel(otherRef)}); WebGPU forbids a written ` +
            `binding that aliases another in one dispatch: give ${name} its own buffer or range`,
        );
      }
    }
  }
}
