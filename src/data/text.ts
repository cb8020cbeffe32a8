// Byte-level text for the language model: the vocabulary is the 256 byte values, so any file is a
// corpus (UTF-8 text or binary) and nothing needs a tokenizer.
//
// - The split is nanoGPT's prepare.py: the first floor(0.9·n) bytes train, the rest validate.
// - Training windows are block_size + 1 bytes (inputs are the first T, targets the last T). Each
//   rank owns a contiguous, disjoint slice of the training bytes (DistributedSampler semantics,
//   see ByteWindowLoader) and draws its windows only from its slice.
// - Evaluation windows start at 0, T, 2T, …; the window at s has inputs [s, s+T) and targets
//   [s+1, s+T+1); a window with s+T+1 past the end is dropped; the loss is the mean over all targets.
//   evalWindowStarts/evalTextBatches/evaluateText are that rule as pure functions, so any other
//   implementation can reproduce a reported loss.
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { createRng, deriveSeed } from './prng.js';

export const BYTE_VOCAB_SIZE = 256;
/** nanoGPT's prepare.py: train_data = data[:int(n*0.9)]. */
export const TRAIN_FRACTION = 0.9;

export interface TextSplit {
  /** For logs: a file name, or "brown". */
  name: string;
  train: Uint8Array;
  val: Uint8Array;
}

/** Index of the first validation byte: int(n * 0.9), as prepare.py computes it. */
export function trainBytesOf(n: number): number {
  return Math.floor(n * TRAIN_FRACTION);
}

/** The first 90 % of bytes train, the last 10 % validate (views, no copy). */
export function splitTrainVal(bytes: Uint8Array, name: string): TextSplit {
  const cut = trainBytesOf(bytes.length);
  return { name, train: bytes.subarray(0, cut), val: bytes.subarray(cut) };
}

/** The whole of a user's file, refused with a clear message if it is missing, a directory or shorter than one window. */
export function readTextFile(path: string, blockSize: number, flag = '--text', use = 'to train on'): Uint8Array {
  checkBlockSize(blockSize);
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new Error(`${flag} ${path}: no such file; give the path of a text (or any binary) file ${use}`);
  }
  if (stat.isDirectory()) throw new Error(`${flag} ${path}: is a directory, not a file; give one text file (concatenate several with cat)`);
  if (!stat.isFile()) throw new Error(`${flag} ${path}: is not a regular file`);
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes.length < blockSize + 1) {
    throw new Error(
      `${flag} ${path}: has ${bytes.length} bytes, fewer than one window of block_size + 1 = ${blockSize + 1} bytes; ` +
        `use a larger file or --block-size ${Math.max(1, bytes.length - 1)} or less`,
    );
  }
  return bytes;
}

/**
 * --text FILE [--val-text FILE]: with a validation file the whole of FILE trains; without one
 * FILE is split 90/10. Either way both parts must hold at least one window.
 */
export function loadTextFiles(text: string, blockSize: number, valText?: string): TextSplit {
  const bytes = readTextFile(text, blockSize, '--text');
  const split = valText !== undefined ? { name: basename(text), train: bytes, val: readTextFile(valText, blockSize, '--val-text') } : splitTrainVal(bytes, basename(text));
  checkSplit(split, blockSize, valText === undefined ? `--text ${text}` : undefined);
  return split;
}

/** Both parts hold at least one window of block_size + 1 bytes (a 90/10 split of a small file may not). */
export function checkSplit(split: TextSplit, blockSize: number, splitOf?: string): void {
  checkBlockSize(blockSize);
  for (const [part, bytes] of [['training', split.train], ['validation', split.val]] as const) {
    if (bytes.length >= blockSize + 1) continue;
    const where = splitOf !== undefined ? `${splitOf}: the ${part} part (${part === 'training' ? 'first 90 %' : 'last 10 %'} of the bytes)` : `${split.name}: the ${part} text`;
    throw new Error(
      `${where} has ${bytes.length} bytes, fewer than one window of block_size + 1 = ${blockSize + 1} bytes; ` +
        `use more text${splitOf !== undefined ? ', a separate --val-text FILE,' : ''} or a smaller --block-size`,
    );
  }
}

function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`block size must be an integer ≥ 1 (got ${blockSize}); set --block-size`);
}

/** One batch of windows: inputs and targets [rows, blockSize] row-major, as token ids for the GPU. */
export interface TokenBatch {
  inputs: Uint32Array;
  targets: Uint32Array;
  /** Real rows; in an evaluation batch the rows past them are zero padding to ignore. */
  rows: number;
}

export interface ByteWindowOptions {
  rank: number;
  worldSize: number;
  batchSize: number;
  blockSize: number;
  /** Random windows (true) or consecutive ones (false, --no-shuffle). */
  shuffle: boolean;
  seed: number;
}

/**
 * Training batches of byte windows, DistributedSampler semantics: the training bytes are cut into
 * worldSize contiguous, equally long slices, rank r owning bytes [r·L, (r+1)·L) with
 * L = floor(n / worldSize) (the at most worldSize − 1 bytes past worldSize·L are not used). A window
 * never crosses a slice boundary, so no two ranks ever read the same byte.
 *
 * - shuffle: each row of batch `step` starts at an independent uniform offset in [0, L − T) of the
 *   rank's slice (nanoGPT's get_batch: torch.randint(len(data) − block_size)), drawn from a stream
 *   seeded by (seed + rank, step); batch(step) therefore needs no state, and a resumed run draws
 *   the same windows as an uninterrupted one.
 * - no shuffle: the slice's windows at 0, T, 2T, … (the evaluation windows, W = floor((L − 1)/T) of
 *   them) in order, row j of batch `step` being window (step·batchSize + j) mod W: every byte is a
 *   target once per pass, and the run replays exactly.
 */
export class ByteWindowLoader {
  /** L: the bytes of this rank's slice. */
  readonly bytesPerRank: number;
  /** Offset of this rank's slice in the training bytes. */
  readonly sliceStart: number;
  /** Windows at 0, T, 2T, … in the slice: one pass without shuffling. */
  readonly windowsPerPass: number;

  readonly #slice: Uint8Array;
  readonly #opts: ByteWindowOptions;
  readonly #inputs: Uint32Array;
  readonly #targets: Uint32Array;
  readonly #starts: number[];

  constructor(train: Uint8Array, opts: ByteWindowOptions) {
    const { rank, worldSize, batchSize, blockSize, seed } = opts;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new Error(`ByteWindowLoader: worldSize must be an integer ≥ 1 (got ${worldSize})`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new Error(`ByteWindowLoader: rank must be an integer from 0 to worldSize-1 = ${worldSize - 1} (got ${rank})`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`ByteWindowLoader: batch size must be an integer ≥ 1 (got ${batchSize}); set --batch-size`);
    checkBlockSize(blockSize);
    if (!Number.isFinite(seed)) throw new Error(`ByteWindowLoader: seed must be a finite number (got ${seed})`);
    this.bytesPerRank = Math.floor(train.length / worldSize);
    if (this.bytesPerRank < blockSize + 1) {
      throw new Error(
        `ByteWindowLoader: the ${train.length} training bytes give each of ${worldSize} processes ${this.bytesPerRank} bytes, ` +
          `fewer than one window of block_size + 1 = ${blockSize + 1}; use more text, fewer --procs or a smaller --block-size`,
      );
    }
    this.sliceStart = rank * this.bytesPerRank;
    this.#slice = train.subarray(this.sliceStart, this.sliceStart + this.bytesPerRank);
    this.windowsPerPass = Math.floor((this.bytesPerRank - 1) / blockSize);
    this.#opts = { ...opts };
    this.#inputs = new Uint32Array(batchSize * blockSize);
    this.#targets = new Uint32Array(batchSize * blockSize);
    this.#starts = new Array<number>(batchSize).fill(0);
  }

  /** Offsets in the rank's slice of batch `step`'s windows (add sliceStart for the training bytes). */
  windowStarts(step: number): number[] {
    if (!Number.isInteger(step) || step < 0) throw new Error(`ByteWindowLoader: step must be an integer ≥ 0 (got ${step})`);
    const { batchSize, blockSize, shuffle, seed, rank } = this.#opts;
    if (shuffle) {
      const rng = createRng(deriveSeed(seed + rank, step));
      for (let j = 0; j < batchSize; j++) this.#starts[j] = rng.int(this.bytesPerRank - blockSize);
    } else {
      // step·batchSize can pass 2^53 only after ~10^15 windows; mod first keeps it exact anyway.
      const first = ((step % this.windowsPerPass) * batchSize) % this.windowsPerPass;
      for (let j = 0; j < batchSize; j++) this.#starts[j] = ((first + j) % this.windowsPerPass) * blockSize;
    }
    return this.#starts.slice();
  }

  /** Batch `step` (0-based), in the loader's own reusable arrays: valid until the next call. */
  batch(step: number): TokenBatch {
    const { blockSize } = this.#opts;
    this.windowStarts(step).forEach((start, row) => copyWindow(this.#slice, start, blockSize, this.#inputs, this.#targets, row));
    return { inputs: this.#inputs, targets: this.#targets, rows: this.#starts.length };
  }
}

function copyWindow(bytes: Uint8Array, start: number, blockSize: number, inputs: Uint32Array, targets: Uint32Array, row: number): void {
  const at = row * blockSize;
  for (let t = 0; t < blockSize; t++) {
    inputs[at + t] = bytes[start + t]!;
    targets[at + t] = bytes[start + t + 1]!;
  }
}

/** Evaluation windows' starts: 0, T, 2T, … while s + T + 1 ≤ n, i.e. floor((n − 1)/T) windows. */
export function evalWindowStarts(byteCount: number, blockSize: number): number[] {
  checkBlockSize(blockSize);
  const count = byteCount < 1 ? 0 : Math.floor((byteCount - 1) / blockSize);
  return Array.from({ length: count }, (_, k) => k * blockSize);
}

/**
 * The evaluation windows in batches of `batchSize` rows; the last batch may be partial (rows says
 * how many are real; the rest is zero). The arrays are reused from batch to batch.
 */
export function* evalTextBatches(bytes: Uint8Array, blockSize: number, batchSize: number): Generator<TokenBatch, void, undefined> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`evalTextBatches: batch size must be an integer ≥ 1 (got ${batchSize})`);
  const starts = evalWindowStarts(bytes.length, blockSize);
  const inputs = new Uint32Array(batchSize * blockSize);
  const targets = new Uint32Array(batchSize * blockSize);
  for (let first = 0; first < starts.length; first += batchSize) {
    const rows = Math.min(batchSize, starts.length - first);
    for (let row = 0; row < rows; row++) copyWindow(bytes, starts[first + row]!, blockSize, inputs, targets, row);
    inputs.fill(0, rows * blockSize);
    targets.fill(0, rows * blockSize);
    yield { inputs, targets, rows };
  }
}

export interface TextEvaluation {
  /** Mean cross-entropy, nats per predicted byte. */
  loss: number;
  bitsPerByte: number;
  /** Predicted bytes: windows × T. */
  targets: number;
}

/**
 * The evaluation rule: `sumLoss(batch)` returns the summed cross-entropy (nats) of the batch's real
 * rows' targets; the result is the float64 sum over batches divided by the number of targets.
 * sumLoss may be asynchronous (a GPU read-back, as in eval.js) or not (a CPU reference); batches are
 * scored one after another, since their arrays are reused.
 */
export async function evaluateText(
  bytes: Uint8Array, blockSize: number, batchSize: number, sumLoss: (batch: TokenBatch) => number | Promise<number>,
): Promise<TextEvaluation> {
  let total = 0;
  let targets = 0;
  for (const batch of evalTextBatches(bytes, blockSize, batchSize)) {
    total += await sumLoss(batch);
    targets += batch.rows * blockSize;
  }
  if (targets === 0) {
    throw new Error(`evaluateText: ${bytes.length} bytes hold no window of block_size + 1 = ${blockSize + 1} bytes; nothing to evaluate`);
  }
  const loss = total / targets;
  return { loss, bitsPerByte: loss / Math.LN2, targets };
}
