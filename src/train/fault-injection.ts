// Fault injection for the tests of --on-worker-failure: a worker that kills itself at a chosen step
// fails at the same point of training on every run, which a kill from outside cannot promise.

/**
 * `<rank>:<step>`: the first process holding that rank sends itself SIGKILL when it is about to take
 * optimizer step `step` (0-based, so after `step` steps; the run's step count means after the
 * closing average, before the final evaluation); `<rank>:<step>:always` does so in every
 * process that holds the rank, respawned ones included (a worker that fails deterministically).
 */
export const TEST_SIGKILL_ENV = 'LOCALSGD_TEST_SIGKILL';

const wanted = parse(process.env[TEST_SIGKILL_ENV]);

function parse(value: string | undefined): { rank: number; step: number; always: boolean } | undefined {
  if (!value) return undefined;
  const [rank, step, always] = value.split(':');
  const parsed = { rank: Number(rank), step: Number(step), always: always === 'always' };
  if (!Number.isInteger(parsed.rank) || !Number.isInteger(parsed.step) || (always !== undefined && !parsed.always)) {
    throw new Error(`${TEST_SIGKILL_ENV} must be <rank>:<step> or <rank>:<step>:always (got "${value}")`);
  }
  return parsed;
}

export function sigkillIfTestAsks(rank: number, restarts: number, step: number): void {
  if (wanted && wanted.rank === rank && wanted.step === step && (wanted.always || restarts === 0)) process.kill(process.pid, 'SIGKILL');
}
