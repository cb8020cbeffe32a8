// train.js's autotune, end to end: worker processes measure each matmul shape class once, the main
// rank says each choice once, the cache file makes the next run measure nothing, and --no-autotune
// neither measures nor writes.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTrain } from '../helpers/processes.js';

const test = suite('train.js autotune');
const TASK = [
  '--data', 'synthetic', '--synthetic-samples', '256', '--synthetic-features', '20', '--synthetic-classes', '5',
  '--hidden', '16', '--batch-size', '16', '--max-steps', '4', '--local-sgd-steps', '2', '--procs', '2', '--log-every', '4',
];
const autotuneLines = (stdout: string) => stdout.split('\n').filter((l) => l.includes('autotune:'));

test('the first run measures and says each shape class once; the second reads the cache; --no-autotune does neither', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'autotune-train-'));
  try {
    const env = { WEBGPU_LOCAL_SGD_CACHE_DIR: dir };
    const first = await runTrain(TASK, env);
    assert.is(first.code, 0, first.stderr);
    const measured = autotuneLines(first.stdout);
    assert.ok(measured.length >= 3, `a line per shape class of the MLP's products:\n${first.stdout}`);
    for (const line of measured) assert.match(line, /^autotune: matmul \S+ M≤\d+ N≤\d+ K≤\d+.* on .+ → \S+ wg\d+ \(\d+\.\d\d ms.*\) measured$/, `each shape class measured, not taken from the table: ${line}`);
    assert.is(new Set(measured).size, measured.length, 'each class said once, by one rank');
    assert.not.match(first.stdout + first.stderr, /\[rank 1\].*autotune/);
    const file = JSON.parse(readFileSync(join(dir, 'autotune.json'), 'utf8')) as { entries: Record<string, unknown> };
    assert.ok(Object.keys(file.entries).length >= measured.length);

    const second = await runTrain(TASK, env);
    assert.is(second.code, 0, second.stderr);
    const cached = autotuneLines(second.stdout);
    assert.is(cached.length, measured.length, second.stdout);
    for (const line of cached) assert.match(line, / cached$/);

    const off = mkdtempSync(join(tmpdir(), 'autotune-off-'));
    try {
      const none = await runTrain([...TASK, '--no-autotune'], { WEBGPU_LOCAL_SGD_CACHE_DIR: off });
      assert.is(none.code, 0, none.stderr);
      assert.equal(autotuneLines(none.stdout + none.stderr), []);
      assert.not.ok(existsSync(join(off, 'autotune.json')), '--no-autotune writes no cache');
    } finally {
      rmSync(off, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
