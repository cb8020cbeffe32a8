import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { childPids, isAlive, startTrain, waitFor } from '../helpers/processes.js';
import { SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('worker faults and interrupts');
const dir = tempDir();
// Long enough to be interrupted mid-run.
const LONG_RUN = [...SMALL_TASK, '--procs', '3', '--max-steps', '100000', '--local-sgd-steps', '4'];

test('a worker killed mid-run stops the run with its rank and signal named, a non-zero exit and no survivors', async () => {
  const { child, done } = startTrain([...LONG_RUN, '--log-every', '5', '--metrics', dir.file('crash.jsonl')]);
  await waitFor(() => existsSync(dir.file('crash.jsonl')) && childPids(child.pid!).length === 3, 60_000, 'three workers');
  await new Promise((r) => setTimeout(r, 1500)); // let them train a little
  const workers = childPids(child.pid!);
  process.kill(workers[1]!, 'SIGKILL');
  const r = await done;
  assert.not.equal(r.code, 0, 'the coordinator exits non-zero');
  assert.match(r.stderr, /rank \d/, `names the rank:\n${r.stderr}`);
  assert.match(r.stderr, /SIGKILL/, 'names the signal');
  await waitFor(() => workers.every((pid) => !isAlive(pid)), 10_000, 'all workers to be gone');
});

test('Ctrl-C stops every worker, saves the last averaged weights first, and exits 130', async () => {
  const save = dir.file('interrupted.safetensors');
  const { child, done } = startTrain([...LONG_RUN, '--save', save]);
  await waitFor(() => childPids(child.pid!).length === 3, 60_000, 'three workers');
  const workers = childPids(child.pid!);
  await new Promise((r) => setTimeout(r, 2500)); // several averaging rounds
  child.kill('SIGINT');
  const r = await done;
  assert.is(r.code, 130, `exit code 130 after SIGINT:\n${r.stderr}`);
  assert.ok(existsSync(save), `the last averaged weights are saved:\n${r.stderr}`);
  await waitFor(() => workers.every((pid) => !isAlive(pid)), 10_000, 'all workers to be gone');
});

test.after(() => dir.remove());
test.run();
