// bench:profile --quick as users run it (a child process on dist/): the report names the adapter and
// the sgemm anchor, holds every kernel of the MLP's step, and its per-kernel times add up to something
// the step's own time can hold. No wall-clock targets: the machine is shared and its load moves.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/processes.js';
import type { ProfileReport } from '../../bench/profile.js';

const test = suite('bench:profile --quick (smoke test)');
const out = mkdtempSync(join(tmpdir(), 'bench-profile-test-'));
const profile = (args: string[]) => runNode(fileURLToPath(new URL('../../bench/profile.js', import.meta.url)), args);
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

test.after(() => rmSync(out, { recursive: true, force: true }));

test('the MLP at batch 64: every kernel of the step, matmuls with GFLOP/s and sgemm, kernels adding up to a sane share of the step', async () => {
  const r = await profile(['--quick', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^adapter: \S.*; per-kernel timing: (timestamp-query|one submit per kernel)$/m);
  const report = JSON.parse(readFileSync(join(out, 'profile.json'), 'utf8')) as ProfileReport;
  assert.ok(/\w/.test(report.adapter), 'the report names the adapter');
  assert.is(report.models.length, 1, '--quick profiles one model');
  const mlp = report.models[0]!;
  assert.is(mlp.name, 'mlp64');
  assert.is(mlp.batchSize, 64);
  assert.is(mlp.model, 'MLP 784-256-10');

  // The trainer's step: forward, loss, backward of both layers, the optimizer; layer 0 has no dX.
  // The hidden ReLU runs in the products' epilogues (forward, and the dX that feeds layer 0's backward).
  const labels = mlp.kernels.map((k) => k.label);
  for (const label of ['layer 0 forward + relu', 'layer 1 forward', 'softmax cross-entropy', 'layer 1 first dW', 'layer 1 first dX + relu backward', 'layer 0 first dW', 'sgd']) {
    assert.ok(labels.includes(label), `no "${label}" among ${labels.join(', ')}`);
  }
  assert.not.ok(labels.some((l) => /^layer 0 (first )?relu/.test(l)), `a separate relu kernel ran: ${labels.join(', ')}`);
  const matmuls = mlp.kernels.filter((k) => k.shape);
  assert.equal(matmuls.map((k) => k.label), ['layer 0 forward + relu', 'layer 1 forward', 'layer 1 first dW', 'layer 1 first dX + relu backward', 'layer 0 first dW']);
  assert.is(matmuls[0]!.shape.split(' ')[0], '64×256×784');
  for (const k of mlp.kernels) {
    assert.ok(finite(k.ms) && k.ms >= 0, `${k.label}: ms ${k.ms}`);
    assert.ok(Math.abs(k.percentOfStep - (100 * k.ms) / mlp.step.ms) < 1e-6, `${k.label}: % of step`);
    if (!k.shape) assert.is(k.gflops, null, `${k.label} is not a matmul`);
  }
  for (const k of matmuls) assert.ok(finite(k.gflops) && k.gflops > 0, `${k.label}: GFLOP/s ${k.gflops}`);

  // The anchor (scripts/setup-bench.sh installs it): each matmul's shape timed in OpenBLAS.
  assert.match(report.anchor, /^PyTorch \S+ \+ OpenBLAS/, `sgemm not measured: ${report.anchor}`);
  for (const k of matmuls) {
    assert.ok(finite(k.sgemmMs) && k.sgemmMs > 0, `${k.label}: sgemm ms ${k.sgemmMs}`);
    assert.ok(Math.abs(k.timesSgemm! - k.ms / k.sgemmMs) < 1e-9, `${k.label}: ours ÷ sgemm`);
  }

  const sum = mlp.kernels.reduce((s, k) => s + k.ms, 0);
  assert.ok(Math.abs(sum - mlp.kernelSumMs) < 1e-9, 'kernelSumMs is the sum of the rows');
  assert.ok(Math.abs(mlp.notKernelsMs - (mlp.step.ms - sum)) < 1e-9, 'notKernelsMs is the step less the kernels');
  // Kernels timed in the same repetitions as the step: a unit slip (µs, ns) or kernels counted twice
  // lands far outside this; load on a shared machine moves it within.
  assert.ok(sum > 0.2 * mlp.step.ms && sum < 5 * mlp.step.ms, `kernels sum to ${sum} ms against a step of ${mlp.step.ms} ms`);
  if (mlp.kernelTiming === 'timestamp-query') {
    // Kernels run one after another: in each timestamped step the span from the first start to the
    // last end holds them all, so the medians keep that order.
    const inStep = mlp.timestampedKernelSumMs;
    assert.ok(finite(inStep) && inStep > 0 && finite(mlp.timestampedSpanMs) && mlp.timestampedSpanMs >= inStep, `span ${mlp.timestampedSpanMs} ms < kernels ${inStep} ms`);
    assert.ok(finite(mlp.step.gpuMs) && mlp.step.gpuMs > 0 && mlp.step.gpuMs <= mlp.step.ms, `the step's pass ${mlp.step.gpuMs} ms, its wall time ${mlp.step.ms} ms`);
  }
  assert.ok(mlp.step.jsMs > 0 && mlp.step.encodeMs > 0 && mlp.step.encodeMs <= mlp.step.jsMs, `JS ${mlp.step.jsMs} ms, encoding ${mlp.step.encodeMs} ms`);
  const o = mlp.overheads;
  for (const [what, ms] of Object.entries({ emptySubmitMs: o.emptySubmitMs, readStatsMs: o.readStatsMs, uploadMs: o.uploadMs })) assert.ok(finite(ms) && ms > 0, `${what} ${ms}`);
  assert.is(o.uploadBytes, 64 * 784 * 4 + 64 * 4, 'one batch: 64 × 784 floats and 64 labels');

  const md = readFileSync(join(out, 'profile.md'), 'utf8');
  assert.match(md, /^## MLP 784-256-10, batch 64, SGD/m);
  assert.match(md, /^\| layer 0 forward \+ relu \| 64×256×784 /m);
  assert.match(md, /^\| sum of the per-kernel medians \| /m);
});

test('a wrong flag exits 2 and names what it takes', async () => {
  const r = await profile(['--mode', 'fast']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--mode takes auto, timestamp or submit/);
});

test.run();
