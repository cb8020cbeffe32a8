// A bounded launch() of fake workers for the coordinator tests, which afterwards checks that it
// left nothing behind: no worker process alive, no socket directory.
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { launch, type LaunchOptions, type LaunchResult, type WorkerLostEvent } from '../../src/comm/launch.js';
import { isAlive, within } from '../comm/fixtures/procs.js';

export interface BoundedLaunch {
  result?: LaunchResult;
  error?: Error;
  /** Every worker process started, respawned ones included. */
  pids: number[];
  lost: WorkerLostEvent[];
}

/** Runs `options` to its end (or failure) within `ms`; settles only after checking for leftovers. */
export async function boundedLaunch(options: LaunchOptions, ms: number, what = 'launch'): Promise<BoundedLaunch> {
  const pids: number[] = [];
  const lost: WorkerLostEvent[] = [];
  let socketPath = '';
  let result: LaunchResult | undefined;
  let error: Error | undefined;
  try {
    result = await within(ms, launch({
      onWorkerStarted: ({ pid }) => pids.push(pid), onListening: (path) => (socketPath = path), onWorkerLost: (e) => lost.push(e),
      timeoutMs: 10_000, echoStderr: false, killGraceMs: 1000, ...options,
    }), what);
  } catch (e) {
    error = e as Error;
  }
  const alive = pids.filter(isAlive);
  assert.equal(alive, [], `worker pids ${alive.join(', ')} still alive after launch settled`);
  assert.ok(socketPath !== '' && !existsSync(dirname(socketPath)), `socket directory ${dirname(socketPath)} left behind`);
  return { ...(result ? { result } : {}), ...(error ? { error } : {}), pids, lost };
}
