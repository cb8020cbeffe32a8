// The coordinator's reduction: element-wise mean accumulated in float64 in rank order and rounded
// once to float32, so the result is the correctly rounded mean of what the workers held (up to
// float64's own rounding) and identical bytes go back to every worker.

/** Writes the mean of `inputs` (in the order given) into `out`; `scratch` is reused when large enough. */
export function meanOf(inputs: readonly Float32Array[], out: Float32Array, scratch?: Float64Array): Float32Array {
  const n = out.length;
  if (inputs.length === 0) throw new RangeError('meanOf: no inputs to average');
  for (const [i, input] of inputs.entries()) {
    if (input.length !== n) throw new RangeError(`meanOf: input ${i} has ${input.length} floats, expected ${n}`);
  }
  const acc = scratch && scratch.length >= n ? scratch : new Float64Array(n);
  const first = inputs[0]!;
  for (let i = 0; i < n; i++) acc[i] = first[i]!;
  for (let r = 1; r < inputs.length; r++) {
    const input = inputs[r]!;
    for (let i = 0; i < n; i++) acc[i]! += input[i]!;
  }
  // Divide by the count rather than multiply by its inverse: 1/3 is not exact in binary.
  const count = inputs.length;
  for (let i = 0; i < n; i++) out[i] = acc[i]! / count;
  return out;
}
