// The coordinator's socket always lands in its private directory, whatever TMPDIR is, and that
// directory goes away however the run ends: a long TMPDIR used to truncate the socket's path so the
// socket landed outside it (and stayed), and SIGHUP used to kill the coordinator before it could
// stop its workers or clean up.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SOCKET_PATH_FILE_ENV } from '../../src/train/debug-hooks.js';
import { SOCKET_PATH_MAX_BYTES } from '../../src/comm/socket-dir.js';
import { isAlive as isRunning } from '../comm/fixtures/procs.js';
import { childPids, startTrain, waitFor } from '../helpers/processes.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('the socket directory');
const dir = tempDir();

/** Starts train.js, noting its workers' pids and where its socket is; returns once the socket exists. */
async function startRun(args: string[], env: Record<string, string>, name: string) {
  const socketFile = dir.file(`${name}.socket`);
  const run = startTrain(args, { [SOCKET_PATH_FILE_ENV]: socketFile, ...env });
  const pids = new Set<number>();
  const poll = setInterval(() => childPids(run.child.pid!).forEach((pid) => pids.add(pid)), 50);
  const finished = run.done.finally(() => clearInterval(poll));
  await waitFor(() => existsSync(socketFile) || run.child.exitCode !== null, 60_000, 'the coordinator to listen');
  if (!existsSync(socketFile)) assert.unreachable(`train.js never listened:\n${(await finished).stderr}`);
  const socket = readFileSync(socketFile, 'utf8');
  const noneLeft = () => waitFor(() => [...pids].every((pid) => !isRunning(pid)), 10_000, `workers ${[...pids].filter(isRunning).join(', ')} to be gone`);
  return { child: run.child, socket, finished, noneLeft };
}

test('under a TMPDIR of about 200 characters a run works, its socket inside a private 0700 directory that is gone afterwards', async () => {
  let tmp = dir.path;
  while (tmp.length < 200) tmp = join(tmp, 'a-rather-long-directory-name');
  mkdirSync(tmp, { recursive: true });
  const run = await startRun([...SMALL_TASK, '--procs', '2', '--max-steps', '8', '--local-sgd-steps', '4'], { TMPDIR: tmp }, 'long-tmpdir');
  // While the run lives: the socket is where the coordinator said, inside a directory only this user can enter.
  const stat = statSync(dirname(run.socket));
  assert.is(stat.mode & 0o777, 0o700, `${dirname(run.socket)} is private`);
  assert.ok(statSync(run.socket).isSocket(), `${run.socket} is the socket`);
  assert.ok(Buffer.byteLength(run.socket) <= SOCKET_PATH_MAX_BYTES, `${run.socket} fits sun_path`);
  const r = await run.finished;
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(existsSync(dirname(run.socket)), `${dirname(run.socket)} left behind`);
  assert.equal(readdirSync(tmp), [], 'nothing left under TMPDIR either');
  await run.noneLeft();
});

for (const [signal, status] of [['SIGHUP', 129], ['SIGTERM', 143]] as const) {
  test(`${signal} to a coordinator stops every worker, saves the last average, removes the socket directory and exits ${status}`, async () => {
    const save = dir.file(`${signal}.safetensors`);
    const metrics = dir.file(`${signal}.jsonl`);
    const run = await startRun([...SMALL_TASK, '--procs', '2', '--max-steps', '5000', '--local-sgd-steps', '4', '--log-every', '4', '--save', save, '--metrics', metrics], {}, signal);
    // A logged step 8 means the averaging round after step 4 is done, so there is an average to save.
    await waitFor(() => existsSync(metrics) && /"step":(8|9|\d{2,})\b/.test(readFileSync(metrics, 'utf8')), 120_000, 'a worker to log step 8');
    run.child.kill(signal);
    const r = await run.finished;
    assert.is(r.code, status, `exit ${status} (128 + ${signal}) after ${signal}:\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`stopped: interrupted by ${signal}; all 2 workers stopped`));
    assert.match(r.stderr, /interrupted: saved a whole-run checkpoint of averaging round \d+ \(step \d+\)/);
    assert.ok(Number(readWeights(save).metadata.step) >= 4, 'the checkpoint holds an average');
    assert.not.ok(existsSync(dirname(run.socket)), `${dirname(run.socket)} left behind`);
    await run.noneLeft();
  });
}

test('SIGHUP with --procs 1 finishes the step, saves, and exits 129', async () => {
  const save = dir.file('hangup-1.safetensors');
  const metrics = dir.file('hangup-1.jsonl');
  const { child, done } = startTrain([...SMALL_TASK, '--procs', '1', '--max-steps', '5000', '--log-every', '10', '--save', save, '--metrics', metrics]);
  await waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"kind":"train"'), 120_000, 'a logged step');
  child.kill('SIGHUP');
  const r = await done;
  assert.is(r.code, 129, r.stderr);
  assert.match(r.stderr, /SIGHUP: stopping after this step and saving to /);
  assert.match(r.stderr, /interrupted after step \d+ of 5000; saved the weights and optimizer state/);
  assert.ok(existsSync(save));
});

test.after(() => dir.remove());
test.run();
