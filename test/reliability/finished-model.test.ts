// A finished model is never thrown away: Ctrl-C in one process saves a resumable checkpoint; a
// worker lost after the closing average leaves the final weights saved by the coordinator; a disk
// too small is refused before training; a write that fails at the end leaves a rescued copy.
// The disk cases mount a small tmpfs, which needs root (CI and the development machine are root):
// without it they fail, saying so.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_SIGKILL_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { runTrain, startTrain, TRAIN_JS, waitFor, type Finished } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('a finished model is never thrown away');
const dir = tempDir();
/** SMALL_TASK without --quiet, so that progress shows on stdout. */
const TASK = ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5', '--hidden', '16', '--batch-size', '16', '--seed', '4'];

function mountTmpfs(path: string, size: string): void {
  mkdirSync(path, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`these tests mount a ${size} tmpfs to fill a disk on purpose, which needs root: ${(e as Error).message}`);
  }
}
const unmount = (path: string) => execFileSync('umount', [path]);

test('Ctrl-C with --procs 1 finishes the step, saves weights and optimizer state, exits 130, and the save resumes', async () => {
  const save = dir.file('ctrl-c.safetensors');
  const metrics = dir.file('ctrl-c.jsonl');
  const { child, done } = startTrain([...TASK, '--procs', '1', '--max-steps', '100000', '--log-every', '20', '--save', save, '--metrics', metrics]);
  await waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"kind":"train"'), 120_000, 'a logged step');
  child.kill('SIGINT');
  const r = await done;
  assert.is(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGINT: stopping after this step and saving to /);
  assert.match(r.stderr, /interrupted after step \d+ of 100000; saved the weights and optimizer state to .*: --resume it to continue/);
  const saved = readWeights(save);
  const step = Number(saved.metadata.step);
  assert.ok(step >= 20 && step < 100000, `saved at step ${step}`);
  assert.is(saved.metadata.optimizer, 'sgd', 'resumable: the optimizer state is saved');
  const resumed = await runTrain([...TASK, '--procs', '1', '--max-steps', String(step + 2), '--resume', save, '--quiet']);
  assert.is(resumed.code, 0, resumed.stderr);
});

test('a worker lost after the closing average (abort): the run fails naming it, and the coordinator saves the final weights', async () => {
  const args = [...TASK, '--procs', '2', '--max-steps', '12', '--local-sgd-steps', '4', '--quiet'];
  const whole = dir.file('undisturbed.safetensors');
  const ok = await runTrain([...args, '--save', whole]);
  assert.is(ok.code, 0, ok.stderr);
  const late = dir.file('late-loss.safetensors');
  // Rank 0 evaluates and saves; killed after the closing round, it saves nothing itself.
  const r = await runTrain([...args, '--save', late], { [TEST_SIGKILL_ENV]: '0:12' });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /worker rank 0 was lost after the closing average of step 12, so every weight of the final model was known; the coordinator saved it to .*late-loss\.safetensors/);
  const a = readWeights(whole).byName;
  const b = readWeights(late).byName;
  for (const [name, values] of b) assertBitwiseEqual(values, a.get(name)!, `final weights: ${name}`);
});

test('a disk without room for one checkpoint is refused before the first step; a write that fails at the end leaves a rescued copy', async () => {
  const tiny = dir.file('tiny');
  mountTmpfs(tiny, '16k');
  try {
    const r = await runTrain([...TASK, '--procs', '1', '--max-steps', '5', '--save', join(tiny, 'm.safetensors'), '--quiet']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /--save .*m\.safetensors: 0\.0 MiB free in .*tiny, and one checkpoint of this model needs 0\.\d MiB/);
  } finally {
    unmount(tiny);
  }
  const small = dir.file('small');
  mountTmpfs(small, '512k');
  try {
    const cwd = dir.file('cwd');
    mkdirSync(cwd);
    const metrics = dir.file('full.jsonl');
    const child = spawn(process.execPath, [TRAIN_JS, ...TASK, '--procs', '1', '--max-steps', '3000', '--log-every', '20', '--metrics', metrics, '--save', join(small, 'm.safetensors')], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr })));
    await waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"kind":"train"'), 120_000, 'a logged step');
    // Training has passed the checks; now the disk fills up under it.
    try {
      writeFileSync(join(small, 'filler'), new Uint8Array(1024 * 1024));
    } catch {
      // ENOSPC once the tmpfs is full: that is the point.
    }
    const r = await done;
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /could not write .*m\.safetensors .*ENOSPC.*; a copy was saved to .*cwd\/m\.rescued-\d+\.safetensors instead/);
    const rescued = readdirSync(cwd).filter((f) => f.startsWith('m.rescued-'));
    assert.is(rescued.length, 1, `rescued copies: ${rescued.join(', ')}`);
    assert.is(readWeights(join(cwd, rescued[0]!)).metadata.step, '3000');
    assert.not.ok(readdirSync(small).some((f) => f.endsWith('.tmp')), 'no temporary file left on the full disk');
  } finally {
    unmount(small);
  }
});

test.after(() => dir.remove());
test.run();
