// What a worker needs from where it runs, beyond the GPU: its data, and the files of --save, --resume
// and --init. A Node worker reads and writes the disk (node-platform.ts); a browser tab gets its data
// from the master over HTTP and has no files (src/browser/). Passed in rather than imported, so the
// training loop's modules import nothing of Node and bundle for a page as they are (type imports are
// erased).
import type { AutotuneStore } from '../kernels/autotune.js';
import type { ParameterLayout } from '../nn/layout.js';
import type { CheckpointContents, LoadedCheckpoint, loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { TrainingData } from './training-data.js';

export interface WorkerPlatform {
  /** This rank's part of the training data (DistributedSampler semantics) and the held-out set. */
  loadData(config: TrainConfig, rank: number, worldSize: number): Promise<TrainingData>;
  saveCheckpoint(path: string, layout: ParameterLayout, contents: CheckpointContents): void;
  loadCheckpoint(path: string, layout: ParameterLayout, options: Parameters<typeof loadCheckpoint>[2]): LoadedCheckpoint;
  /** Where kernel choices measured by autotune persist: a file in the user's cache directory, or memory. */
  autotuneStore(): AutotuneStore;
}
