// bench:browser --quick runs as users run it (a child process on dist/) and reports a matmul figure
// from Node and from the Chromium page on GL ES/lavapipe, each naming its adapter.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/processes.js';
import type { Report } from '../../bench/browser-matmul.js';

const test = suite('bench:browser --quick (smoke test)');
const out = mkdtempSync(join(tmpdir(), 'bench-browser-test-'));

test('Node and Chromium on GL ES both report positive GFLOP/s at 256³ and name their adapters', async () => {
  const r = await runNode(fileURLToPath(new URL('../../bench/browser-matmul.js', import.meta.url)),
    ['--quick', '--json', '--only', 'node,gles-lavapipe', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.runs.map((x) => x.where), ['node', 'gles-lavapipe']);
  for (const run of report.runs) {
    assert.equal(run.results.map((x) => x.size), [256], `${run.where}: sizes`);
    for (const x of run.results) assert.ok(Number.isFinite(x.gflops) && x.gflops > 0, `${run.where}: gflops ${x.gflops}`);
  }
  assert.match(report.runs[1]!.adapter, /llvmpipe/);
  assert.equal(JSON.parse(readFileSync(join(out, 'browser-matmul.json'), 'utf8')).runs.length, 2, 'the JSON file matches stdout');
});

test('an unknown --only is refused with exit code 2, naming the choices', async () => {
  const r = await runNode(fileURLToPath(new URL('../../bench/browser-matmul.js', import.meta.url)), ['--only', 'firefox', '--out', out]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /node, gles-lavapipe, swiftshader/);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();
