// The quick versions of the kernel, training and transport benchmarks, so that they cannot rot:
// each runs as users run it (a child process on dist/), exits 0 and reports sane, consistent records.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/processes.js';
import { setUpPytorchAnchor } from '../../bench/lib/pytorch-anchor.js';

const test = suite('bench kernels, train and transport --quick (smoke tests)');
const out = mkdtempSync(join(tmpdir(), 'bench-smoke-test-'));

function bench(name: string, args: string[]) {
  return runNode(fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url)), args);
}

const positive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

test('bench:kernels --quick --json: every matmul form with fast, main, naive, tiled, js and (with PyTorch) one-thread sgemm figures, and the adapter', async () => {
  const r = await bench('kernels', ['--quick', '--json']);
  assert.is(r.code, 0, r.stderr);
  const records = JSON.parse(r.stdout) as { kernel: string; form?: string; variant: string; gflops?: number; ofLimit?: number; adapter: string }[];
  const matmul = records.filter((x) => x.kernel === 'matmul');
  const withSgemm = 'anchor' in setUpPytorchAnchor();
  for (const form of ['Y=X·Wᵀ', 'dX=dY·W', 'dW=dYᵀ·X']) {
    const variants = new Set(matmul.filter((x) => x.form === form).map((x) => x.variant));
    assert.equal([...variants].sort(), ['fast', 'js', 'main', 'naive', ...(withSgemm ? ['sgemm'] : []), 'tiled'], `${form}: variants ${[...variants]}`);
  }
  for (const x of matmul) assert.ok(positive(x.gflops), `${x.form} ${x.variant}: gflops ${x.gflops}`);
  // With the anchor every figure is also a ratio to sgemm at its shape; without it none is.
  for (const x of matmul) assert.is(positive(x.ofLimit), withSgemm, `${x.form} ${x.variant}: ofLimit ${x.ofLimit}`);
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

test('bench:transport --quick: frames over a Unix socket, TCP and verified TLS 1.3, and fork IPC, at 1 and 4 MiB, GB/s consistent with round-trip times', async () => {
  const r = await bench('transport', ['--quick', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'transport.json'), 'utf8')) as {
    tls: { protocol: string; cipher: string; certificate: string; verifiedBy: string };
    records: { method: string; bytes: number; roundTrips: number; medianMs: number; bestMs: number; gbPerSecond: number }[];
  };
  const methods = ['Unix socket', 'TCP 127.0.0.1', 'TLS 1.3 127.0.0.1', "fork IPC 'advanced'"];
  assert.equal([...new Set(report.records.map((x) => x.method))], methods);
  for (const method of methods) {
    assert.equal(report.records.filter((x) => x.method === method).map((x) => x.bytes), [1 << 20, 4 << 20], `${method}: sizes`);
  }
  for (const x of report.records) {
    const what = `${x.method} ${x.bytes}`;
    assert.is(x.roundTrips, 3, what);
    assert.ok(x.bestMs > 0 && x.bestMs <= x.medianMs, `${what}: best ${x.bestMs} median ${x.medianMs}`);
    // GB/s counts the payload there and back in the median round trip.
    assert.ok(Math.abs(x.gbPerSecond - (2 * x.bytes) / (x.medianMs / 1000) / 1e9) <= 1e-9 * x.gbPerSecond, `${what}: ${x.gbPerSecond} GB/s from ${x.medianMs} ms`);
    // Loopback between two processes cannot beat memory bandwidth; a figure above this is a clock fault.
    assert.ok(positive(x.gbPerSecond) && x.gbPerSecond < 100, `${what}: ${x.gbPerSecond} GB/s`);
  }
  assert.is(report.tls.protocol, 'TLSv1.3');
  assert.match(report.tls.cipher, /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/);
  assert.match(report.tls.certificate, /self-signed/);
  assert.match(report.tls.verifiedBy, /servername localhost/);
  assert.match(r.stdout, new RegExp(`^tls: TLSv1\\.3 ${report.tls.cipher};`, 'm'));
  const md = readFileSync(join(out, 'transport.md'), 'utf8');
  for (const method of methods) assert.ok(md.includes(`| ${method} `), `transport.md has a ${method} column`);
  assert.match(md, /TLS: TLSv1\.3 TLS_\w+/);
});

test('bench gpu-matmul --sizes 64: every candidate of this adapter in each form, and an honest word on cuBLAS', async () => {
  const file = join(out, 'gpu-matmul.json');
  const r = await bench('gpu-matmul', ['--sizes', '64', '--out', file]);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(file, 'utf8')) as { adapter: string; ours: { size: number; form: string; candidate: string; gflops: number }[]; cublas: { available: boolean; why?: string } };
  assert.match(report.adapter, /\w/);
  for (const form of ['Y=X·Wᵀ', 'dX=dY·W', 'dW=dYᵀ·X']) {
    const rows = report.ours.filter((o) => o.form === form);
    assert.ok(rows.length >= 3, `${form}: ${rows.length} candidates`);
    for (const o of rows) assert.ok(positive(o.gflops), `${form} ${o.candidate}: ${o.gflops}`);
  }
  // Without a CUDA device the report says why, never a number.
  if (!report.cublas.available) assert.match(report.cublas.why ?? '', /torch|CUDA|printed nothing/);
  assert.match(r.stdout, report.cublas.available ? /cuBLAS fp32/ : /no cuBLAS anchor: /);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();
