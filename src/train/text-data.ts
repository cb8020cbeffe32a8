// What `--model gpt` trains on: the bytes of --text FILE (split 90/10, or --val-text FILE) or, by
// default, the Brown corpus; each worker's training windows come from its own slice of the
// training bytes (ByteWindowLoader), and validation uses the evaluation windowing of data/text.ts.
import { loadBrown, describeBrown } from '../data/brown.js';
import type { TokenBatch } from '../data/batch.js';
import { BYTE_VOCAB_SIZE, ByteWindowLoader, checkSplit, evalTextBatches, evalWindowStarts, loadTextFiles, type TextSplit } from '../data/text.js';

/**
 * Validation windows scored per evaluation unless --val-windows says otherwise: the first this many
 * windows of the validation bytes (a fixed sample, the same at every evaluation and in every run),
 * so that an evaluation of the baby GPT stays within seconds on a software GPU. The full split is
 * `node dist/eval.js`'s job.
 */
export const VALIDATION_WINDOWS = 64;

export interface TextChoice {
  text?: string | undefined;
  valText?: string | undefined;
  procs: number;
  /** Validation windows per evaluation (--val-windows; VALIDATION_WINDOWS when absent), at most the split's. */
  valWindows?: number | undefined;
}

export interface TextData {
  split: TextSplit;
  /** For the log: where the bytes came from (for Brown, where its cache is) and the validation sample. */
  description: string;
  /** The validation bytes evaluations score: the first validationWindows windows of split.val. */
  validation: Uint8Array;
  validationWindows: number;
}

/**
 * Reads and checks the text before any worker starts (and again in each worker): a missing file, a
 * directory, or too few bytes for one window per part and per worker throw an error naming the file.
 */
export function loadTextData(c: TextChoice, blockSize: number): TextData {
  let split: TextSplit;
  let source: string;
  if (c.text !== undefined) {
    split = loadTextFiles(c.text, blockSize, c.valText);
    source = `--text ${c.text}${c.valText !== undefined ? ` (validation: --val-text ${c.valText})` : ' (first 90 % train, last 10 % validate)'}`;
  } else {
    const brown = loadBrown();
    split = brown;
    checkSplit(split, blockSize);
    source = describeBrown(brown.text);
  }
  const perRank = Math.floor(split.train.length / c.procs);
  if (perRank < blockSize + 1) {
    const where = c.text !== undefined ? `--text ${c.text}` : 'the Brown corpus';
    throw new Error(
      `${where}: its ${split.train.length} training bytes give each of ${c.procs} workers ${perRank} bytes, fewer than one window of ` +
        `block_size + 1 = ${blockSize + 1}; use more text, fewer --procs or a smaller --block-size`,
    );
  }
  const windows = Math.min(c.valWindows ?? VALIDATION_WINDOWS, evalWindowStarts(split.val.length, blockSize).length);
  const validation = split.val.subarray(0, windows * blockSize + 1);
  const description = `${source}; ${split.train.length} training bytes, validation on the first ${windows} windows ` +
    `(${windows * blockSize} predicted bytes) of ${split.val.length} validation bytes`;
  return { split, description, validation, validationWindows: windows };
}

/** The vocabulary and sequence length a GPT is built for. */
export function textDataShape(blockSize: number): { features: number; classes: number } {
  return { features: blockSize, classes: BYTE_VOCAB_SIZE };
}

/** ByteWindowLoader's windows as the model's token batches. */
export function toTokenBatch(batch: { inputs: Uint32Array; targets: Uint32Array; rows: number }): TokenBatch {
  return { tokens: batch.inputs, targets: batch.targets, size: batch.rows };
}

/** The validation windows in batches of `batchSize` (the last one zero-padded, `size` real rows). */
export function* validationBatches(data: TextData, blockSize: number, batchSize: number): Generator<TokenBatch, void, undefined> {
  for (const b of evalTextBatches(data.validation, blockSize, batchSize)) yield toTokenBatch(b);
}

export { ByteWindowLoader };
