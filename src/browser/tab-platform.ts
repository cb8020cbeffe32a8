// A worker in a browser tab: its data comes from the master over HTTP (the same split a Node worker
// loads from the disk, so the tab's shard and batches are the same numbers), and it has no files.
// --save is written by rank 0, which the launcher keeps a Node worker; --resume and --init are refused
// by the launcher before a tab is seated, so reaching them here is a bug, said as such.
import { DATA_TICKET_HEADER } from '../comm/data-ticket.js';
import { decodeDataSplit } from '../data/split-codec.js';
import { MemoryAutotuneStore } from '../kernels/autotune.js';
import { shardedTrainingData } from '../train/training-data.js';
import type { WorkerPlatform } from '../train/worker-platform.js';
import { DATA_SPLIT_PATH } from './site-paths.js';

export function tabPlatform(site: URL, ticket: string): WorkerPlatform {
  // A page has no file system: a tab measures once per shape class per page load.
  const autotuneStore = new MemoryAutotuneStore();
  return {
    autotuneStore: () => autotuneStore,
    async loadData(config, rank, worldSize) {
      if (config.model.kind !== 'mlp') throw new Error(`a browser tab trains the MLP only for now; this run's model is ${config.model.kind}`);
      const url = new URL(DATA_SPLIT_PATH, site);
      const response = await fetch(url, { headers: { [DATA_TICKET_HEADER]: ticket } });
      if (!response.ok) throw new Error(`the master refused the run's data at ${url.pathname}: HTTP ${response.status} ${await response.text()}`);
      const split = decodeDataSplit(new Uint8Array(await response.arrayBuffer()), `the data from ${url.pathname}`);
      return shardedTrainingData(split, config, rank, worldSize);
    },
    saveCheckpoint(path) {
      throw new Error(`a browser tab was asked to save ${path}, but only rank 0 saves and the launcher keeps rank 0 a Node worker`);
    },
    loadCheckpoint(path) {
      throw new Error(`a browser tab was asked to read ${path}, but the launcher refuses --resume and --init with browser workers`);
    },
  };
}
