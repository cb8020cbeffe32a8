// launch(): torchrun / `accelerate launch` in one call. It wires the two halves of a run: the
// collective server (collective-server.ts: connections, frames, rounds, reduction) and the local
// supervisor (supervisor.ts: worker processes, failures, Ctrl-C), which meet only through the
// server's events. Across machines each machine's launcher does the same for its own workers and
// its server reduces through its link to the master (node-link.ts); node 0's launcher also runs the
// master (master-hub.ts). Its options, results and errors are in launch-api.ts.
import { CollectiveServer } from './collective-server.js';
import { describeEndpoint, isLoopback } from './endpoint.js';
import { JOIN_TOKEN_ENV, MAKE_TOKEN } from './join-token.js';
import { newSecret } from './handshake.js';
import { validateLink } from './link.js';
import { MasterHub } from './master-hub.js';
import { MasterGoneError, NodeLink } from './node-link.js';
import { RefusalLog } from './refusals.js';
import { DEFAULT_MAX_RESPAWNS, Supervisor } from './supervisor.js';
import { InterruptedError, type LaunchOptions, type LaunchResult, type MachineOptions } from './launch-api.js';

export type { LinkOptions } from './link.js';
export { CollectiveMismatchError } from './collective.js';
export { CoordinatorError } from './collective-server.js';
export { ProtocolError } from './protocol.js';
export { MasterGoneError } from './node-link.js';
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
  if (options.machines && options.tabs) throw new RangeError('launch: browser tabs join a run on one machine; give tabs or machines, not both');
  if (options.machines) return launchMachine(options, options.machines, timeoutMs);
  // One secret per run: the server checks it, the supervisor hands it to the workers it forks.
  const secret = options.secret ?? newSecret();
  const supervisor = new Supervisor(options, secret);
  const server = new CollectiveServer({
    worldSize: options.procs, ...(options.ranks ? { ranks: options.ranks } : {}), link: options.link, commDtype: options.commDtype ?? 'f32', outerOptimizer: options.outerOptimizer,
    timeoutMs, workerConfig: options.workerConfig, secret, ...(options.tabs ? { tabSeat: () => supervisor.tabSeat() } : {}),
  }, supervisor);
  return supervisor.run(server);
}

/**
 * One machine of a run across several: node 0 starts the master; every machine joins it (node 0
 * over loopback, so there is one code path), starts its workers once all have joined, and reduces
 * through the link. Whatever ends this machine's run is told to the master (done, or why it
 * failed), and the master ends the others' if it must.
 */
async function launchMachine(options: LaunchOptions, machines: MachineOptions, timeoutMs: number): Promise<LaunchResult> {
  const { nodes, nodeRank, perNode } = machines;
  if (!Number.isInteger(nodes) || nodes < 1 || !Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nodes) {
    throw new RangeError(`launch: node rank ${nodeRank} of ${nodes} nodes is not a place in the run (0 … nodes − 1)`);
  }
  if (options.procs !== nodes * perNode) throw new RangeError(`launch: procs (${options.procs}) must be nodes × perNode (${nodes} × ${perNode})`);
  if (options.onWorkerFailure === 'respawn') throw new RangeError("launch: across machines a lost worker is dropped ('continue') or stops the run ('abort'); 'respawn' is for one machine");
  const onLine = machines.onLine ?? ((line: string) => process.stderr.write(`${line}\n`));
  let hub: MasterHub | undefined;
  const refusals = new RefusalLog((line) => onLine(line.trimEnd().replace(/^coordinator:/, 'master:')));
  if (nodeRank === 0) {
    hub = new MasterHub({
      nodes, perNode, secret: machines.secret, insecure: machines.insecure ?? false, tls: machines.tls, timeoutMs,
      rendezvousTimeoutMs: machines.rendezvousTimeoutMs, settings: machines.settings, commDtype: options.commDtype ?? 'f32',
      outerOptimizer: options.outerOptimizer, onNodeFailure: options.onWorkerFailure === 'continue' ? 'continue' : 'abort',
    }, { onLine, onRefused: (r) => refusals.add(r) });
    // Every interface, as torchrun's store: the master address may name this machine by any of its addresses.
    const host = isLoopback(machines.master.host) ? machines.master.host : '0.0.0.0';
    await hub.listen({ host, port: machines.master.port });
    onLine(`master: listening on port ${machines.master.port}${machines.tls ? ' (TLS)' : ''} for ${nodes} nodes × ${perNode} workers`);
  } else if (machines.insecure) {
    onLine(`warning: node ${nodeRank} joins the master at ${describeEndpoint(machines.master)} WITHOUT a join secret (--insecure): anyone who can reach this machine's link can pose as the master and hand its workers any weights; ` +
      `on any network you do not fully trust, make a token (${MAKE_TOKEN}) and give it to every machine (--join-token-file, or ${JOIN_TOKEN_ENV})`);
  }
  const ranks = Array.from({ length: perNode }, (_, i) => nodeRank * perNode + i);
  let link: NodeLink;
  try {
    link = await NodeLink.join({
      master: machines.master, nodeRank, secret: machines.secret, tls: machines.tls, ranks, host: machines.host,
      settings: machines.settings, commDtype: options.commDtype ?? 'f32',
      // Node 0 waits a little past its own master's deadline, so the master's message (which nodes never came) is the one told.
      joinTimeoutMs: machines.rendezvousTimeoutMs + (hub ? 5000 : 0),
      // Across machines the simulated link is the one between machines; node 0's own is local, as for real.
      link: nodeRank === 0 ? undefined : options.link,
    });
  } catch (error) {
    await hub?.close();
    refusals.close();
    throw error;
  }
  // Workers send f32 to their own machine's server, which reduces nothing itself: the master holds the outer optimizer and the 16-bit anchor.
  const secret = newSecret();
  let adapterSaid = false;
  const local: LaunchOptions = {
    ...options, ranks,
    onLog: (rank, record) => {
      // The first worker to describe itself (train.js's 'model' record) names this machine's adapter for the master's line.
      const adapter = (record as { kind?: unknown; adapter?: unknown } | null)?.adapter;
      if (!adapterSaid && (record as { kind?: unknown }).kind === 'model' && typeof adapter === 'string') {
        adapterSaid = true;
        link.sayAdapter(adapter);
      }
      options.onLog?.(rank, record);
    },
  };
  const supervisor = new Supervisor(local, secret);
  const server = new CollectiveServer({
    worldSize: options.procs, ranks, upstream: link, commDtype: 'f32', timeoutMs, workerConfig: options.workerConfig, secret,
  }, supervisor);
  link.watch({ onLost: (error) => supervisor.abort(error) });
  try {
    const result = await supervisor.run(server);
    await link.finish();
    if (hub) {
      // The others finish their last evaluation and exit; the master waits for them (bounded), then closes.
      await Promise.race([hub.whenAllDone, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
      hub.stop('the run is complete', false);
    }
    result.stats.crossMachine = link.stats;
    return result;
  } catch (error) {
    const message = (error as Error).message;
    if (hub) {
      // Before this machine's own link reports the failure: the others should hear why in the master's words.
      const why = error instanceof InterruptedError ? `the master was interrupted (${error.signal ?? 'SIGINT'})` : `node 0 failed: ${message.split('\n')[0]}`;
      hub.stop(why, true);
    }
    if (!(error instanceof MasterGoneError)) await link.fail(message);
    throw error;
  } finally {
    await hub?.close();
    refusals.close();
  }
}
