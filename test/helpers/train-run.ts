// Runs training in-process or through dist/train.js for the promise-level tests, and reads back
// the saved weights.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainArgs } from '../../src/cli/config.js';
import { createRng } from '../../src/data/prng.js';
import { tensorToFloat32 } from '../../src/io/safetensors.js';
import { readSafetensorsFile } from '../../src/io/safetensors-file.js';
import { trainWorker } from '../../src/train/train-worker.js';
import type { TrainRecord, WorkerSummary } from '../../src/train/records.js';
import { nodePlatform } from '../../src/train/node-platform.js';

/** A small learnable task that trains in a second or two on lavapipe. */
export const SMALL_TASK = [
  '--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
  '--hidden', '16', '--batch-size', '16', '--quiet',
];

/**
 * The smallest GPT (1 layer, 2 heads, width 16, block 8; 7,536 parameters) with every training
 * setting given, so that --model gpt's own defaults (nanoGPT's recipe) do not change what a test
 * measures. Add `--text` (writeWordSalad makes one).
 */
export const TINY_GPT = [
  '--model', 'gpt', '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '8', '--batch-size', '4',
  '--optimizer', 'adamw', '--lr', '0.01', '--weight-decay', '0.1', '--grad-clip', '1', '--schedule', 'constant', '--warmup-steps', '0', '--quiet',
];

/** Writes `words` words drawn from a 14-word vocabulary (~4 bytes each): text a tiny GPT learns in a few dozen steps. */
export function writeWordSalad(path: string, words = 1500, seed = 7): string {
  const rng = createRng(seed);
  const vocabulary = 'the quick brown fox jumps over a lazy dog and then the cat sat on its mat'.split(' ');
  writeFileSync(path, Array.from({ length: words }, () => vocabulary[rng.int(vocabulary.length)]).join(' '));
  return path;
}

export function tempDir(): { path: string; file(name: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'lsgd-test-'));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function trainInProcess(args: string[]): Promise<{ summary: WorkerSummary; records: TrainRecord[] }> {
  const records: TrainRecord[] = [];
  const summary = await trainWorker(parseTrainArgs(['--procs', '1', ...args]), { platform: nodePlatform, onLog: (r) => r.kind === 'train' && records.push(r) });
  return { summary, records };
}

/** All tensors of a safetensors file, concatenated in file order, plus each by name. */
export function readWeights(path: string): { all: Float32Array; byName: Map<string, Float32Array>; metadata: Record<string, string> } {
  const file = readSafetensorsFile(path);
  const byName = new Map<string, Float32Array>();
  let total = 0;
  for (const [name, t] of file.tensors) {
    const values = tensorToFloat32(t, name, path);
    byName.set(name, values);
    total += values.length;
  }
  const all = new Float32Array(total);
  let offset = 0;
  for (const values of byName.values()) {
    all.set(values, offset);
    offset += values.length;
  }
  return { all, byName, metadata: file.metadata };
}
