// A worker in a Node process: data and checkpoints from the disk.
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { prepareTrainingData } from './load-training-data.js';
import type { WorkerPlatform } from './worker-platform.js';

export const nodePlatform: WorkerPlatform = { loadData: prepareTrainingData, saveCheckpoint, loadCheckpoint };
