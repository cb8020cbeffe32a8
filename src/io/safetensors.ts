// The Hugging Face safetensors format, exactly: an 8-byte little-endian u64 header length N, N bytes
// of JSON header padded with spaces to a multiple of 8, then the tensors' bytes, contiguous and
// without gaps. Files written here load in PyTorch (`safetensors.torch.load_file`) and vice versa.

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Little-endian bytes. Decoded tensors are views into the file's bytes, not copies. */
  data: Uint8Array;
}

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

// The reference implementation refuses larger headers, so a corrupt length cannot make it allocate.
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(DTYPE_BYTES, d);
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

export function encodeSafetensors(tensors: Array<{ name: string } & SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata "${k}" must be a string (got ${typeof v}); convert it with String() or JSON.stringify()`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '' || t.name === METADATA_KEY) throw new Error(`safetensors: invalid tensor name "${t.name}"; use a non-empty name other than ${METADATA_KEY}`);
    if (Object.hasOwn(header, t.name)) throw new Error(`safetensors: tensor "${t.name}" appears twice; tensor names must be unique`);
    if (!isDtype(t.dtype)) throw new Error(`safetensors: tensor "${t.name}" has unknown dtype ${String(t.dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`safetensors: tensor "${t.name}" has invalid shape ${shapeText(t.shape)}; dimensions must be integers ≥ 0`);
    const expected = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.length !== expected) {
      throw new Error(`safetensors: tensor "${t.name}" has ${t.data.length} bytes but shape ${shapeText(t.shape)} × ${t.dtype} (${DTYPE_BYTES[t.dtype]} bytes) needs ${expected}`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Padding keeps the data 8-byte aligned, so readers can view F64/I64 tensors in place.
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, source: string): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const fail = (what: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${what}`);
  };
  if (bytes.length < 8) fail(`it is ${bytes.length} bytes long, shorter than the 8-byte header length (truncated file?)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`the header length ${headerLength} runs beyond the end of the file (${bytes.length} bytes); the file is truncated or not safetensors`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`the header length ${headerLength} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    fail(`the ${n}-byte header is not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
  const buffer = bytes.subarray(8 + n);

  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; begin: number; end: number }> = [];
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY}["${k}"] must be a string (got ${JSON.stringify(v)})`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null) fail(`${where}: entry is not an object with dtype, shape and data_offsets`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where}: shape ${JSON.stringify(shape)} is not a list of integers ≥ 0`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`${where}: data_offsets ${JSON.stringify(offsets)} must be [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > buffer.length) {
      fail(`${where}: data_offsets [${begin}, ${end}] run beyond the ${buffer.length}-byte data section (truncated file?)`);
    }
    const t = { dtype: dtype as SafetensorsDtype, shape: shape as number[] };
    const expected = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (end - begin !== expected) {
      fail(`${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ${shapeText(t.shape)} × ${t.dtype} (${DTYPE_BYTES[t.dtype]} bytes) needs ${expected}`);
    }
    entries.push({ name, begin, end });
    tensors.set(name, { ...t, data: buffer.subarray(begin, end) });
  }

  // The format requires the tensors to tile the data section exactly: no overlap, no gap, no tail.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const e of entries) {
    if (e.begin < covered) fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${previous}" (which ends at ${covered})`);
    if (e.begin > covered) fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${covered}; tensors must be contiguous`);
    covered = e.end;
    previous = e.name;
  }
  if (covered !== buffer.length) fail(`the tensors cover ${covered} bytes but the data section has ${buffer.length}; the file has trailing bytes`);
  return { tensors, metadata };
}

/** An aligned Float32Array copy of an F32 tensor. */
export function tensorToFloat32(t: SafetensorsTensor, name: string, source: string): Float32Array {
  if (t.dtype !== 'F32') throw new Error(`${source}: tensor "${name}" has dtype ${t.dtype}, expected F32; convert it to float32 before saving`);
  const count = numel(t.shape);
  if (t.data.length !== count * 4) throw new Error(`${source}: tensor "${name}" has ${t.data.length} bytes, expected ${count * 4} for shape ${shapeText(t.shape)} F32`);
  // slice() copies into a fresh buffer, so the result is 4-byte aligned wherever the tensor sat.
  const out = new Float32Array(t.data.slice().buffer);
  if (!HOST_LITTLE_ENDIAN) {
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** An F32 tensor whose bytes are `values` (a view, not a copy, on little-endian hosts). */
export function float32Tensor(shape: number[], values: Float32Array): SafetensorsTensor {
  if (values.length !== numel(shape)) throw new Error(`float32Tensor: ${values.length} values do not fill shape ${shapeText(shape)} (${numel(shape)} values)`);
  if (HOST_LITTLE_ENDIAN) return { dtype: 'F32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  const data = new Uint8Array(values.length * 4);
  const view = new DataView(data.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { dtype: 'F32', shape, data };
}
