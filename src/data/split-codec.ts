// A training and test set as one safetensors file: what the master serves to a browser tab, so that
// the tab trains on exactly the numbers a Node worker of the same rank would (the loader's shards and
// shuffles are recomputed from them with the run's seed, as in any worker).
//
// Features travel as u8 indices into a float32 palette whenever a set holds at most 256 distinct
// values (MNIST's pixels do: 31 MB of float32 becomes 7.8 MB), and as float32 otherwise; either way
// the decoded floats are bit-identical to the encoded ones.
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from '../io/safetensors.js';
import { validateDataset, type DataSplit, type Dataset } from './dataset.js';

const FORMAT = 'webgpu-local-sgd data split v1';
const MAX_PALETTE = 256;

export function encodeDataSplit(split: DataSplit): Uint8Array {
  const tensors: Array<{ name: string } & SafetensorsTensor> = [];
  const metadata: Record<string, string> = { format: FORMAT };
  for (const part of ['train', 'test'] as const) {
    const d = split[part];
    metadata[`${part}.name`] = d.name;
    metadata[`${part}.classes`] = String(d.classes);
    const palette = paletteOf(d.x);
    if (palette) {
      tensors.push({ name: `${part}.palette`, ...bytesOf('F32', [palette.values.length], palette.values) });
      tensors.push({ name: `${part}.x`, ...bytesOf('U8', [d.count, d.features], palette.indices) });
    } else {
      tensors.push({ name: `${part}.x`, ...bytesOf('F32', [d.count, d.features], d.x) });
    }
    tensors.push({ name: `${part}.y`, ...bytesOf('U32', [d.count], d.y) });
  }
  return encodeSafetensors(tensors, metadata);
}

/** Throws, naming `source`, on anything but a split encodeDataSplit wrote (and on labels out of range). */
export function decodeDataSplit(bytes: Uint8Array, source: string): DataSplit {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== FORMAT) {
    throw new Error(`${source}: not a data split (format "${metadata.format ?? ''}", expected "${FORMAT}"); the master and this page come from different versions`);
  }
  const part = (name: 'train' | 'test'): Dataset => {
    const get = (key: string): SafetensorsTensor => {
      const t = tensors.get(`${name}.${key}`);
      if (!t) throw new Error(`${source}: tensor "${name}.${key}" is missing`);
      return t;
    };
    const xTensor = get('x');
    const y = get('y');
    if (xTensor.shape.length !== 2 || y.dtype !== 'U32' || y.shape.length !== 1 || y.shape[0] !== xTensor.shape[0]) {
      throw new Error(`${source}: "${name}.x" must be [count, features] and "${name}.y" u32 [count] (got ${xTensor.dtype} [${xTensor.shape}] and ${y.dtype} [${y.shape}])`);
    }
    const [count, features] = xTensor.shape as [number, number];
    const x = xTensor.dtype === 'U8' ? unpalette(xTensor.data, floatsOf(get('palette')), `${source} "${name}"`) : floatsOf(xTensor);
    const dataset: Dataset = {
      name: metadata[`${name}.name`] ?? name,
      x,
      y: new Uint32Array(copyOf(y.data).buffer),
      count,
      features,
      classes: Number(metadata[`${name}.classes`]),
    };
    validateDataset(dataset, source);
    return dataset;
  };
  return { train: part('train'), test: part('test') };
}

function paletteOf(x: Float32Array): { values: Float32Array; indices: Uint8Array } | undefined {
  // Keyed by bit pattern, so -0 and +0 (and distinct NaN payloads) stay distinct.
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const slot = new Map<number, number>();
  const indices = new Uint8Array(x.length);
  for (let i = 0; i < bits.length; i++) {
    let k = slot.get(bits[i]!);
    if (k === undefined) {
      if (slot.size === MAX_PALETTE) return undefined;
      k = slot.size;
      slot.set(bits[i]!, k);
    }
    indices[i] = k;
  }
  const values = new Float32Array(new Uint32Array([...slot.keys()]).buffer);
  return { values, indices };
}

function unpalette(indices: Uint8Array, palette: Float32Array, where: string): Float32Array {
  const x = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (k >= palette.length) throw new Error(`${where}: palette index ${k} at ${i} is beyond its ${palette.length} values`);
    x[i] = palette[k]!;
  }
  return x;
}

function floatsOf(t: SafetensorsTensor): Float32Array {
  if (t.dtype !== 'F32') throw new Error(`expected an F32 tensor, got ${t.dtype}`);
  return new Float32Array(copyOf(t.data).buffer);
}

/** Decoded tensors are views at any offset; typed arrays over them need their own aligned copy. */
function copyOf(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}

function bytesOf(dtype: 'F32' | 'U32' | 'U8', shape: number[], values: Float32Array | Uint32Array | Uint8Array): SafetensorsTensor {
  return { dtype, shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}
