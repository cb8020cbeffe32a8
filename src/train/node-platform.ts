// A worker in a Node process: data, checkpoints and the autotune cache from the disk.
import type { AutotuneStore } from '../kernels/autotune.js';
import { FileAutotuneStore } from './autotune-file-store.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { prepareTrainingData } from './load-training-data.js';
import type { WorkerPlatform } from './worker-platform.js';

let autotuneStore: AutotuneStore | undefined;

export const nodePlatform: WorkerPlatform = {
  loadData: prepareTrainingData,
  saveCheckpoint,
  loadCheckpoint,
  // One per process: its entries are merged into the file at each write.
  autotuneStore: () => (autotuneStore ??= new FileAutotuneStore()),
};
