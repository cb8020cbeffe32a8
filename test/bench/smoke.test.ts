// The quick versions of the kernel, training and transport benchmarks, so that they cannot rot:
// each runs as users run it (a child process on dist/), exits 0 and reports sane, consistent records.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/processes.js';

const test = suite('bench kernels, train and transport --quick (smoke tests)');
const out = mkdtempSync(join(tmpdir(), 'bench-smoke-test-'));

function bench(name: string, args: string[]) {
  return runNode(fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url)), args);
}

const positive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

test('bench:kernels --quick --json: every matmul form with fast, naive and js figures, and the adapter', async () => {
  const r = await bench('kernels', ['--quick', '--json']);
  assert.is(r.code, 0, r.stderr);
  const records = JSON.parse(r.stdout) as { kernel: string; form?: string; variant: string; gflops?: number; adapter: string }[];
  const matmul = records.filter((x) => x.kernel === 'matmul');
  for (const form of ['Y=X·Wᵀ', 'dX=dY·W', 'dW=dYᵀ·X']) {
    const variants = new Set(matmul.filter((x) => x.form === form).map((x) => x.variant));
    assert.equal([...variants].sort(), ['fast', 'js', 'naive'], `${form}: variants ${[...variants]}`);
  }
  for (const x of matmul) assert.ok(positive(x.gflops), `${x.form} ${x.variant}: gflops ${x.gflops}`);
  assert.ok(records.every((x) => /\w/.test(x.adapter)), 'every record names the adapter');
});

test('bench:train --quick --json: samples/s and a GPU-wait share between 0 and 1, and the text form prints the adapter', async () => {
  const r = await bench('train', ['--quick', '--json']);
  assert.is(r.code, 0, r.stderr);
  const [record, ...rest] = JSON.parse(r.stdout) as Record<string, number | string | null>[];
  assert.is(rest.length, 0, 'one batch size in --quick');
  assert.is(record!.batchSize, 32);
  assert.ok(positive(record!.samplesPerSecond));
  const wait = record!.gpuWaitShare as number;
  assert.ok(wait >= 0 && wait <= 1 && Math.abs(wait + (record!.jsShare as number) - 1) < 1e-9, `shares ${wait}, ${record!.jsShare}`);
  assert.is(record!.samples, (record!.steps as number) * 32);
  // The anchor (scripts/setup-bench.sh installs it): OpenBLAS on the CPU's best core, measured side by side.
  assert.ok(positive(record!.pytorchSamplesPerSecond), `PyTorch not measured (${String(record!.pytorchSamplesPerSecond)}): bash scripts/setup-bench.sh`);
  const pytorch = record!.pytorch as unknown as { proper: boolean; label: string; blas: { vendor: string }; sgemmGflops1024: number };
  assert.ok(pytorch.proper, pytorch.label);
  assert.is(pytorch.blas.vendor, 'openblas');
  assert.ok(positive(pytorch.sgemmGflops1024), 'the anchor\'s one-thread sgemm is measured, not stated');
  const saved = join(out, 'train.json');
  const text = await bench('train', ['--quick', '--save-json', saved]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^adapter: \S/m);
  assert.match(text.stdout, /^anchor: PyTorch \S+ \+ OpenBLAS [\d.]+ \(\w+\): \S*openblas/m);
  assert.match(text.stdout, /^\s+32\s+\d+/m);
  const [savedRecord] = JSON.parse(readFileSync(saved, 'utf8')) as Record<string, unknown>[];
  assert.equal(Object.keys(savedRecord!).sort(), Object.keys(record!).sort(), '--save-json writes the records --json prints');
  assert.is(savedRecord!.batchSize, 32);
});

test('bench:transport --quick: both methods at both sizes, bytes consistent with round-trip times', async () => {
  const r = await bench('transport', ['--quick', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'transport.json'), 'utf8')) as {
    records: { method: string; bytes: number; medianMs: number; bestMs: number; gbPerSecond: number }[];
  };
  assert.equal(new Set(report.records.map((x) => x.method)).size, 2);
  for (const x of report.records) {
    assert.ok(x.bestMs > 0 && x.bestMs <= x.medianMs, `${x.method} ${x.bytes}: best ${x.bestMs} median ${x.medianMs}`);
    assert.ok(positive(x.gbPerSecond));
  }
  assert.match(readFileSync(join(out, 'transport.md'), 'utf8'), /socket frames/);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();
