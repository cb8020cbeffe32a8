// The float64 GPT reference against PyTorch: a nanoGPT-style model (test/fixtures/nanogpt.py) given
// the same weights by nanoGPT's names gives the same loss, logits, every gradient, gradient norm
// and two AdamW steps with clipping, to ~1e-10. Needs python3 with torch (scripts/setup-bench.sh,
// which `npm run setup` and CI run); without it the test fails and says how to install it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findTorchPython } from '../../bench/lib/pytorch-anchor.js';
import type { SafetensorsTensor } from '../../src/io/safetensors.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/io/safetensors-file.js';
import { assertClose } from '../helpers/assert.js';
import {
  clipGradNorm, gptAdamWStep, gptLayout, gptLossAndGrads, randomGptParams, tensorOf, type GptConfig,
} from '../helpers/gpt-reference.js';
import { BASE_SEED, rng } from '../helpers/random.js';

const test = suite('GPT reference against PyTorch');
const dir = mkdtempSync(join(tmpdir(), 'gpt-pytorch-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function torchPython(): string {
  const python = findTorchPython();
  if (!python) throw new Error('python3 with torch not found: apt-get install python3-torch (or: bash scripts/setup-bench.sh); this test needs it and does not skip');
  return python;
}

/** test/fixtures/nanogpt.py, found from the bundle under dist/. */
function fixture(): string {
  let at = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, at = dirname(at)) {
    const candidate = join(at, 'test', 'fixtures', 'nanogpt.py');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot find test/fixtures/nanogpt.py above ${fileURLToPath(import.meta.url)}`);
}

const f64 = (shape: number[], values: Float64Array): SafetensorsTensor => ({ dtype: 'F64', shape, data: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) });
const i64 = (shape: number[], values: number[]): SafetensorsTensor => ({ dtype: 'I64', shape, data: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) });

function toF64(t: SafetensorsTensor | undefined, name: string): Float64Array {
  if (!t) throw new Error(`nanogpt.py wrote no tensor "${name}"`);
  if (t.dtype !== 'F64') throw new Error(`"${name}" is ${t.dtype}, expected F64`);
  return new Float64Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
}

interface Case {
  input: string;
  output: string;
  /** Compares what nanogpt.py wrote with the reference. */
  check: () => void;
}

/** Writes the case's input file and computes the reference; check() runs after nanogpt.py. */
function prepareCase(c: GptConfig, B: number, T: number, seedOffset: number): Case {
  const random = rng(seedOffset);
  const layout = gptLayout(c);
  const params = randomGptParams(c, random, 0.3);
  const inputs = Array.from({ length: B * T }, () => Math.floor(random() * c.vocabSize));
  const targets = Array.from({ length: B * T }, () => Math.floor(random() * c.vocabSize));
  const hyper = { lr: 3e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
  const steps = 2;

  // The reference's two steps; clipping is set to half the first norm, so it acts.
  const p = params.slice();
  const m = new Float64Array(layout.size);
  const v = new Float64Array(layout.size);
  const ref: RefStep[] = [];
  let gradClip = NaN;
  for (let step = 1; step <= steps; step++) {
    const { loss, grads, forward } = gptLossAndGrads(c, p, inputs, targets, B, T);
    const unclipped = grads.slice();
    if (step === 1) gradClip = 0.5 * Math.hypot(...grads);
    const norm = clipGradNorm(grads, gradClip);
    gptAdamWStep(c, p, grads, m, v, { ...hyper, step });
    ref.push({ loss, grads: unclipped, norm, params: p.slice(), logits: forward.logits });
  }

  const input = join(dir, `in-${seedOffset}.safetensors`);
  const output = join(dir, `out-${seedOffset}.safetensors`);
  writeSafetensorsFile(
    input,
    [
      ...layout.entries.map((e) => ({ name: e.name, ...f64(e.shape, tensorOf(layout, params, e.name)) })),
      { name: 'inputs', ...i64([B, T], inputs) },
      { name: 'targets', ...i64([B, T], targets) },
    ],
    {
      n_layer: String(c.nLayer), n_head: String(c.nHead), n_embd: String(c.nEmbd), block_size: String(c.blockSize), vocab_size: String(c.vocabSize),
      lr: String(hyper.lr), beta1: String(hyper.beta1), beta2: String(hyper.beta2), weight_decay: String(hyper.weightDecay),
      grad_clip: String(gradClip), steps: String(steps),
    },
  );
  return { input, output, check: () => checkCase(c, B, T, layout, params, ref, gradClip, readSafetensorsFile(output).tensors) };
}

function runPytorch(cases: Case[]): void {
  const args = cases.flatMap((k) => [k.input, k.output]);
  const run = spawnSync(torchPython(), [fixture(), ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (run.status !== 0) throw new Error(`nanogpt.py failed (exit ${run.status}): ${run.stderr.trim().split('\n').slice(-5).join(' / ')}`);
}

interface RefStep { loss: number; grads: Float64Array; norm: number; params: Float64Array; logits: Float64Array }

function checkCase(
  c: GptConfig, B: number, T: number, layout: ReturnType<typeof gptLayout>, params: Float64Array, ref: RefStep[], gradClip: number,
  tensors: Map<string, SafetensorsTensor>,
): void {
  const steps = ref.length;
  const what = `n_layer ${c.nLayer}, n_head ${c.nHead}, n_embd ${c.nEmbd}, vocab ${c.vocabSize}, B ${B}, T ${T} (TEST_SEED=${BASE_SEED})`;

  assertClose(toF64(tensors.get('logits.1'), 'logits.1'), ref[0]!.logits, `${what}: logits`, 1e-12);
  for (let step = 1; step <= steps; step++) {
    const r = ref[step - 1]!;
    const loss = toF64(tensors.get(`loss.${step}`), 'loss')[0]!;
    assert.ok(Math.abs(loss - r.loss) <= 1e-12 * r.loss, `${what}, step ${step}: loss ${r.loss}, PyTorch ${loss}`);
    const norm = toF64(tensors.get(`grad_norm.${step}`), 'grad_norm')[0]!;
    assert.ok(Math.abs(norm - r.norm) <= 1e-10 * r.norm, `${what}, step ${step}: gradient norm ${r.norm}, PyTorch ${norm}`);
    for (const e of layout.entries) {
      assertClose(toF64(tensors.get(`grad.${step}.${e.name}`), e.name), tensorOf(layout, r.grads, e.name), `${what}, step ${step}: gradient of ${e.name}`, 1e-10);
      // The parameters move by ~lr per step: compare the moves, not the parameters, to see an optimizer difference.
      const start = step === 1 ? params : ref[step - 2]!.params;
      const torchAfter = toF64(tensors.get(`param.${step}.${e.name}`), e.name);
      const before = tensorOf(layout, start, e.name);
      assertClose(
        torchAfter.map((x, i) => x - before[i]!), tensorOf(layout, r.params, e.name).map((x, i) => x - before[i]!),
        `${what}, step ${step}: AdamW update of ${e.name}`, 1e-9,
      );
    }
  }
  assert.ok(ref[0]!.norm > gradClip, 'clipping acted on the first step');
}

// One python process for both cases (importing torch takes seconds); each case is its own test.
const cases = [
  prepareCase({ nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 5, vocabSize: 7 }, 2, 5, 1),
  prepareCase({ nLayer: 2, nHead: 4, nEmbd: 12, blockSize: 8, vocabSize: 256 }, 3, 6, 2),
];
let ran = false;
const checkAfterRun = (k: Case): void => {
  if (!ran) {
    runPytorch(cases);
    ran = true;
  }
  k.check();
};

test('the tiny GPT (2 layers, 2 heads, n_embd 8, block 5, vocab 7): PyTorch gives the same loss, logits, gradients and two clipped AdamW steps', () => {
  checkAfterRun(cases[0]!);
});

test('the same with the byte vocabulary, 4 heads of width 3 and T < block_size', () => {
  checkAfterRun(cases[1]!);
});

test.run();
