// A Node worker process's end of the collective: a MemberChannel (member-channel.ts, which does the
// handshake and the collectives) over a Unix socket or TCP, claiming the rank its launcher gave it.
// What only a process has is here: connecting to an endpoint, the environment launch() sets, and
// the lifeline to the launcher. The server beats as the worker does, so a worker notices a
// coordinator that went silent: TCP alone never tells it, because its own heartbeats keep
// unacknowledged data queued, which stops keepalive probing, and Node offers no TCP_USER_TIMEOUT.
import { socketStream } from './byte-stream.js';
import { checkEndpoint, connectTo, describeEndpoint, type Endpoint } from './endpoint.js';
import { handshakeProof, newNonce, secretFromText } from './handshake.js';
import { MemberChannel } from './member-channel.js';

export { CoordinatorSilentError, type Rejoin, type RoundTiming, type WorkerChannelStats } from './member-channel.js';

/**
 * Environment variables the supervisor sets for each worker process it forks: where the server
 * is, which rank to claim, and the run's secret that proves it (hex). Everything else arrives in
 * the server's init message.
 */
export const ENV = {
  socket: 'LOCALSGD_SOCKET',
  rank: 'LOCALSGD_RANK',
  secret: 'LOCALSGD_SECRET',
} as const;

export class WorkerChannel extends MemberChannel {
  private lifeline: (() => void) | undefined;

  /**
   * Connects to the server at `endpoint` (its Unix socket path, or `{ host, port }` over TCP) as
   * `rank`, proving it holds the run's `secret` (32 bytes: what launch() puts in the workers'
   * environment, or join-token.ts's readJoinSecret() across machines), and waits for its init. For
   * callers that start workers themselves. Rejects if the server cannot be reached (naming the
   * address), refuses the hello, cannot prove it holds the secret too, or sends a bad init; with
   * `timeoutMs`, also if connecting and init together take longer (across machines, a SYN to a
   * dead host is retried for about two minutes, and a listener that is not a collective server may
   * never answer).
   */
  static connect(endpoint: Endpoint, rank: number, secret: Uint8Array, options: { timeoutMs?: number } = {}): Promise<WorkerChannel> {
    return WorkerChannel.open(endpoint, rank, secret, undefined, options.timeoutMs);
  }

  /** Connects as the supervisor's environment says; undefined when this process was not launched by one. */
  static async fromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<WorkerChannel | undefined> {
    const path = env[ENV.socket];
    if (!path) return undefined;
    const rank = Number(env[ENV.rank]);
    if (env[ENV.rank] === undefined || !Number.isInteger(rank) || rank < 0) {
      throw new Error(
        `bad worker environment: ${ENV.rank}=${env[ENV.rank]} (a whole number ≥ 0 expected); ` +
          'workers are started by launch() (dist/train.js --procs N), which sets it',
      );
    }
    const secret = secretFromText(env[ENV.secret], `bad worker environment: ${ENV.secret}`);
    // Read once; this process's own children (if any) need not inherit it.
    if (env === process.env) delete process.env[ENV.secret];
    // Lifeline: fork()'s IPC channel closes when the launcher dies, however it dies (even
    // SIGKILL), so no worker outlives it. A Dawn instance would otherwise keep this process alive.
    let lifeline: (() => void) | undefined;
    if (process.channel) {
      lifeline = () => {
        process.stderr.write(`rank ${rank}: the coordinator is gone; exiting\n`);
        process.exit(1);
      };
      process.once('disconnect', lifeline);
    }
    try {
      return await WorkerChannel.open(path, rank, secret, lifeline);
    } catch (error) {
      if (lifeline) process.off('disconnect', lifeline);
      throw error;
    }
  }

  private static async open(
    endpoint: Endpoint, rank: number, secret: Uint8Array, lifeline: (() => void) | undefined, timeoutMs?: number,
  ): Promise<WorkerChannel> {
    checkEndpoint(endpoint, `rank ${rank}: WorkerChannel.connect`);
    handshakeProof(secret, 'worker', newNonce(), rank); // a wrong-sized secret or a bad rank fails here, before any connection
    if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new RangeError(`rank ${rank}: WorkerChannel.connect timeoutMs must be > 0 (got ${timeoutMs})`);
    const where = describeEndpoint(endpoint);
    const socket = connectTo(endpoint);
    return MemberChannel.handshake(timeoutMs, `rank ${rank}`, where, () => socket.destroy(), async () => {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (e) => reject(new Error(`rank ${rank} cannot reach the coordinator at ${where}: ${e.message}`)));
      });
      const channel = new WorkerChannel(socketStream(socket), where, secret, { kind: 'worker', rank, pid: process.pid });
      channel.lifeline = lifeline;
      return channel;
    });
  }

  override close(): void {
    // Past this point the run is over for this worker, so the coordinator's exit no longer matters
    // (and the listener would keep the IPC channel, hence the process, alive).
    if (this.lifeline) process.off('disconnect', this.lifeline);
    this.lifeline = undefined;
    super.close();
  }
}
