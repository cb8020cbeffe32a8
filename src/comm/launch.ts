// launch(): torchrun / `accelerate launch` in one call. It wires the two halves of a run: the
// collective server (collective-server.ts: connections, frames, rounds, reduction) and the local
// supervisor (supervisor.ts: worker processes, failures, Ctrl-C), which meet only through the
// server's events. Its options, results and errors are in launch-api.ts.
import { CollectiveServer } from './collective-server.js';
import { newSecret } from './handshake.js';
import { validateLink } from './link.js';
import { DEFAULT_MAX_RESPAWNS, Supervisor } from './supervisor.js';
import type { LaunchOptions, LaunchResult } from './launch-api.js';

export type { LinkOptions } from './link.js';
export { CollectiveMismatchError } from './collective.js';
export { CoordinatorError } from './collective-server.js';
export { ProtocolError } from './protocol.js';
export * from './launch-api.js';

export function launch(options: LaunchOptions): Promise<LaunchResult> {
  if (!Number.isInteger(options.procs) || options.procs < 1) {
    throw new RangeError(`launch: procs must be a whole number ≥ 1 (got ${options.procs})`);
  }
  if (options.link) validateLink(options.link);
  const timeoutMs = options.timeoutMs ?? 120_000;
  if (!(timeoutMs > 0)) throw new RangeError(`launch: timeoutMs must be > 0 (got ${options.timeoutMs})`);
  const maxRespawns = options.maxRespawns ?? DEFAULT_MAX_RESPAWNS;
  if (!Number.isInteger(maxRespawns) || maxRespawns < 0) throw new RangeError(`launch: maxRespawns must be a whole number ≥ 0 (got ${maxRespawns})`);
  // One secret per run: the server checks it, the supervisor hands it to the workers it forks.
  const secret = newSecret();
  const supervisor = new Supervisor(options, secret);
  const server = new CollectiveServer({
    worldSize: options.procs, link: options.link, commDtype: options.commDtype ?? 'f32', outerOptimizer: options.outerOptimizer,
    timeoutMs, workerConfig: options.workerConfig, secret,
  }, supervisor);
  return supervisor.run(server);
}
