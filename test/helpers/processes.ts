// Child-process helpers for tests that run dist/train.js: run to completion, or interfere mid-run,
// and check that no process is left behind.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from '../comm/fixtures/procs.js';

/** dist/train.js, from any bundle under dist/ (a test's at dist/test/<dir>/, a benchmark's at dist/bench/). */
export const TRAIN_JS = join(distRoot(fileURLToPath(import.meta.url)), 'train.js');

function distRoot(bundle: string): string {
  const at = bundle.lastIndexOf(`${sep}dist${sep}`);
  if (at < 0) throw new Error(`${bundle} is not under a dist/ directory: run the bundled tests and benchmarks (node build.mjs)`);
  return bundle.slice(0, at + `${sep}dist`.length);
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startTrain(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Finished> } {
  return startNode(TRAIN_JS, args, env);
}

/**
 * The children's TMPDIR, removed when this test process exits: a coordinator that a test kills with
 * SIGKILL cannot remove its socket directory, and it must not stay behind in /tmp.
 */
let childTmp: string | undefined;
export function childTmpDir(): string {
  if (!childTmp) {
    const dir = mkdtempSync(join(tmpdir(), 'test-children-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    childTmp = dir;
  }
  return childTmp;
}

/** Runs a dist/ script with this Node, collecting its output. */
export function startNode(script: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Finished> } {
  return startCollecting(process.execPath, [script, ...args], { ...process.env, TMPDIR: childTmpDir(), ...env });
}

/** Starts `command` with its stdout and stderr collected; `done` settles once both are complete. */
export function startCollecting(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env, ...(cwd === undefined ? {} : { cwd }) });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  // 'close', not 'exit': a process's last lines may still be in the pipe when it exits, and a busy
  // test process reads them after its 'exit' event (seen with 300 sockets open in the test).
  const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Runs `command` (in `cwd`, else here) to its end within `ms`, collecting its output; past that it is killed and this rejects. */
export async function runBounded(command: string, args: string[], env: NodeJS.ProcessEnv, ms: number, what = `${command} ${args.join(' ')}`, cwd?: string): Promise<Finished> {
  const { child, done } = startCollecting(command, args, env, cwd);
  try {
    return await within(ms, done, what);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
}

export async function runTrain(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return startTrain(args, env).done;
}

export async function runNode(script: string, args: string[]): Promise<Finished> {
  return startNode(script, args).done;
}

/** Process ids whose parent is `pid`. */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  } catch (e) {
    // ps exits 1 when nothing matches; a missing ps must not make every leftover check pass.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('childPids needs ps (apt-get install -y procps; scripts/setup-cluster.sh installs it)');
    return [];
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
