// Hooks that tests and benchmarks switch on through the environment of dist/train.js, which passes
// it on to the worker processes they do not start themselves. Only the program entries (cli/)
// install them; the training loop sees a TrainHooks object like any other.
import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import type { WorkerChannel } from '../comm/worker-channel.js';
import { saveCheckpoint } from './checkpoint.js';
import { combineHooks, type TrainHooks } from './hooks.js';

/**
 * `<rank>:<step>`: the first process holding that rank sends itself SIGKILL when it is about to take
 * optimizer step `step` (0-based, so after `step` steps; the run's step count means after the
 * closing average, before the final evaluation); `<rank>:<step>:always` does so in every process
 * that holds the rank, respawned ones included (a worker that fails deterministically). A worker
 * that kills itself at a chosen step fails at the same point of training on every run, which a
 * kill from outside cannot promise.
 */
export const TEST_SIGKILL_ENV = 'LOCALSGD_TEST_SIGKILL';

/**
 * `<rank>:<activity>`: the first process holding that rank stops itself with SIGSTOP as soon as what
 * its heartbeats say it is doing starts with `activity` ("training step 5", "in allreduce 'params'",
 * "evaluating the final weights", "saving"), at the next turn of its event loop, so mid-way through
 * that work. A stopped worker sends nothing, heartbeats included: the coordinator must notice.
 */
export const TEST_SIGSTOP_ENV = 'LOCALSGD_TEST_SIGSTOP';

/**
 * The coordinator (dist/train.js with several workers) writes its socket's path to this file once
 * it listens, so a test can connect strangers to a real run and find its private directory.
 */
export const SOCKET_PATH_FILE_ENV = 'LOCALSGD_TEST_SOCKET_FILE';

/** Every rank also saves its final weights to `<--save>.rank<r>`. */
export const SAVE_EVERY_RANK_ENV = 'LOCALSGD_SAVE_EVERY_RANK';

/**
 * Every rank appends `{step, digest}` (SHA-256 of its weights' bytes) after every optimizer step to
 * `<value>.rank<r>.jsonl`, so a test can see when workers agree bit for bit.
 */
export const TRACE_WEIGHTS_ENV = 'LOCALSGD_TRACE_WEIGHTS';

/**
 * Every rank appends each f32 parameter round and each broadcast it takes part in to
 * `<value>.rank<r>.jsonl`, one JSON line each: `{kind: 'params', step, sent, received}` or
 * `{kind: 'broadcast', received}`, the float32 values as base64 of their bytes (`sent`: this rank's
 * weights going into the round; `received`: what it came back with). A test can then check that
 * every replica leaves a round holding the mean (or DiLoCo's outer step from the mean) of the
 * weights all replicas sent. 16-bit rounds (--comm-dtype f16|bf16 after the first) send deltas and are not traced.
 */
export const TRACE_ROUNDS_ENV = 'LOCALSGD_TRACE_ROUNDS';

/** The hooks the environment asks for (none when it asks for none). */
export function hooksFromEnvironment(config: { save?: string | undefined }, env: NodeJS.ProcessEnv = process.env): TrainHooks {
  const hooks: TrainHooks[] = [];
  // In this order: a rank saves its weights before it kills itself after the closing round.
  if (env[SAVE_EVERY_RANK_ENV] && config.save) hooks.push(saveEveryRank(config.save));
  if (env[TRACE_WEIGHTS_ENV]) hooks.push(traceWeights(env[TRACE_WEIGHTS_ENV]));
  if (env[TEST_SIGKILL_ENV]) hooks.push(sigkillAt(env[TEST_SIGKILL_ENV]));
  return combineHooks(...hooks);
}

/** Installs the SIGSTOP fault the environment asks for on a worker's channel (nothing when it asks for none). */
export function channelFaultsFromEnvironment(channel: WorkerChannel, env: NodeJS.ProcessEnv = process.env): void {
  const spec = env[TEST_SIGSTOP_ENV];
  if (!spec) return;
  const colon = spec.indexOf(':');
  const rank = Number(spec.slice(0, colon));
  const activity = spec.slice(colon + 1);
  if (colon < 1 || !Number.isInteger(rank) || activity === '') throw new Error(`${TEST_SIGSTOP_ENV} must be <rank>:<activity> (got "${spec}")`);
  if (rank !== channel.rank || channel.rejoin) return;
  let stopped = false;
  channel.onActivity((doing) => {
    if (stopped || !doing.startsWith(activity)) return;
    stopped = true;
    // Its last heartbeat says what it was doing (otherwise the one before, up to a heartbeat period old).
    channel.beat();
    setImmediate(() => process.kill(process.pid, 'SIGSTOP'));
  });
}

/** Installs the round trace the environment asks for on a worker's channel (nothing when it asks for none). */
export function channelTraceFromEnvironment(channel: WorkerChannel, env: NodeJS.ProcessEnv = process.env): void {
  const prefix = env[TRACE_ROUNDS_ENV];
  if (!prefix) return;
  const path = `${prefix}.rank${channel.rank}.jsonl`;
  const base64 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const append = (record: object) => appendFileSync(path, `${JSON.stringify(record)}\n`);
  // Wraps the two collectives that set weights; allReduceMean averages in place, so `sent` is a copy.
  const allReduceMean = channel.allReduceMean.bind(channel);
  channel.allReduceMean = async (tag, data, step, scope) => {
    const sent = tag === 'params' ? data.slice() : undefined;
    const received = await allReduceMean(tag, data, step, scope);
    if (sent) append({ kind: 'params', step, scope, sent: base64(sent), received: base64(received) });
    return received;
  };
  const broadcast = channel.broadcast.bind(channel);
  channel.broadcast = async (data) => {
    const received = await broadcast(data);
    append({ kind: 'broadcast', received: base64(received) });
    return received;
  };
}

export function sigkillAt(spec: string): TrainHooks {
  const [rank, step, always] = spec.split(':');
  const wanted = { rank: Number(rank), step: Number(step), always: always === 'always' };
  if (!Number.isInteger(wanted.rank) || !Number.isInteger(wanted.step) || (always !== undefined && !wanted.always)) {
    throw new Error(`${TEST_SIGKILL_ENV} must be <rank>:<step> or <rank>:<step>:always (got "${spec}")`);
  }
  const killIfWanted = (e: { rank: number; step: number; restarts: number }) => {
    if (wanted.rank === e.rank && wanted.step === e.step && (wanted.always || e.restarts === 0)) process.kill(process.pid, 'SIGKILL');
  };
  return { beforeStep: killIfWanted, afterTraining: async (e) => killIfWanted(e) };
}

export function traceWeights(prefix: string): TrainHooks {
  const path = (rank: number) => `${prefix}.rank${rank}.jsonl`;
  return {
    beforeTraining: (e) => writeFileSync(path(e.rank), ''),
    afterStep: async (e) => {
      const params = await e.readParameters();
      const digest = createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex');
      appendFileSync(path(e.rank), `${JSON.stringify({ step: e.step, digest })}\n`);
    },
  };
}

export function saveEveryRank(save: string): TrainHooks {
  return {
    afterTraining: async (e) => saveCheckpoint(`${save}.rank${e.rank}`, e.layout, { params: await e.readParameters(), step: e.step }),
  };
}
