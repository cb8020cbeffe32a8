// The coordinator's reduction: element-wise mean accumulated in float64 in rank order and rounded
// once to float32, so the result is the correctly rounded mean of what the workers held, and
// identical bytes go back to every worker.

export function meanOf(inputs: readonly Float32Array[], out: Float32Array, scratch?: Float64Array): Float32Array {
  const n = out.length;
  const acc = scratch && scratch.length >= n ? scratch : new Float64Array(n);
  acc.fill(0, 0, n);
  for (const input of inputs) {
    if (input.length !== n) throw new RangeError(`meanOf: input of ${input.length} floats, expected ${n}`);
    for (let i = 0; i < n; i++) acc[i]! += input[i]!;
  }
  // Divide by the count rather than multiply by its inverse: 1/3 is not exact in binary.
  for (let i = 0; i < n; i++) out[i] = acc[i]! / inputs.length;
  return out;
}
