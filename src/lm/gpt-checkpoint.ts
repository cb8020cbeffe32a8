// A GPT from a checkpoint file, for the tools that use a trained model (sample.js, eval.js): the
// sizes come from the file's __metadata__ (nanoGPT's GPTConfig fields, written by train.js
// --model gpt), the weights by nanoGPT's names. A file that holds another model is refused with
// what it holds, before any GPU work.
import { statSync } from 'node:fs';
import { z } from 'zod';
import type { GpuContext } from '../gpu/device.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import { BYTE_VOCAB_SIZE } from '../data/text.js';
import { Gpt, gptLayout, type GptOptions } from '../nn/gpt.js';
import { loadCheckpoint } from '../train/checkpoint.js';

export interface GptCheckpoint {
  path: string;
  options: GptOptions;
  params: Float32Array;
  /** Optimizer steps the run had taken. */
  step: number;
}

const GPT_KEYS = ['n_layer', 'n_head', 'n_embd', 'block_size', 'vocab_size'] as const;
const sizeField = z.string().regex(/^\d{1,9}$/, 'expected a whole number').transform(Number).refine((n) => n >= 1, 'expected a number ≥ 1');
const GptMetadata = z.object(Object.fromEntries(GPT_KEYS.map((k) => [k, sizeField])) as Record<(typeof GPT_KEYS)[number], typeof sizeField>);

/** Reads and checks a GPT checkpoint; every refusal says what the file is and what was expected. */
export function readGptCheckpoint(path: string, flag = '--checkpoint'): GptCheckpoint {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new Error(`${flag} ${path}: no such file; give a .safetensors file written by node dist/train.js --model gpt --save FILE`);
  }
  if (!stat.isFile()) throw new Error(`${flag} ${path}: is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}; give a .safetensors checkpoint file`);
  let file;
  try {
    file = readSafetensorsFile(path);
  } catch (e) {
    throw new Error(`${flag} ${path}: ${(e as Error).message}`);
  }
  const { metadata } = file;
  const kind = modelKindOf(metadata.config);
  const names = [...file.tensors.keys()];
  const shown = names.slice(0, 4).map((n) => `${n} [${file.tensors.get(n)!.shape.join(', ')}]`).join(', ') + (names.length > 4 ? ', …' : '');
  if (kind !== undefined && kind !== 'gpt') {
    throw new Error(`${flag} ${path}: holds a --model ${kind} checkpoint (${kind === 'mlp' ? 'an MLP classifier; ' : ''}tensors ${shown}), not a GPT; ` +
      'these tools read the checkpoints of node dist/train.js --model gpt --save FILE');
  }
  const absent = GPT_KEYS.filter((k) => metadata[k] === undefined);
  if (absent.length > 0) {
    throw new Error(`${flag} ${path}: is not a GPT checkpoint: its __metadata__ lacks ${absent.join(', ')} (nanoGPT's GPTConfig, written by train.js --model gpt); ` +
      `it holds ${names.length === 0 ? 'no tensors' : `tensors ${shown}`}`);
  }
  const parsed = GptMetadata.safeParse(Object.fromEntries(GPT_KEYS.map((k) => [k, metadata[k]])));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${flag} ${path}: __metadata__ ${String(issue.path[0])} is "${metadata[String(issue.path[0])]}": ${issue.message}`);
  }
  const m = parsed.data;
  if (m.vocab_size !== BYTE_VOCAB_SIZE) {
    throw new Error(`${flag} ${path}: a GPT with a vocabulary of ${m.vocab_size}; these tools read and write bytes, so they need vocab_size ${BYTE_VOCAB_SIZE}`);
  }
  if (m.n_embd % m.n_head !== 0) throw new Error(`${flag} ${path}: n_embd ${m.n_embd} is not a multiple of n_head ${m.n_head}; the file is corrupt`);
  const options: GptOptions = { vocabSize: m.vocab_size, blockSize: m.block_size, nLayer: m.n_layer, nHead: m.n_head, nEmbd: m.n_embd };
  const loaded = loadCheckpoint(path, gptLayout(options), { withOptimizer: false });
  return { path, options, params: loaded.params, step: loaded.step };
}

/** The `model.kind` of the run config a checkpoint records, if it records one. */
function modelKindOf(config: string | undefined): string | undefined {
  if (config === undefined) return undefined;
  try {
    const kind = (JSON.parse(config) as { model?: { kind?: unknown } }).model?.kind;
    return typeof kind === 'string' ? kind : undefined;
  } catch {
    return undefined; // a malformed config is no reason to refuse weights the metadata describes
  }
}

/** The GPT on the GPU, holding the checkpoint's weights. */
export function gptFromCheckpoint(ctx: GpuContext, checkpoint: GptCheckpoint): Gpt {
  const model = new Gpt(ctx, checkpoint.options);
  model.setParameters(checkpoint.params);
  return model;
}

export function describeCheckpoint(c: GptCheckpoint): string {
  const o = c.options;
  return `${c.path}: GPT ${o.nLayer} layers, ${o.nHead} heads, ${o.nEmbd} wide, block ${o.blockSize}, after ${c.step} steps`;
}
