// The flat parameter layout (llm.c's malloc_and_point_parameters): every tensor lives at an offset
// in one buffer, so the optimizer is one dispatch, averaging is one read-back and one message, and
// a checkpoint is this table plus the bytes. Each tensor has a role, and initialisation and weight
// decay are decided by role, never by guessing from a name.
import { z } from 'zod';

/** Tensor offsets are multiples of 64 floats = 256 bytes, WebGPU's storage binding alignment. */
export const TENSOR_ALIGNMENT = 64;

/**
 * What a tensor is to the model: a linear layer's `weight` [out, in] or `bias` [out], a
 * normalisation's `norm-weight` (a scale, starts at 1) or `norm-bias`, or an `embedding` table
 * [entries, width].
 */
export const TensorRole = z.enum(['weight', 'bias', 'norm-weight', 'norm-bias', 'embedding']);
export type TensorRole = z.infer<typeof TensorRole>;

export interface TensorSpec {
  /** The PyTorch state-dict name, so that checkpoints load into the equivalent PyTorch module. */
  name: string;
  shape: readonly number[];
  role: TensorRole;
}

export interface TensorLayout extends TensorSpec {
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

/** A layout as it travels between processes (records, the coordinator) and is checked on arrival. */
export const parameterLayoutSchema = z.object({
  tensors: z.array(z.object({
    name: z.string().min(1),
    shape: z.array(z.number().int().nonnegative()).readonly(),
    role: TensorRole,
    offset: z.number().int().nonnegative(),
    size: z.number().int().nonnegative(),
  })).readonly(),
  totalFloats: z.number().int().positive(),
  parameterCount: z.number().int().nonnegative(),
});

export function buildLayout(tensors: readonly TensorSpec[]): ParameterLayout {
  let offset = 0;
  let parameterCount = 0;
  const out: TensorLayout[] = [];
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`parameter layout: tensor "${t.name}" appears twice; every tensor needs its own name`);
    names.add(t.name);
    const size = t.shape.reduce((a, b) => a * b, 1);
    out.push({ name: t.name, shape: [...t.shape], role: t.role, offset, size });
    parameterCount += size;
    offset += Math.ceil(size / TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT;
  }
  return { tensors: out, totalFloats: Math.max(offset, TENSOR_ALIGNMENT), parameterCount };
}

export function tensorNamed(layout: ParameterLayout, name: string): TensorLayout {
  const t = layout.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor "${name}" in the parameter layout (has ${layout.tensors.map((x) => x.name).join(', ')})`);
  return t;
}
