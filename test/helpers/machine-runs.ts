// Runs of train.js across machines for the authentication and fault tests: one launcher per
// "machine" (a process on loopback, or in a network namespace), each watched for the worker
// processes it forks, so a test can say that none outlived its run.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isAlive, within } from '../comm/fixtures/procs.js';
import { childPids, startTrain, waitFor, type Finished } from './processes.js';
import { SMALL_TASK } from './train-run.js';

/** dist/worker.js of this build: the process a launcher forks per worker. */
export const WORKER_JS = fileURLToPath(new URL('../../worker.js', import.meta.url));

/** A run of 2 machines × 2 workers on the small task; `steps` sets how long it trains. */
export function machineTask(steps: number): string[] {
  return [...SMALL_TASK, '--no-shuffle', '--max-steps', String(steps), '--local-sgd-steps', '4', '--nnodes', '2', '--nproc-per-node', '2'];
}

// The join token file and a free port, as the bit-identity tests make them.
export { freePort, writeToken } from './machines.js';

export interface Machine {
  child: ChildProcess;
  /** Settles with the exit status and output, within `limitMs` of start or it rejects (the process is killed). */
  finished: Promise<Finished>;
  /** Its stderr so far. */
  stderr(): string;
  /** Every worker process it forked (polled every 50 ms while it lived). */
  workers: Set<number>;
}

/**
 * Starts one machine's launcher: `node dist/train.js ...args`, or a command that ends in it
 * (`start` lets the namespace helper run it through nsenter). Its workers are its children, or,
 * started through nsenter, its grandchildren.
 */
export function startMachine(
  args: string[], options: { limitMs?: number; start?: (args: string[]) => { child: ChildProcess; done: Promise<Finished> } } = {},
): Machine {
  const { child, done } = (options.start ?? startTrain)(args);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const workers = new Set<number>();
  const poll = setInterval(() => {
    for (const pid of childPids(child.pid!)) {
      if (isWorker(pid)) workers.add(pid);
      else for (const grandchild of childPids(pid)) if (isWorker(grandchild)) workers.add(grandchild);
    }
  }, 50);
  const limitMs = options.limitMs ?? 120_000;
  const finished = within(limitMs, done, `train.js ${args.join(' ')}`).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  }).finally(() => clearInterval(poll));
  finished.catch(() => undefined); // awaited by the test; never an unhandled rejection meanwhile
  const machine = { child, finished, stderr: () => stderr, workers };
  started.add(machine);
  void finished.catch(() => undefined).finally(() => started.delete(machine));
  return machine;
}

const started = new Set<Machine>();

/**
 * Kills (SIGKILL) every launcher still running and the workers seen under it, and waits for them:
 * after a failed test nothing may train on and write into a directory the test removed.
 */
export async function killMachines(): Promise<void> {
  const left = [...started];
  for (const machine of left) {
    machine.child.kill('SIGKILL');
    for (const pid of machine.workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await Promise.all(left.map((m) => m.finished.catch(() => undefined)));
}

/** The command line of `pid`, or '' once it is gone. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

const isWorker = (pid: number) => commandLine(pid).includes(WORKER_JS);

/** Processes of this build's dist/worker.js alive now (ps, as a person would look). */
export function workerProcesses(): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes(WORKER_JS) && !/^\s*\d+\s+Z/.test(line)).map((line) => Number(line.trim().split(/\s+/)[0]));
}

/**
 * Waits (bounded) until no worker of `machines` is alive and ps shows no dist/worker.js that was not
 * there before the test (`before`); throws naming what is left.
 */
export async function noWorkersLeft(machines: Machine[], before: number[], ms = 10_000): Promise<void> {
  const known = () => machines.flatMap((m) => [...m.workers]).filter(isAlive);
  const stray = () => workerProcesses().filter((pid) => !before.includes(pid));
  try {
    await waitFor(() => known().length === 0 && stray().length === 0, ms, 'every worker to exit');
  } catch {
    throw new Error(`workers left behind: ${[...new Set([...known(), ...stray()])].map((pid) => `${pid} (${commandLine(pid)})`).join(', ')}`);
  }
}

/** Waits (bounded) until `machine`'s stderr matches `pattern`, or fails with what it printed (and how it ended, if it did). */
export async function waitForLine(machine: Machine, pattern: RegExp, ms: number, what: string): Promise<void> {
  try {
    await waitFor(() => pattern.test(machine.stderr()) || machine.child.exitCode !== null || machine.child.signalCode !== null, ms, what);
  } catch {
    throw new Error(`timed out after ${ms} ms waiting for ${what}; stderr so far:\n${machine.stderr()}`);
  }
  if (!pattern.test(machine.stderr())) throw new Error(`the launcher ended (exit ${machine.child.exitCode ?? machine.child.signalCode}) before ${what}:\n${machine.stderr()}`);
}

/** Waits (bounded) until `metrics` (a --metrics file) holds a train record at step `step` or later. */
export async function waitForStep(metrics: string, step: number, machine: Machine, ms = 60_000): Promise<void> {
  const reached = () => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').some((line) => {
    const m = /"kind":"train".*"step":(\d+)/.exec(line);
    return m !== null && Number(m[1]) >= step;
  });
  try {
    await waitFor(() => reached() || machine.child.exitCode !== null, ms, `step ${step}`);
  } catch {
    throw new Error(`no train record at step ≥ ${step} within ${ms} ms; stderr:\n${machine.stderr()}`);
  }
  if (!reached()) throw new Error(`the launcher exited (${machine.child.exitCode}) before step ${step}:\n${machine.stderr()}`);
}
