import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, waitUntil, within } from './fixtures/procs.js';

const test = suite('interrupt');
const COORDINATOR = fileURLToPath(new URL('./fixtures/launcher.js', import.meta.url));

/** Starts the fixture coordinator and resolves with its workers' pids once they are averaging. */
async function startCoordinator(procs: number, scenario = 'loop'): Promise<{ child: ChildProcess; pids: number[]; output: () => string; exited: Promise<number | string> }> {
  const child = spawn(process.execPath, [COORDINATOR, String(procs), scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
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
