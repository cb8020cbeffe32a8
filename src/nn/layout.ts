// The flat parameter layout (llm.c's malloc_and_point_parameters): every tensor lives at an offset
// in one buffer, so the optimizer is one dispatch, averaging is one read-back and one message, and
// a checkpoint is this table plus the bytes. Names and shapes follow PyTorch's nn.Linear.

/** Tensor offsets are multiples of 64 floats = 256 bytes, WebGPU's storage binding alignment. */
export const TENSOR_ALIGNMENT = 64;

export interface TensorLayout {
  name: string;
  shape: readonly number[];
  /** Offset in floats from the start of the flat buffer. */
  offset: number;
  /** Number of floats. */
  size: number;
}

export interface ParameterLayout {
  tensors: readonly TensorLayout[];
  /** Length of the flat buffer in floats, padding included. */
  totalFloats: number;
  /** Number of real parameters (no padding). */
  parameterCount: number;
}

export function buildLayout(tensors: ReadonlyArray<{ name: string; shape: readonly number[] }>): ParameterLayout {
  let offset = 0;
  let parameterCount = 0;
  const out: TensorLayout[] = [];
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    out.push({ name: t.name, shape: [...t.shape], offset, size });
    parameterCount += size;
    offset += Math.ceil(size / TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT;
  }
  return { tensors: out, totalFloats: Math.max(offset, TENSOR_ALIGNMENT), parameterCount };
}

/** nn.Linear layers `layers.{i}.weight` [out, in] and `layers.{i}.bias` [out]. */
export function mlpLayout(sizes: readonly number[]): ParameterLayout {
  const tensors: Array<{ name: string; shape: number[] }> = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    tensors.push({ name: `layers.${i}.weight`, shape: [sizes[i + 1]!, sizes[i]!] });
    tensors.push({ name: `layers.${i}.bias`, shape: [sizes[i + 1]!] });
  }
  return buildLayout(tensors);
}

export function tensorNamed(layout: ParameterLayout, name: string): TensorLayout {
  const t = layout.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor "${name}" in the parameter layout (has ${layout.tensors.map((x) => x.name).join(', ')})`);
  return t;
}
