// A machine's link to the master (node 0's launcher, master-hub.ts): the upper level of a run
// across machines. It joins the run (connecting until the master is up, proving the join secret
// with the handshake of handshake.ts in the roles 'node' and 'master', then sending the settings
// every machine must share), waits until every machine has joined, and then completes its
// server's collectives (upstream.ts): one tensor per machine goes up per round, whatever its number
// of workers, and one comes back. An f32 round sends the float64 sum of its workers' tensors, so
// the master's mean is the one-machine mean's arithmetic (reduce.ts, sumOf); a compressed
// 'params' round sends the 16-bit delta of their mean from the last global result, which both
// ends hold as the anchor (delta-codec.ts). It beats every heartbeatMs and counts the master gone
// after silenceLimitMs without a byte from it: TCP alone would never say.
import type { Socket } from 'node:net';
import { DeltaCodec, type CommDtype } from './delta-codec.js';
import { describeEndpoint, type TcpEndpoint } from './endpoint.js';
import { handshakeProof, newNonce, proofMatches } from './handshake.js';
import { JOIN_TOKEN_ENV } from './join-token.js';
import { asFloat32, MASTER_SENDS, ProtocolError, type CollectiveKind, type Header, type HeaderOf, type ReduceTag } from './protocol.js';
import { sumOf, weightedMeanOf } from './reduce.js';
import { connectSecurely, type TlsFiles } from './tls.js';
import { socketStream } from './byte-stream.js';
import { FrameConnection, type ConnectionLinks } from './transport.js';
import { linkIsOff, SimulatedLink, type LinkOptions } from './link.js';
import type { Upstream, UpstreamResult } from './upstream.js';

export interface NodeLinkOptions {
  master: TcpEndpoint;
  nodeRank: number;
  secret: Uint8Array;
  /** With these, the link is TLS and the master's certificate must be signed by `ca`. */
  tls?: TlsFiles | undefined;
  /** This machine's workers' global ranks. */
  ranks: readonly number[];
  /** Said in node-join, for the master's line about this machine. */
  host: string;
  /** What every machine must share (compared by the master key by key). */
  settings: Record<string, string>;
  /** The run's --comm-dtype: unless f32, 'params' rounds after the first send 16-bit deltas. */
  commDtype: CommDtype;
  /** How long to keep trying to reach the master and to wait for every machine to join. */
  joinTimeoutMs: number;
  /**
   * Simulated link to the master, both directions (link.ts): machines on one host over loopback
   * then take the time a real link of that rate would, with the real topology's bytes (this
   * machine's float64 sum up, the result down, one after the other).
   */
  link?: LinkOptions | undefined;
}

export interface NodeLinkEvents {
  /** After joining: the master ended the run for this machine (another failed, it was interrupted), went silent, or hung up. */
  onLost(error: MasterGoneError): void;
}

/** The master stopped this machine's part of the run, or can no longer be heard. */
export class MasterGoneError extends Error {
  override name = 'MasterGoneError';
}

interface Pending {
  collective: CollectiveKind;
  round: number;
  resolve: (result: UpstreamResult) => void;
  reject: (error: Error) => void;
}

/** Between connection attempts while the master is not yet listening. */
const RETRY_MS = 500;

export class NodeLink implements Upstream {
  private connection!: FrameConnection;
  private readonly codec = new DeltaCodec();
  private pending: Pending | undefined;
  private sums: Float64Array | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private silenceLimitMs = 0;
  private readonly parameterRoundSteps: number[] = [];
  /**
   * Cross-machine collectives, numbered per kind from 0: with --cross-node-every the workers' round
   * numbers also count rounds within this machine, which the master never sees.
   */
  private readonly nextRound: Record<CollectiveKind, number> = { params: 0, grads: 0, broadcast: 0 };
  /** Set once this side said done or failed, or the link was lost: nothing more is reported. */
  private ended = false;
  private events: NodeLinkEvents | undefined;

  private constructor(private readonly options: NodeLinkOptions) {}

  /** Connects (retrying until the master listens), joins, and resolves once every machine has joined. */
  static async join(options: NodeLinkOptions): Promise<NodeLink> {
    const link = new NodeLink(options);
    await link.connectAndJoin();
    return link;
  }

  get master(): string {
    return `the master (node 0 at ${describeEndpoint(this.options.master)})`;
  }

  /** Where to report a master that goes away from now on. */
  watch(events: NodeLinkEvents): void {
    this.events = events;
  }

  private async connectAndJoin(): Promise<void> {
    const deadline = performance.now() + this.options.joinTimeoutMs;
    let lastError = '';
    for (;;) {
      try {
        const socket = await connectSecurely(this.options.master, this.options.tls, Math.max(1000, deadline - performance.now()));
        await this.handshake(socket, deadline);
        return;
      } catch (error) {
        if (error instanceof MasterGoneError || error instanceof ProtocolError) throw error;
        lastError = (error as Error).message;
      }
      if (performance.now() + RETRY_MS > deadline) {
        throw new MasterGoneError(
          `could not join ${this.master} within ${(this.options.joinTimeoutMs / 1000).toFixed(0)} s (--rendezvous-timeout): ${lastError}. ` +
            'Is node 0 started, with the same --master-addr and --master-port, and is that port open between the machines?',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  /** challenge → node-hello → node-welcome → node-join → (all machines) node-start; rejects on anything else. */
  private handshake(socket: Socket, deadline: number): Promise<void> {
    const nonce = newNonce();
    let stage: 'challenge' | 'welcome' | 'start' | 'joined' = 'challenge';
    return new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => {
        if (stage === 'joined') return this.lose(error instanceof MasterGoneError ? error : new MasterGoneError(`${this.master}: ${error.message}`));
        clearTimeout(timer);
        this.connection.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new MasterGoneError(
        `${this.master} did not start the run within ${(this.options.joinTimeoutMs / 1000).toFixed(0)} s (--rendezvous-timeout): some machine never joined`,
      )), Math.max(0, deadline - performance.now()));
      const link = this.options.link;
      const links: ConnectionLinks = linkIsOff(link) ? {} : { inbound: new SimulatedLink(link!), outbound: new SimulatedLink(link!) };
      this.connection = new FrameConnection(socketStream(socket), MASTER_SENDS, {
        onHeader: (header) => this.checkHeader(header),
        onFrame: (header, payload) => {
          if (header.type === 'node-stop') {
            fail(new MasterGoneError(`${this.master} ${header.failed ? 'stopped the run' : 'ended the run'}: ${header.reason}`));
            return;
          }
          if (stage === 'joined') {
            this.onFrame(header, payload);
            return;
          }
          if (stage === 'challenge' && header.type === 'challenge') {
            const { nodeRank, secret } = this.options;
            void this.connection.send({ type: 'node-hello', node: nodeRank, pid: process.pid, nonce, proof: handshakeProof(secret, 'node', header.nonce, nodeRank) });
            stage = 'welcome';
          } else if (stage === 'welcome' && header.type === 'node-welcome') {
            if (!proofMatches(this.options.secret, 'master', nonce, this.options.nodeRank, header.proof)) {
              fail(new ProtocolError(`${this.master} answered with a wrong proof: it does not hold this run's join secret (a different --join-token-file?), so this machine does not join it`));
              return;
            }
            this.silenceLimitMs = header.silenceLimitMs;
            this.startBeating(header.heartbeatMs);
            void this.connection.send({ type: 'node-join', host: this.options.host, ranks: [...this.options.ranks], settings: this.options.settings });
            stage = 'start';
          } else if (stage === 'start' && header.type === 'node-start') {
            clearTimeout(timer);
            stage = 'joined';
            resolve();
          } else if (header.type !== 'server-heartbeat') {
            fail(new ProtocolError(`${this.master} sent '${header.type}' during the handshake (expected ${stage === 'challenge' ? 'a challenge' : stage === 'welcome' ? 'node-welcome' : 'node-start'})`));
          }
        },
        onError: (error) => fail(error),
        onClose: () => fail(new MasterGoneError({
          challenge: `could not join ${this.master}: it closed the connection before its challenge (a TLS master reached without --tls-cert/--tls-key/--tls-ca, or a run that takes no more machines)`,
          // The master hangs up on a hello whose proof is wrong without a word (a stranger learns nothing).
          welcome: `could not join ${this.master}: it closed the connection on this machine's hello, as it does when the proof is wrong, so this machine's join token is not the run's: ` +
            `give every machine the same token (--join-token-file, or ${JOIN_TOKEN_ENV}), or --insecure on all of them or none`,
          start: `${this.master} went away while this machine waited for the others to join: it closed the connection (its launcher exited or was killed)`,
          joined: `${this.master} went away: it closed the connection without ending the run (its launcher exited or was killed, or its machine went down)`,
        }[stage])),
      }, links);
    });
  }

  private startBeating(heartbeatMs: number): void {
    this.heartbeat = setInterval(() => {
      // Past any simulated link delay: a beat must neither wait behind a slow partial nor delay one.
      if (this.connection.open) void this.connection.send({ type: 'node-heartbeat' }, undefined, { bypassLink: true });
    }, heartbeatMs);
    this.watchdog = setInterval(() => {
      const silent = performance.now() - this.connection.lastReceivedAt;
      if (silent > this.silenceLimitMs && !this.connection.receiving) {
        this.lose(new MasterGoneError(
          `${this.master} sent nothing, not even a heartbeat, for ${(silent / 1000).toFixed(1)} s: its machine or the link to it is down`,
        ));
      }
    }, Math.min(1000, Math.max(10, heartbeatMs)));
    this.heartbeat.unref();
    this.watchdog.unref();
  }

  private checkHeader(header: Header): Uint8Array | undefined {
    if (header.type !== 'global') return undefined;
    const pending = this.pending;
    if (!pending || pending.collective !== header.collective || pending.round !== header.round) {
      const waiting = pending ? `${pending.collective} round ${pending.round}` : 'nothing';
      throw new ProtocolError(`${this.master} sent the result of ${header.collective} round ${header.round}, but this machine waits for ${waiting}`);
    }
    return undefined;
  }

  private onFrame(header: Header, payload: Uint8Array): void {
    if (header.type !== 'global') return;
    const pending = this.pending!;
    this.pending = undefined;
    try {
      pending.resolve({ result: this.resultOf(header, payload), members: header.members });
    } catch (error) {
      pending.reject(error as Error);
    }
  }

  /** The weights (or gradients) every worker holds after the round; keeps the 16-bit anchor in step with the master's. */
  private resultOf(header: HeaderOf<'global'>, payload: Uint8Array): Float32Array {
    const { dtype, collective } = header;
    if (dtype !== 'f32') {
      const result = this.codec.decode(0, dtype, payload, new Float32Array(header.count));
      this.codec.setAnchor(result);
      return result;
    }
    const result = asFloat32(payload).slice();
    if (collective === 'params' && this.options.commDtype !== 'f32') this.codec.setAnchor(result);
    return result;
  }

  allreduce(round: { tag: ReduceTag; round: number; step: number | undefined; inputs: readonly Float32Array[]; ranks: readonly number[] }): Promise<UpstreamResult> {
    const { tag, inputs } = round;
    const count = inputs[0]!.length;
    if (tag === 'params' && round.step !== undefined) this.parameterRoundSteps.push(round.step);
    const dtype = this.options.commDtype;
    let header: Header;
    let payload: Uint8Array;
    const common = {
      type: 'partial' as const, collective: tag, round: this.nextRound[tag]++, count, weight: inputs.length, ranks: [...round.ranks],
      ...(round.step === undefined ? {} : { step: round.step }),
    };
    if (tag === 'params' && dtype !== 'f32' && this.codec.hasAnchor) {
      // The mean of this machine's workers, as a delta from the last global result: what crosses the slow link is 16-bit.
      payload = this.codec.deltaOf(dtype, weightedMeanOf(inputs, undefined, new Float32Array(count)));
      header = { ...common, dtype };
    } else {
      if (this.sums?.length !== count) this.sums = new Float64Array(count);
      const sums = sumOf(inputs, this.sums);
      payload = new Uint8Array(sums.buffer, sums.byteOffset, sums.byteLength);
      header = { ...common, dtype: 'f64' };
    }
    return this.request(tag, common.round, header, payload);
  }

  broadcast(_workersRound: number, data: Float32Array | undefined, ranks: readonly number[]): Promise<UpstreamResult> {
    const round = this.nextRound.broadcast++;
    const payload = data ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(0);
    const header: Header = { type: 'partial', collective: 'broadcast', round, count: data?.length ?? 0, dtype: 'f32', weight: ranks.length, ranks: [...ranks] };
    // The machine holding the source gets nothing back: its data is the result.
    return this.request('broadcast', round, header, payload).then((r) => (data ? { result: data, members: r.members } : r));
  }

  private request(collective: CollectiveKind, round: number, header: Header, payload: Uint8Array): Promise<UpstreamResult> {
    if (this.ended) return Promise.reject(new MasterGoneError(`${this.master}: the link is closed`));
    if (this.pending) throw new Error(`internal: ${collective} round ${round} while ${this.pending.collective} round ${this.pending.round} waits`);
    return new Promise<UpstreamResult>((resolve, reject) => {
      this.pending = { collective, round, resolve, reject };
      void this.connection.send(header, payload);
    });
  }

  /**
   * Whole frames this machine sent to the master and received from it (heartbeats excepted), and
   * the step of each parameter round that crossed machines.
   */
  get stats(): { bytesSent: number; bytesReceived: number; parameterRoundSteps: number[] } {
    return { bytesSent: this.connection.bytesSent, bytesReceived: this.connection.bytesReceived, parameterRoundSteps: [...this.parameterRoundSteps] };
  }

  /** Once, when the first worker describes itself: for the master's line about this machine. */
  sayAdapter(adapter: string): void {
    if (!this.ended && this.connection.open) void this.connection.send({ type: 'node-adapter', adapter: adapter.slice(0, 512) });
  }

  /** This machine's workers all finished: say so and close. */
  async finish(): Promise<void> {
    await this.end({ type: 'node-done' });
  }

  /** This machine's run failed (or was interrupted): tell the master why, so it stops the others, and close. */
  async fail(message: string): Promise<void> {
    await this.end({ type: 'node-failed', message: message.slice(0, 64 * 1024) });
  }

  private async end(header: Header): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.stopTimers();
    if (this.connection.open) {
      await this.connection.send(header).catch(() => undefined);
      this.connection.end();
    }
    // Bounded: a master that never reads does not keep this machine's launcher alive.
    await Promise.race([this.connection.drained(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    this.connection.destroy();
  }

  private lose(error: MasterGoneError): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimers();
    this.connection.destroy();
    this.pending?.reject(error);
    this.pending = undefined;
    this.events?.onLost(error);
  }

  private stopTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.watchdog) clearInterval(this.watchdog);
  }
}
