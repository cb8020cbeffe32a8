import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../bench/averaging.js';
import { runNode as run } from '../helpers/processes.js';
import { svgProblems } from './well-formed.js';

const SCRIPT = fileURLToPath(new URL('../../bench/averaging.js', import.meta.url));
const WORKER = fileURLToPath(new URL('../../bench/averaging-worker.js', import.meta.url));
const test = suite('bench/averaging --quick (smoke test)');
const out = mkdtempSync(join(tmpdir(), 'bench-averaging-test-'));

test('exits 0 and writes a report whose round times, bandwidths and fractions are consistent', async () => {
  const r = await run(SCRIPT, ['--quick', '--json', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'averaging.json'), 'utf8')) as Report;
  assert.equal(JSON.parse(r.stdout.trim()), report, '--json prints what it wrote');
  assert.equal(report.copy.map((c) => c.method), ['Buffer.copy', 'Float32Array.set']);
  for (const c of report.copy) assert.ok(c.bestGBps >= c.medianGBps && c.medianGBps > 0, `${c.method}: ${c.bestGBps} GB/s`);
  assert.is(report.sizes.length, 1);
  const s = report.sizes[0]!;
  assert.is(s.procs, 4);
  assert.is(s.bytesMovedPerRound, 2 * 4 * s.floats * 4);
  assert.ok(s.roundSeconds > 0 && s.roundSeconds >= s.medianWorkerRoundSeconds, 'the slowest worker bounds the median');
  const memcpy = Math.max(...report.copy.map((c) => c.bestGBps));
  assert.ok(Math.abs(s.effectiveGBps - s.bytesMovedPerRound / s.roundSeconds / 1e9) < 1e-9 * s.effectiveGBps);
  assert.ok(Math.abs(s.ofMemcpy - s.effectiveGBps / memcpy) < 1e-12);
  const md = readFileSync(join(out, 'averaging.md'), 'utf8');
  assert.match(md, /^\| 100,000 \|/m);
  assert.equal(svgProblems(readFileSync(join(out, 'averaging.svg'), 'utf8')), []);
});

test('the fake worker, run on its own, says what it is and exits 2', async () => {
  const r = await run(WORKER, []);
  assert.is(r.code, 2);
  assert.match(r.stderr, /worker of the averaging benchmark; run: node dist\/bench\/averaging\.js/);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();
