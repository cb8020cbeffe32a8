// Checkpoints as safetensors: the model's parameter layout table plus the bytes. The weights keep
// the layout's PyTorch state-dict names (the MLP's are nn.Linear's, so an equivalent PyTorch model
// loads them unchanged), each tensor's role goes into the metadata, optionally the optimizer state as `optimizer.<state>.<name>`,
// and a small JSON metadata block. Written atomically.
//
// A whole-run checkpoint of a multi-process run (--checkpoint-every) holds the averaged weights,
// which are also the outer optimizer's θ, the outer momentum buffer as `outer.momentum.<name>`, and
// `outer` metadata; its step is also the data position (the loader is deterministic in seed, epoch
// and step). It holds no worker optimizer state: that is local to each worker.
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { tensorToFloat32, type SafetensorsTensor } from '../io/safetensors.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors-file.js';
import type { ParameterLayout } from '../nn/layout.js';
import { modelCheckpointMetadata } from '../nn/model.js';
import { firstNonFinite } from '../accelerate/finite.js';

export const CHECKPOINT_FORMAT = 'webgpu-local-sgd/1';

/** The coordinator's DiLoCo state; θ is the checkpoint's weights. */
export interface OuterState {
  kind: string;
  lr: number;
  momentum: number;
  /** Outer steps (averaging rounds) taken. */
  rounds: number;
  momentumBuffer: Float32Array;
}

export interface CheckpointContents {
  params: Float32Array;
  optimizer?: { kind: string; state: Map<string, Float32Array> } | undefined;
  outer?: OuterState | undefined;
  /** Optimizer steps taken. */
  step: number;
  config?: unknown;
}

function f32Tensor(shape: readonly number[], values: Float32Array): SafetensorsTensor {
  return { dtype: 'F32', shape: [...shape], data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function saveCheckpoint(path: string, layout: ParameterLayout, contents: CheckpointContents): void {
  const tensors: Array<{ name: string } & SafetensorsTensor> = [];
  const addFlat = (prefix: string, flat: Float32Array) => {
    for (const t of layout.tensors) tensors.push({ name: prefix + t.name, ...f32Tensor(t.shape, flat.subarray(t.offset, t.offset + t.size)) });
  };
  addFlat('', contents.params);
  if (contents.optimizer) {
    for (const [state, flat] of contents.optimizer.state) addFlat(`optimizer.${state}.`, flat);
  }
  if (contents.outer) addFlat('outer.momentum.', contents.outer.momentumBuffer);
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    step: String(contents.step),
    layers: JSON.stringify(layout.tensors.map((t) => ({ name: t.name, shape: t.shape, role: t.role }))),
  };
  if (contents.optimizer) metadata.optimizer = contents.optimizer.kind;
  if (contents.outer) {
    const { kind, lr, momentum, rounds } = contents.outer;
    metadata.outer = JSON.stringify({ optimizer: kind, lr, momentum, rounds });
  }
  if (contents.config !== undefined) metadata.config = JSON.stringify(contents.config);
  Object.assign(metadata, modelCheckpointMetadata(contents.config, layout));
  try {
    writeSafetensorsFile(path, tensors, metadata);
  } catch (error) {
    // The trained model is worth more than the path it was meant for: keep a copy where we can.
    const copy = rescue(path, (to) => writeSafetensorsFile(to, tensors, metadata));
    throw new Error(`${(error as Error).message}; ${copy ? `a copy was saved to ${copy} instead` : `no copy could be written to ${process.cwd()} or ${tmpdir()} either`}`, { cause: error });
  }
}

/** Writes a checkpoint that could not go to `path` beside the working directory, else in the temp directory; returns where. */
function rescue(path: string, write: (to: string) => void): string | undefined {
  const name = `${basename(path).replace(/\.safetensors$/, '')}.rescued-${process.pid}.safetensors`;
  for (const dir of [process.cwd(), tmpdir()]) {
    const to = join(dir, name);
    if (resolve(to) === resolve(path)) continue;
    try {
      write(to);
      return to;
    } catch {
      // Try the next place; the original error is the one reported.
    }
  }
  return undefined;
}

export interface LoadedCheckpoint {
  params: Float32Array;
  step: number;
  optimizer?: { kind: string; state: Map<string, Float32Array> };
  /** Present in whole-run checkpoints. */
  outer?: OuterState;
  /** The config of the run that wrote it, if recorded. */
  config?: Record<string, unknown>;
}

/**
 * Reads a checkpoint into the flat layout. Every tensor of the layout must be present with the
 * expected shape; errors name the tensor, its shape and the expected one.
 */
export function loadCheckpoint(
  path: string, layout: ParameterLayout,
  options: { withOptimizer: false } | { withOptimizer: true; optimizerKind: string; optimizerStates: readonly string[] },
): LoadedCheckpoint {
  let file;
  try {
    file = readSafetensorsFile(path);
  } catch (e) {
    throw new Error(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  const readFlat = (prefix: string): Float32Array => {
    const flat = new Float32Array(layout.totalFloats);
    for (const t of layout.tensors) {
      const name = prefix + t.name;
      const tensor = file.tensors.get(name);
      if (!tensor) {
        throw new Error(`checkpoint ${path} has no tensor "${name}" (expected shape [${t.shape.join(', ')}]); ` +
          `it holds: ${[...file.tensors.keys()].slice(0, 8).join(', ')}${file.tensors.size > 8 ? ', ...' : ''}. ${settingsHint(file.metadata.config)}`);
      }
      if (tensor.shape.length !== t.shape.length || tensor.shape.some((d, i) => d !== t.shape[i])) {
        throw new Error(`checkpoint ${path}: tensor "${name}" has shape [${tensor.shape.join(', ')}], expected [${t.shape.join(', ')}]. ${settingsHint(file.metadata.config)}`);
      }
      const values = tensorToFloat32(tensor, name, path);
      const bad = firstNonFinite(values);
      if (bad >= 0) {
        throw new Error(`checkpoint ${path}: tensor "${name}" holds ${values[bad]} at element ${bad}; a checkpoint with NaN or infinite values cannot start a run (it was written by a run that diverged, or is corrupt)`);
      }
      flat.set(values, t.offset);
    }
    return flat;
  };
  const params = readFlat('');
  const stepText = file.metadata.step ?? '0';
  if (!/^\d{1,15}$/.test(stepText)) {
    throw new Error(`checkpoint ${path}: metadata field "step" is "${stepText}", expected a whole number of optimizer steps (0 or more)`);
  }
  const step = Number(stepText);
  const loaded: LoadedCheckpoint = { params, step };
  if (file.metadata.config) loaded.config = metadataField(path, 'config', file.metadata.config, z.record(z.unknown()));
  if (file.metadata.outer) {
    const o = metadataField(path, 'outer', file.metadata.outer, OuterMetadata);
    loaded.outer = { kind: o.optimizer, lr: o.lr, momentum: o.momentum, rounds: o.rounds, momentumBuffer: readFlat('outer.momentum.') };
  }
  if (!options.withOptimizer) return loaded;
  const kind = file.metadata.optimizer;
  // A whole-run checkpoint resumes without worker optimizer state (see the top of this file).
  if (!kind && loaded.outer) return loaded;
  if (!kind) throw new Error(`checkpoint ${path} holds no optimizer state, so it cannot --resume a run; use --init to start from its weights`);
  if (kind !== options.optimizerKind) {
    throw new Error(`checkpoint ${path} holds ${kind} state but --optimizer is ${options.optimizerKind}; resume with --optimizer ${kind}, or use --init to take only the weights`);
  }
  const state = new Map<string, Float32Array>();
  for (const s of options.optimizerStates) state.set(s, readFlat(`optimizer.${s}.`));
  return { ...loaded, optimizer: { kind, state } };
}

/**
 * What to compare when a checkpoint's tensors do not fit this model: the model settings of the run
 * that wrote it, as flags, where its metadata recorded them (every checkpoint this program writes
 * with --save does), else the flags that shape each model.
 */
function settingsHint(configText: string | undefined): string {
  let model: unknown;
  try {
    model = configText === undefined ? undefined : (JSON.parse(configText) as { model?: unknown }).model;
  } catch {
    model = undefined; // a malformed config is reported where it is read; here it only costs the detail
  }
  const generic = 'Do the model settings (--model and its shape: --hidden and the data\'s features and classes for the MLP; ' +
    '--n-layer, --n-head, --n-embd and --block-size for the GPT) match the run that wrote it?';
  if (typeof model !== 'object' || model === null || typeof (model as { kind?: unknown }).kind !== 'string') return generic;
  // The model's config keys are its flags in camelCase (nLayer is --n-layer).
  const flags = Object.entries(model).map(([key, value]) => {
    const flag = key === 'kind' ? '--model' : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return `${flag} ${Array.isArray(value) ? value.join(',') : String(value)}`;
  });
  const mlp = (model as { kind: string }).kind === 'mlp' ? ' (and, for the MLP, the data\'s feature and class count)' : '';
  return `The run that wrote it had ${flags.join(' ')}: do this run's model settings${mlp} match?`;
}

/** What a whole-run checkpoint records of its outer optimizer. */
const OuterMetadata = z.object({
  optimizer: z.string(),
  lr: z.number().finite(),
  momentum: z.number().finite(),
  rounds: z.number().int().nonnegative(),
});

/** A JSON metadata field, checked: a malformed one names the file and the field, not a parser's position. */
function metadataField<T>(path: string, field: string, text: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`checkpoint ${path}: metadata field "${field}" is not valid JSON (${(e as Error).message}); the file is corrupt or was not written by this program`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`checkpoint ${path}: metadata field "${field}" is malformed at "${issue.path.join('.') || '(root)'}": ${issue.message}`);
  }
  return parsed.data;
}
