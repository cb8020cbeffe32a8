// The averaging rule, observed in real runs of both models: every replica leaves a parameter round
// holding the float64 mean (rounded once) of the weights all replicas brought to it, or with an
// outer optimizer DiLoCo's step from that mean; between rounds the replicas differ; through the
// post-local SGD warmup they are bit-identical after every step (synchronous mode itself, and K=1
// equal to it, is in local-sgd.test.ts, on both models too). The rounds are read
// from the workers' own trace of what they sent and received (TRACE_ROUNDS_ENV), the weights they
// held after each step from the weight trace (TRACE_WEIGHTS_ENV).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildLayout, type TensorSpec } from '../../src/nn/layout.js';
import { SAVE_EVERY_RANK_ENV, TRACE_ROUNDS_ENV, TRACE_WEIGHTS_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual, assertClose, relativeError } from '../helpers/assert.js';
import { meanRef } from '../helpers/reference.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, SMALL_TASK, tempDir, TINY_GPT, writeWordSalad } from '../helpers/train-run.js';

const test = suite('the averaging rule, on the MLP and the GPT');
const dir = tempDir();
// AdamW inside, as DiLoCo trains language models; the rule must not depend on the inner optimizer.
const MODELS = {
  mlp: [...SMALL_TASK, '--optimizer', 'adamw', '--lr', '0.01', '--seed', '5'],
  gpt: [...TINY_GPT, '--text', writeWordSalad(dir.file('words.txt')), '--seed', '5'],
};

interface Round { kind: 'params' | 'broadcast'; step?: number; sent?: Float32Array; received: Float32Array }

const floats = (base64: string) => {
  const b = Buffer.from(base64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

/** Per rank, the parameter rounds and broadcasts in the order it took part in them. */
function roundsOf(prefix: string, procs: number): Round[][] {
  return Array.from({ length: procs }, (_, rank) => lines(`${prefix}.rank${rank}.jsonl`).map((r) => ({
    kind: r.kind as Round['kind'],
    ...(r.step === undefined ? {} : { step: r.step as number }),
    ...(r.sent === undefined ? {} : { sent: floats(r.sent as string) }),
    received: floats(r.received as string),
  })));
}

/** Per rank, step → digest of the weights it held after that step (and the round that may follow it). */
function heldAfter(prefix: string, procs: number): Array<Map<number, string>> {
  return Array.from({ length: procs }, (_, rank) => new Map(lines(`${prefix}.rank${rank}.jsonl`).map((r) => [r.step as number, r.digest as string])));
}

async function traced(name: string, args: string[]): Promise<{ rounds: Round[][]; held: Array<Map<number, string>>; save: string }> {
  const procs = Number(args[args.indexOf('--procs') + 1]);
  const save = dir.file(`${name}.safetensors`);
  const r = await runTrain([...args, '--save', save], {
    [TRACE_ROUNDS_ENV]: dir.file(`${name}-rounds`), [TRACE_WEIGHTS_ENV]: dir.file(`${name}-weights`), [SAVE_EVERY_RANK_ENV]: '1',
  });
  assert.is(r.code, 0, `train.js ${args.join(' ')} failed:\n${r.stderr}`);
  return { rounds: roundsOf(dir.file(`${name}-rounds`), procs), held: heldAfter(dir.file(`${name}-weights`), procs), save };
}

/** A checkpoint's weights in the flat layout the rounds carry (its layer table gives the offsets; padding is zero). */
function flatWeights(path: string): Float32Array {
  const { byName, metadata } = readWeights(path);
  const layout = buildLayout(JSON.parse(metadata.layers!) as TensorSpec[]);
  const flat = new Float32Array(layout.totalFloats);
  for (const t of layout.tensors) flat.set(byName.get(t.name)!, t.offset);
  return flat;
}

/** DiLoCo's outer step in float64 (PyTorch's SGD with Nesterov momentum on Δ = θ − mean), θ and the buffer updated in place. */
function outerStep(theta: Float64Array, buf: Float64Array, mean: Float32Array, o: { lr: number; momentum: number }): Float64Array {
  for (let i = 0; i < theta.length; i++) {
    const delta = theta[i]! - mean[i]!;
    buf[i] = o.momentum * buf[i]! + delta;
    theta[i] = theta[i]! - o.lr * (delta + o.momentum * buf[i]!);
  }
  return theta;
}

const agree = (held: Array<Map<number, string>>, step: number) => held.every((h) => h.get(step) !== undefined && h.get(step) === held[0]!.get(step));

for (const [model, task] of Object.entries(MODELS)) {
  test(`${model}: Local SGD K=3 on 3 workers: each replica leaves every round, the closing one included, with the float64 mean of what all replicas sent, bit for bit; between rounds they differ`, async () => {
    const procs = 3;
    const { rounds, held, save } = await traced(`${model}-k3`, [...task, '--procs', String(procs), '--max-steps', '10', '--local-sgd-steps', '3']);
    const params = rounds.map((own) => own.filter((x) => x.kind === 'params'));
    for (const [rank, own] of params.entries()) assert.equal(own.map((x) => x.step), [3, 6, 9, 10], `rank ${rank}: rounds after steps 3, 6, 9 and the closing one`);
    for (let i = 0; i < 4; i++) {
      const step = params[0]![i]!.step!;
      const sent = params.map((own) => own[i]!.sent!);
      assert.ok(relativeError(sent[1]!, sent[0]!) > 1e-6, `step ${step}: each replica took its local steps on its own data, so they brought different weights`);
      const mean = meanRef(sent);
      for (let rank = 0; rank < procs; rank++) {
        assertBitwiseEqual(params[rank]![i]!.received, mean, `rank ${rank}: the round after step ${step}`);
        // The weight trace is taken after each step and the round that follows it; the closing round comes after the last trace.
        if (step < 10) assert.is(held[rank]!.get(step), digest(mean), `rank ${rank} holds the mean after step ${step}`);
        else assert.is(held[rank]!.get(step), digest(sent[rank]!), `rank ${rank} brought to the closing round the weights it held after step 10`);
      }
      if (step === 10) for (let rank = 0; rank < procs; rank++) assertBitwiseEqual(flatWeights(`${save}.rank${rank}`), mean, `rank ${rank}'s final weights`);
    }
    for (const step of [1, 2, 4, 5, 7, 8, 10]) assert.not.ok(agree(held, step), `step ${step} is local: the replicas differ`);
    assertBitwiseEqual(flatWeights(save), params[0]![3]!.received, 'the saved model is the closing average');
  });

  test(`${model}: post-local SGD warmup of 4 steps, then DiLoCo (Nesterov lr 0.7, momentum 0.9) every 3: bit-identical through the warmup, then every round leaves each replica at the outer step from the mean`, async () => {
    const procs = 2;
    const outer = { lr: 0.7, momentum: 0.9 };
    const { rounds, held } = await traced(`${model}-diloco`, [...task, '--procs', String(procs), '--max-steps', '11', '--local-sgd-steps', '3', '--local-sgd-warmup-steps', '4',
      '--outer-optimizer', 'nesterov', '--outer-lr', String(outer.lr), '--outer-momentum', String(outer.momentum)]);
    for (const step of [1, 2, 3, 4]) assert.ok(agree(held, step), `warmup step ${step}: gradients are averaged, so the replicas are bit-identical`);
    for (const step of [5, 6, 8, 9, 11]) assert.not.ok(agree(held, step), `local step ${step}: the replicas differ`);
    for (const step of [7, 10]) assert.ok(agree(held, step), `after the round at step ${step} the replicas are bit-identical`);
    // The broadcasts: rank 0's initial weights, then at the end of the warmup the weights the local steps start from (θ).
    for (const own of rounds) assert.equal(own.map((x) => x.kind), ['broadcast', 'broadcast', 'params', 'params', 'params']);
    const announced = rounds[0]![1]!.received;
    assert.is(held[0]!.get(4), digest(announced), 'θ is what the replicas held after the warmup');
    const theta = Float64Array.from(announced);
    const buf = new Float64Array(theta.length);
    for (let i = 2; i < 5; i++) {
      const step = rounds[0]![i]!.step!;
      const mean = meanRef(rounds.map((own) => own[i]!.sent!));
      const received = rounds[0]![i]!.received;
      assertBitwiseEqual(rounds[1]![i]!.received, received, `the round after step ${step}: rank 1 vs rank 0`);
      assertClose(received, outerStep(theta, buf, mean, outer), `the outer step from the mean after step ${step}`, 1e-6);
      assert.ok(relativeError(received, mean) > 1e-4, `the outer step moved the weights away from the plain mean after step ${step}`);
      if (step < 11) for (let rank = 0; rank < procs; rank++) assert.is(held[rank]!.get(step), digest(received), `rank ${rank} holds the outer step's weights after step ${step}`);
      theta.set(received); // the coordinator keeps θ in float32
    }
  });
}

test.after(() => dir.remove());
test.run();
