// For the tests of sample.js and eval.js: a tiny GPT trained by train.js on a word salad, its
// weights in the float64 reference's layout, an MLP checkpoint to refuse, and a runner that keeps
// a tool's stdout as bytes (the tools write bytes that need not be valid UTF-8).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { createRng } from '../../src/data/prng.js';
import { gptLayout, type GptConfig } from './gpt-reference.js';
import { runTrain } from './processes.js';
import { readWeights, SMALL_TASK } from './train-run.js';

export const SAMPLE_JS = fileURLToPath(new URL('../../sample.js', import.meta.url));
export const EVAL_JS = fileURLToPath(new URL('../../eval.js', import.meta.url));

export const TINY: GptConfig = { vocabSize: 256, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 };

/** `words` words drawn from a dozen (plus one two-byte letter), seeded: learnable in a few dozen steps. */
export function wordSalad(words: number, seed: number): string {
  const rng = createRng(seed);
  const vocabulary = 'the quick brown fox jumps over a lazy dog and then the café cat sat on its mat'.split(' ');
  return Array.from({ length: words }, () => vocabulary[rng.int(vocabulary.length)]).join(' ');
}

/** Trains TINY for `steps` AdamW steps on `textFile` with train.js (one process) and saves it to `save`. */
export async function trainTinyGpt(textFile: string, save: string, steps = 40): Promise<void> {
  const r = await runTrain([
    '--model', 'gpt', '--procs', '1', '--n-layer', String(TINY.nLayer), '--n-head', String(TINY.nHead), '--n-embd', String(TINY.nEmbd),
    '--block-size', String(TINY.blockSize), '--batch-size', '8', '--text', textFile, '--max-steps', String(steps),
    '--optimizer', 'adamw', '--lr', '0.01', '--schedule', 'constant', '--warmup-steps', '0', '--seed', '3', '--save', save, '--quiet',
  ]);
  assert.is(r.code, 0, `training the tiny GPT failed: ${r.stderr}`);
}

/** A small MLP's checkpoint (train.js --model mlp), which the language-model tools must refuse. */
export async function trainMlp(save: string): Promise<void> {
  const r = await runTrain([...SMALL_TASK, '--model', 'mlp', '--procs', '1', '--max-steps', '1', '--save', save]);
  assert.is(r.code, 0, `training the MLP failed: ${r.stderr}`);
}

/** The checkpoint's GPT weights, float64, in the reference's layout (by nanoGPT's names). */
export function referenceParams(checkpoint: string): Float64Array {
  const { byName } = readWeights(checkpoint);
  const layout = gptLayout(TINY);
  const params = new Float64Array(layout.size);
  for (const e of layout.entries) {
    const values = byName.get(e.name);
    if (!values) throw new Error(`${checkpoint} has no ${e.name}`);
    params.set(values, e.offset);
  }
  return params;
}

export interface ToolRun {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function runTool(script: string, args: string[]): ToolRun {
  const r = spawnSync(process.execPath, [script, ...args], { timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

export function writeText(path: string, text: string | Uint8Array): string {
  writeFileSync(path, text);
  return path;
}
