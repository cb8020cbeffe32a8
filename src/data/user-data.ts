// The user's own data (--data FILE, --eval-data FILE): a .safetensors file with tensors x and y,
// or a .csv file with the label first. Every error names the file and says what is expected,
// since a user's file is the likeliest thing here to be wrong.
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { tensorToFloat32, type SafetensorsDtype, type SafetensorsTensor } from '../io/safetensors.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import { validateDataset, type Dataset } from './dataset.js';

export interface DataFileOptions {
  /**
   * Number of classes (--classes, or the training set's when loading --eval-data). Without it the
   * labels must be exactly 0 … C-1 for the C distinct values they take: a stray large label is an
   * error, never a silent reason for a bigger output layer.
   */
  classes?: number | undefined;
}

const SAFETENSORS_LAYOUT = 'expected tensor "x" (F32, [N, features]) and tensor "y" (integer labels, [N])';
const CSV_LAYOUT = 'expected one sample per line: the label, then the features, comma-separated (an optional header line first)';

export function loadDataFile(path: string, opts: DataFileOptions = {}): Dataset {
  const ext = extname(path).toLowerCase();
  let parsed: { x: Float32Array; labels: Float64Array; features: number };
  if (ext === '.safetensors') parsed = readSafetensorsData(path);
  else if (ext === '.csv') parsed = readCsvData(path);
  else throw new Error(`${path}: unknown data file extension "${ext}"; use a .safetensors file (${SAFETENSORS_LAYOUT}) or a .csv file (${CSV_LAYOUT})`);

  const { x, labels, features } = parsed;
  const count = labels.length;
  if (count === 0) throw new Error(`${path}: the file holds no samples; ${ext === '.csv' ? CSV_LAYOUT : SAFETENSORS_LAYOUT}`);
  let maxLabel = 0;
  for (const l of labels) maxLabel = Math.max(maxLabel, l);
  const classes = opts.classes ?? denseClassCount(labels, maxLabel, path);
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`${path}: classes must be an integer ≥ 1 (got ${classes})`);
  if (maxLabel >= classes) {
    const sample = labels.indexOf(maxLabel);
    throw new Error(
      `${path}: label ${maxLabel} (sample ${sample}) is out of range for ${classes} classes; labels must be 0 … ${classes - 1}. ` +
        'Evaluation data may only use the classes of the training data',
    );
  }
  const dataset: Dataset = { name: basename(path), x, y: Uint32Array.from(labels), count, features, classes };
  validateDataset(dataset, path);
  return dataset;
}

/** The C distinct labels, which must be 0 … C-1; otherwise the first label past them is named. */
function denseClassCount(labels: Float64Array, maxLabel: number, path: string): number {
  const distinct = new Set(labels).size;
  if (maxLabel < distinct) return distinct;
  const sample = labels.findIndex((l) => l >= distinct);
  throw new Error(
    `${path}: label ${labels[sample]} (sample ${sample}) is not a class index of this data: its labels take ${distinct} distinct values, ` +
      `so they must be 0 … ${distinct - 1}. If the data really has ${maxLabel + 1} classes, some absent from this file, say so with --classes ${maxLabel + 1}`,
  );
}

function readSafetensorsData(path: string): { x: Float32Array; labels: Float64Array; features: number } {
  const { tensors } = readSafetensorsFile(path);
  const get = (name: string): SafetensorsTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${path}: tensor "${name}" is missing (the file has ${[...tensors.keys()].map((k) => `"${k}"`).join(', ') || 'no tensors'}); ${SAFETENSORS_LAYOUT}`);
    return t;
  };
  const xt = get('x');
  const yt = get('y');
  if (xt.dtype !== 'F32') throw new Error(`${path}: tensor "x" has dtype ${xt.dtype}; ${SAFETENSORS_LAYOUT} (convert with x.astype(np.float32) or x.float())`);
  if (xt.shape.length !== 2) throw new Error(`${path}: tensor "x" has shape [${xt.shape.join(', ')}] (rank ${xt.shape.length}); ${SAFETENSORS_LAYOUT} (flatten each sample)`);
  if (yt.shape.length !== 1) throw new Error(`${path}: tensor "y" has shape [${yt.shape.join(', ')}] (rank ${yt.shape.length}); ${SAFETENSORS_LAYOUT}`);
  const [n, features] = xt.shape as [number, number];
  if (yt.shape[0] !== n) throw new Error(`${path}: tensor "x" has ${n} samples but tensor "y" has ${yt.shape[0]} labels; give one label per sample`);
  if (features === 0 && n > 0) throw new Error(`${path}: tensor "x" has 0 features per sample; ${SAFETENSORS_LAYOUT}`);
  return { x: tensorToFloat32(xt, 'x', path), labels: integerLabels(yt, path), features };
}

const LABEL_READERS: Partial<Record<SafetensorsDtype, [number, (v: DataView, at: number) => number | bigint]>> = {
  I64: [8, (v, at) => v.getBigInt64(at, true)],
  U64: [8, (v, at) => v.getBigUint64(at, true)],
  I32: [4, (v, at) => v.getInt32(at, true)],
  U32: [4, (v, at) => v.getUint32(at, true)],
  I16: [2, (v, at) => v.getInt16(at, true)],
  U16: [2, (v, at) => v.getUint16(at, true)],
  I8: [1, (v, at) => v.getInt8(at)],
  U8: [1, (v, at) => v.getUint8(at)],
};

function integerLabels(t: SafetensorsTensor, path: string): Float64Array {
  const reader = LABEL_READERS[t.dtype];
  if (!reader) {
    throw new Error(`${path}: tensor "y" has dtype ${t.dtype}; labels must be integers (I64, I32, I16, I8, U64, U32, U16 or U8); convert with y.astype(np.int64) or y.long()`);
  }
  const [size, read] = reader;
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const labels = new Float64Array(t.data.length / size);
  for (let i = 0; i < labels.length; i++) {
    const v = read(view, i * size);
    if (v < 0) throw new Error(`${path}: label ${v} of sample ${i} is negative; labels must be class indices 0 … classes-1`);
    if (v >= 2 ** 32) throw new Error(`${path}: label ${v} of sample ${i} is too large; labels must be class indices 0 … classes-1`);
    labels[i] = Number(v);
  }
  return labels;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// Spellings of NaN and infinity written by numpy, pandas and JavaScript: numbers, but not finite.
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;

function readCsvData(path: string): { x: Float32Array; labels: Float64Array; features: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read data file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const rows = lines.filter((l) => l.trim() !== '').length;
  let columns = 0;
  let x = new Float32Array(0);
  const labels: number[] = [];
  let headerSeen = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const lineNo = i + 1;
    const fields = line.split(',').map((f) => f.trim());
    const numeric = (f: string) => NUMBER.test(f) || NON_FINITE.test(f);
    if (columns === 0 && !headerSeen && labels.length === 0 && !fields.every(numeric)) {
      // A first line of names is a header; one that mixes names and numbers is a mistake either way.
      const number = fields.findIndex(numeric);
      if (number >= 0) {
        const word = fields.findIndex((f) => !numeric(f));
        throw new Error(
          `${path} line ${lineNo}, column ${word + 1}: "${fields[word]}" is not a number, but column ${number + 1} ("${fields[number]}") is: ` +
            `a header line holds only names and a data line only numbers; ${CSV_LAYOUT}`,
        );
      }
      headerSeen = true;
      continue;
    }
    if (columns === 0) {
      if (fields.length < 2) throw new Error(`${path} line ${lineNo}: ${fields.length} column; ${CSV_LAYOUT}, so at least 2 columns`);
      columns = fields.length;
      x = new Float32Array(rows * (columns - 1));
    } else if (fields.length !== columns) {
      throw new Error(`${path} line ${lineNo}: ${fields.length} columns, but the first data row has ${columns}; every row needs the label and ${columns - 1} features`);
    }
    const row = labels.length;
    for (let c = 0; c < columns; c++) {
      const f = fields[c]!;
      if (!NUMBER.test(f) && !NON_FINITE.test(f)) {
        throw new Error(`${path} line ${lineNo}, column ${c + 1}: "${f}" is not a number; ${CSV_LAYOUT}`);
      }
      const v = Number(NON_FINITE.test(f) ? (/nan/i.test(f) ? NaN : f.startsWith('-') ? -Infinity : Infinity) : f);
      if (c === 0) {
        if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) {
          throw new Error(`${path} line ${lineNo}: label "${f}" is not a class index; the first column must be an integer 0 … classes-1`);
        }
        labels.push(v);
      } else {
        if (!Number.isFinite(v)) throw new Error(`${path} line ${lineNo}, column ${c + 1}: feature "${f}" is not finite; every feature must be a finite number (clean or impute the data)`);
        x[row * (columns - 1) + c - 1] = v;
      }
    }
  }
  const features = Math.max(columns - 1, 0);
  // slice, not subarray, when a header made the estimate too big: x must own exactly its values.
  const used = labels.length * features;
  return { x: used === x.length ? x : x.slice(0, used), labels: Float64Array.from(labels), features };
}
