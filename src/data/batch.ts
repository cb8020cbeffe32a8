// What a model reads for one micro-batch. A classifier reads float features and one label per
// sample; a language model reads token ids and a target for every position. The arrays hold
// `rows` (the graph's batch size) samples; only the first `size` are real (see evalBatches).

/** Float features [rows, features] row-major, and one class label per sample. */
export interface FeatureBatch {
  x: Float32Array;
  y: Uint32Array;
  /** Rows that hold real samples; the rest (eval batches only) are zero padding. */
  size: number;
}

/** Token ids [rows, positions] row-major, and the target of every position (the next token). */
export interface TokenBatch {
  tokens: Uint32Array;
  targets: Uint32Array;
  size: number;
}

export type Batch = FeatureBatch | TokenBatch;

export function isFeatureBatch(batch: Batch): batch is FeatureBatch {
  return 'x' in batch;
}
