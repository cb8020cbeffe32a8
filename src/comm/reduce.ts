// The server's reduction: element-wise (weighted) mean accumulated in float64 in input order and
// rounded once to float32, so the result is the correctly rounded mean of what the inputs held (up
// to float64's own rounding) and identical bytes go back to every worker. Weights let one input
// stand for several workers (a machine's own mean over its live workers counts as that many).

/** Writes the mean of `inputs` (in the order given) into `out`; `scratch` is reused when large enough. */
export function meanOf(inputs: readonly Float32Array[], out: Float32Array, scratch?: Float64Array): Float32Array {
  return weightedMeanOf(inputs, undefined, out, scratch);
}

/**
 * Σ wᵢ·xᵢ / Σ wᵢ into `out`; without weights every input counts once. Weights of 1 give the bytes of
 * the unweighted mean: multiplying by 1 and dividing by a whole-number sum are exact in float64.
 */
export function weightedMeanOf(
  inputs: readonly Float32Array[], weights: readonly number[] | undefined, out: Float32Array, scratch?: Float64Array,
): Float32Array {
  const n = out.length;
  if (inputs.length === 0) throw new RangeError('meanOf: no inputs to average');
  for (const [i, input] of inputs.entries()) {
    if (input.length !== n) throw new RangeError(`meanOf: input ${i} has ${input.length} floats, expected ${n}`);
  }
  if (weights) checkWeights(weights, inputs.length);
  const acc = scratch && scratch.length >= n ? scratch : new Float64Array(n);
  const first = inputs[0]!;
  const w0 = weights?.[0] ?? 1;
  if (w0 === 1) for (let i = 0; i < n; i++) acc[i] = first[i]!;
  else for (let i = 0; i < n; i++) acc[i] = w0 * first[i]!;
  for (let r = 1; r < inputs.length; r++) {
    const input = inputs[r]!;
    const w = weights?.[r] ?? 1;
    if (w === 1) for (let i = 0; i < n; i++) acc[i]! += input[i]!;
    else for (let i = 0; i < n; i++) acc[i]! += w * input[i]!;
  }
  // Divide by the total rather than multiply by its inverse: 1/3 is not exact in binary.
  const total = weights ? weights.reduce((s, w) => s + w, 0) : inputs.length;
  for (let i = 0; i < n; i++) out[i] = acc[i]! / total;
  return out;
}

function checkWeights(weights: readonly number[], inputs: number): void {
  if (weights.length !== inputs) throw new RangeError(`meanOf: ${weights.length} weights for ${inputs} inputs; give one per input`);
  for (const [i, w] of weights.entries()) {
    if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`meanOf: weight ${i} is ${w}; weights must be finite and > 0 (a worker count, say)`);
  }
}

/**
 * Σ inputs in float64, in the order given, into `acc`: one machine's part of a mean across machines.
 * The master adds the machines' sums in machine order and divides once (meanOfSums), which is the
 * one-machine mean's arithmetic, (x0 + x1) + (x2 + x3) for ((x0 + x1) + x2) + x3: the same bits
 * whenever the float64 sums are exact, i.e. whenever an element's values lie within 2^29 of each
 * other in magnitude (24 + 29 = 53 bits), as the copies of one weight always do.
 */
export function sumOf(inputs: readonly Float32Array[], acc: Float64Array): Float64Array {
  const n = acc.length;
  if (inputs.length === 0) throw new RangeError('sumOf: no inputs to add');
  for (const [i, input] of inputs.entries()) {
    if (input.length !== n) throw new RangeError(`sumOf: input ${i} has ${input.length} floats, expected ${n}`);
  }
  const first = inputs[0]!;
  for (let i = 0; i < n; i++) acc[i] = first[i]!;
  for (let r = 1; r < inputs.length; r++) {
    const input = inputs[r]!;
    for (let i = 0; i < n; i++) acc[i]! += input[i]!;
  }
  return acc;
}

/** (Σ sums) / total into `out`, the sums added in the order given in float64 (`scratch` reused when large enough). */
export function meanOfSums(sums: readonly Float64Array[], total: number, out: Float32Array, scratch?: Float64Array): Float32Array {
  const n = out.length;
  if (sums.length === 0) throw new RangeError('meanOfSums: no sums to add');
  if (!(total > 0) || !Number.isFinite(total)) throw new RangeError(`meanOfSums: total is ${total}; it must be finite and > 0 (a worker count)`);
  for (const [i, sum] of sums.entries()) {
    if (sum.length !== n) throw new RangeError(`meanOfSums: sum ${i} has ${sum.length} floats, expected ${n}`);
  }
  const acc = scratch && scratch.length >= n ? scratch : new Float64Array(n);
  acc.set(sums[0]!);
  for (let k = 1; k < sums.length; k++) {
    const sum = sums[k]!;
    for (let i = 0; i < n; i++) acc[i]! += sum[i]!;
  }
  for (let i = 0; i < n; i++) out[i] = acc[i]! / total;
  return out;
}
