import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, waitUntil, within } from './fixtures/procs.js';

const test = suite('interrupt');
const COORDINATOR = fileURLToPath(new URL('./fixtures/launcher.js', import.meta.url));

/** Starts the fixture coordinator and resolves with its workers' pids once they are averaging. */
async function startCoordinator(procs: number, scenario = 'loop', crash = false): Promise<{ child: ChildProcess; pids: number[]; output: () => string; exited: Promise<number | string> }> {
  const child = spawn(process.execPath, [COORDINATOR, String(procs), scenario, ...(crash ? ['throw'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  const ready = await waitUntil(() => /ready( \d+)+\n/.test(out) || child.exitCode !== null, 10_000);
  const match = /ready((?: \d+)+)\n/.exec(out);
  if (!ready || !match) {
    child.kill('SIGKILL');
    throw new Error(`coordinator fixture never became ready; output:\n${out}`);
  }
  return { child, pids: match[1]!.trim().split(' ').map(Number), output: () => out, exited };
}

test('SIGINT to the coordinator awaits onInterrupt, stops every worker and exits 130', async () => {
  const { child, pids, output, exited } = await startCoordinator(3);
  assert.is(pids.length, 3);
  assert.ok(pids.every(isAlive), 'workers should be running before the interrupt');
  child.kill('SIGINT');
  const code = await within(10_000, exited, 'coordinator exit after SIGINT');
  assert.is(code, 130, `exit ${code}; output:\n${output()}`);
  assert.match(output(), /onInterrupt rounds=\d+ params=16/);
  assert.match(output(), /rejected with InterruptedError: interrupted by SIGINT/);
  const alive = pids.filter(isAlive);
  assert.equal(alive, [], `workers ${alive.join(', ')} survived the interrupt`);
});

test('SIGHUP to the coordinator stops the run as SIGTERM does: every worker stopped, the socket directory removed', async () => {
  const { child, pids, output, exited } = await startCoordinator(2);
  const socket = /^listening (\S+)$/m.exec(output())![1]!;
  assert.ok(existsSync(socket), 'the socket exists while the run does');
  child.kill('SIGHUP');
  const code = await within(10_000, exited, 'coordinator exit after SIGHUP');
  assert.is(code, 130, `the fixture exits 130 on InterruptedError; output:\n${output()}`);
  assert.match(output(), /rejected with InterruptedError: interrupted by SIGHUP/);
  assert.not.ok(existsSync(dirname(socket)), `socket directory ${dirname(socket)} left behind`);
  assert.equal(pids.filter(isAlive), [], 'no worker survives');
});

test('an exception nothing catches in the coordinator still removes its socket directory, and its workers follow it out', async () => {
  const { pids, output, exited } = await startCoordinator(2, 'loop', true);
  const socket = /^listening (\S+)$/m.exec(output())![1]!;
  const code = await within(10_000, exited, 'coordinator exit after the exception');
  assert.is(code, 1, `output:\n${output()}`);
  assert.match(output(), /a bug in the coordinator/);
  const removed = !existsSync(dirname(socket));
  rmSync(dirname(socket), { recursive: true, force: true });
  assert.ok(removed, `socket directory ${dirname(socket)} left behind by the exception`);
  const gone = await waitUntil(() => !pids.some(isAlive), 5000);
  for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL');
  assert.ok(gone, 'workers outlived their coordinator by 5 s');
});

test('idle workers exit on their own within a few seconds when the coordinator is killed with SIGKILL', async () => {
  // Not waiting in a collective, so only the lifeline (fork's IPC channel closing) can tell them.
  const { child, pids, exited, output } = await startCoordinator(2, 'idle');
  child.kill('SIGKILL');
  assert.is(await within(5000, exited, 'coordinator exit'), 'SIGKILL');
  const socket = /^listening (\S+)$/m.exec(output())?.[1];
  if (socket) rmSync(dirname(socket), { recursive: true, force: true });
  const gone = await waitUntil(() => !pids.some(isAlive), 5000);
  const alive = pids.filter(isAlive);
  for (const pid of alive) process.kill(pid, 'SIGKILL'); // do not leave them behind even if the test fails
  assert.ok(gone, `workers ${alive.join(', ')} outlived their coordinator by 5 s`);
});

test.run();
