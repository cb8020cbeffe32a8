// A whole MLP training step built from the kernels, checked three ways: against a float64
// forward/backward on the CPU, against central finite differences of the float64 loss, and
// micro-batch accumulation against the whole batch.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GpuContext } from '../../src/gpu/device.js';
import type { Dispatch } from '../../src/gpu/dispatch.js';
import { prepareActivationBackward, prepareActivationForward, type Activation } from '../../src/kernels/activation.js';
import { prepareBiasGrad } from '../../src/kernels/bias-grad.js';
import { prepareSoftmaxCrossEntropy } from '../../src/kernels/cross-entropy.js';
import { prepareMatmul } from '../../src/kernels/matmul.js';
import { assertClose } from '../helpers/assert.js';
import { closeTestGpu, createStorage, download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { randomArray, randomLabels, rng } from '../helpers/random.js';
import { mlpRef, type MlpRefShape } from '../helpers/reference.js';

const test = suite('MLP gradient check');

const INPUTS = 7;
const HIDDEN = 13;
const CLASSES = 5;
const BATCH = 9;

interface Params32 { w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array }
type Grads = Record<keyof Params32, Float32Array>;
const TENSORS = ['w1', 'b1', 'w2', 'b2'] as const;

function randomParams(random: () => number): Params32 {
  return {
    w1: randomArray(HIDDEN * INPUTS, random),
    b1: randomArray(HIDDEN, random, 0.5),
    w2: randomArray(CLASSES * HIDDEN, random),
    b2: randomArray(CLASSES, random, 0.5),
  };
}

interface MicroBatch { x: Float32Array; labels: Uint32Array }

/**
 * One training step on the GPU, recorded as one dispatch list (one submit), as the trainer will:
 * per micro-batch forward, loss, backward, with parameter gradients accumulated in-kernel after
 * the first micro-batch. Returns the gradients and the summed loss over all rows.
 */
async function gpuStep(
  ctx: GpuContext, params: Params32, batches: MicroBatch[], activation: Activation,
): Promise<{ grads: Grads; lossSum: number }> {
  const rows = batches[0]!.labels.length;
  const gradScale = 1 / (rows * batches.length);
  const w1 = upload(ctx, 'W1', params.w1);
  const b1 = upload(ctx, 'b1', params.b1);
  const w2 = upload(ctx, 'W2', params.w2);
  const b2 = upload(ctx, 'b2', params.b2);
  const grads = {
    w1: poisoned(ctx, 'dW1', HIDDEN * INPUTS), b1: poisoned(ctx, 'db1', HIDDEN),
    w2: poisoned(ctx, 'dW2', CLASSES * HIDDEN), b2: poisoned(ctx, 'db2', CLASSES),
  };
  // Activations are reused by every micro-batch: dispatches in one pass run in order.
  const z1 = createStorage(ctx, 'Z1', rows * HIDDEN * 4);
  const h = createStorage(ctx, 'H', rows * HIDDEN * 4);
  const logits = createStorage(ctx, 'logits', rows * CLASSES * 4);
  const dlogits = createStorage(ctx, 'dlogits', rows * CLASSES * 4);
  const dh = createStorage(ctx, 'dH', rows * HIDDEN * 4);
  const dz1 = createStorage(ctx, 'dZ1', rows * HIDDEN * 4);
  const stats = poisoned(ctx, 'stats', 2 * rows);

  const step: Dispatch[] = [];
  for (const [m, batch] of batches.entries()) {
    const accumulate = m > 0;
    const x = upload(ctx, 'X', batch.x);
    const labels = upload(ctx, 'labels', batch.labels);
    step.push(
      // forward
      await prepareMatmul(ctx, { a: x, b: w1, bias: b1, c: z1, M: rows, N: HIDDEN, K: INPUTS, transB: true }),
      await prepareActivationForward(ctx, { z: z1, h, count: rows * HIDDEN, activation }),
      await prepareMatmul(ctx, { a: h, b: w2, bias: b2, c: logits, M: rows, N: CLASSES, K: HIDDEN, transB: true }),
      await prepareSoftmaxCrossEntropy(ctx, { logits, labels, dlogits, stats, rows, classes: CLASSES, gradScale, accumulateStats: accumulate }),
      // backward, layer 2
      await prepareBiasGrad(ctx, { dy: dlogits, db: grads.b2, rows, cols: CLASSES, accumulate }),
      await prepareMatmul(ctx, { a: dlogits, b: h, c: grads.w2, M: CLASSES, N: HIDDEN, K: rows, transA: true, accumulate }),
      await prepareMatmul(ctx, { a: dlogits, b: w2, c: dh, M: rows, N: HIDDEN, K: CLASSES }),
      // backward, layer 1
      await prepareActivationBackward(ctx, { z: z1, dh, dz: dz1, count: rows * HIDDEN, activation }),
      await prepareBiasGrad(ctx, { dy: dz1, db: grads.b1, rows, cols: HIDDEN, accumulate }),
      await prepareMatmul(ctx, { a: dz1, b: x, c: grads.w1, M: HIDDEN, N: INPUTS, K: rows, transA: true, accumulate }),
    );
  }
  await run(ctx, step);
  const out = {} as Grads;
  for (const t of TENSORS) out[t] = await download(ctx, grads[t], params[t].length);
  const s = await download(ctx, stats, 2 * rows);
  return { grads: out, lossSum: s.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) };
}

function concat(batches: MicroBatch[]): MicroBatch {
  const x = new Float32Array(batches.reduce((n, b) => n + b.x.length, 0));
  const labels = new Uint32Array(batches.reduce((n, b) => n + b.labels.length, 0));
  let xo = 0;
  let lo = 0;
  for (const b of batches) {
    x.set(b.x, xo); xo += b.x.length;
    labels.set(b.labels, lo); lo += b.labels.length;
  }
  return { x, labels };
}

function randomBatch(rows: number, random: () => number): MicroBatch {
  return { x: randomArray(rows * INPUTS, random), labels: randomLabels(rows, CLASSES, random) };
}

const shape = (batch: number, activation: Activation): MlpRefShape => ({ batch, inputs: INPUTS, hidden: HIDDEN, classes: CLASSES, activation });

for (const activation of ['relu', 'gelu'] as Activation[]) {
  test(`${activation}: the GPU step's gradients and loss match a float64 forward/backward`, async () => {
    const ctx = await testGpu();
    const random = rng(activation === 'relu' ? 1 : 2);
    const params = randomParams(random);
    const batch = randomBatch(BATCH, random);
    const gpu = await gpuStep(ctx, params, [batch], activation);
    const ref = mlpRef(params, batch.x, batch.labels, shape(BATCH, activation));
    for (const t of TENSORS) assertClose(gpu.grads[t], ref.grads[t], `${activation} d${t}`);
    assertClose([gpu.lossSum / BATCH], [ref.loss], `${activation} mean loss`);
  });

  test(`${activation}: the GPU gradients match central finite differences of the float64 loss`, async () => {
    const ctx = await testGpu();
    const random = rng(activation === 'relu' ? 3 : 4);
    const params = randomParams(random);
    const batch = randomBatch(BATCH, random);
    const gpu = await gpuStep(ctx, params, [batch], activation);
    const s = shape(BATCH, activation);
    const p64: Record<keyof Params32, Float64Array> = {
      w1: Float64Array.from(params.w1), b1: Float64Array.from(params.b1), w2: Float64Array.from(params.w2), b2: Float64Array.from(params.b2),
    };
    const ref = mlpRef(p64, batch.x, batch.labels, s);
    // Step size: the loss is O(1) and computed in float64 through a few hundred operations, so its
    // rounding error is δ ≲ 1e-14 and the central difference's error is about
    // h²/6·|L'''| + δ/h. Its third derivative is O(1) here (inputs and weights in [-1, 1]), so
    // h = 1e-5 gives ≲ 1e-9 either way. That is far below float32 gradient error (~1e-7 of the
    // gradient's scale), so the finite difference is effectively exact for the GPU check, and tight
    // enough (1e-7) to check the float64 backward itself.
    const h = 1e-5;
    for (const t of TENSORS) {
      const scale = Math.max(...Array.from(ref.grads[t], Math.abs));
      let checked = 0;
      for (let tries = 0; checked < 5 && tries < 100; tries++) {
        const k = Math.floor(random() * params[t].length);
        // relu has a kink at 0: skip a weight whose ±h nudge could move a pre-activation across it.
        // W1[j, k] and b1[j] move Z1[:, j] by at most h (|x| <= 1); layer-2 weights leave Z1 alone.
        if (activation === 'relu' && (t === 'w1' || t === 'b1')) {
          const j = t === 'w1' ? Math.floor(k / INPUTS) : k;
          let nearKink = false;
          for (let i = 0; i < BATCH; i++) if (Math.abs(ref.z1[i * HIDDEN + j]!) <= 2 * h) nearKink = true;
          if (nearKink) continue;
        }
        const original = p64[t][k]!;
        p64[t][k] = original + h;
        const plus = mlpRef(p64, batch.x, batch.labels, s).loss;
        p64[t][k] = original - h;
        const minus = mlpRef(p64, batch.x, batch.labels, s).loss;
        p64[t][k] = original;
        const fd = (plus - minus) / (2 * h);
        const where = `${activation} d${t}[${k}]`;
        assert.ok(Math.abs(fd - ref.grads[t][k]!) <= 1e-7, `${where}: float64 backward ${ref.grads[t][k]} vs finite difference ${fd}`);
        assert.ok(Math.abs(gpu.grads[t][k]! - fd) <= 1e-5 * scale + 1e-7,
          `${where}: GPU ${gpu.grads[t][k]} vs finite difference ${fd} (gradient scale ${scale})`);
        checked++;
      }
      assert.is(checked, 5, `${activation} d${t}: found only ${checked} weights away from relu's kink`);
    }
  });

  test(`${activation}: 4 micro-batches accumulated in-kernel give the gradient of the whole batch`, async () => {
    const ctx = await testGpu();
    const random = rng(activation === 'relu' ? 5 : 6);
    const params = randomParams(random);
    const micro = [0, 1, 2, 3].map(() => randomBatch(BATCH, random));
    const whole = concat(micro);
    const accumulated = await gpuStep(ctx, params, micro, activation);
    const wholeGpu = await gpuStep(ctx, params, [whole], activation);
    const ref = mlpRef(params, whole.x, whole.labels, shape(4 * BATCH, activation));
    for (const t of TENSORS) {
      assertClose(accumulated.grads[t], ref.grads[t], `${activation} accumulated d${t} vs float64 whole batch`);
      assertClose(accumulated.grads[t], wholeGpu.grads[t], `${activation} accumulated d${t} vs GPU whole batch`);
    }
    assertClose([accumulated.lossSum / (4 * BATCH)], [ref.loss], `${activation} accumulated mean loss`);
  });
}

test.after(() => closeTestGpu());
test.run();
