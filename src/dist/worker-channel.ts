// The worker's end: connects to the coordinator's socket named in the environment and runs the
// collectives (all-reduce mean, broadcast) as request/reply exchanges.
import { connect } from 'node:net';
import type { LinkOptions } from './link.js';
import { payloadToFloat32, ProtocolError, type CollectiveTag, type Message } from './protocol.js';
import { FramedConnection } from './transport.js';

export const ENV = {
  socket: 'LOCALSGD_SOCKET',
  rank: 'LOCALSGD_RANK',
  worldSize: 'LOCALSGD_WORLD_SIZE',
  link: 'LOCALSGD_LINK',
} as const;

interface Waiting {
  key: string;
  into: Float32Array | undefined;
  resolve: (data: Float32Array) => void;
}

export class WorkerChannel {
  private readonly rounds = { params: 0, grads: 0, broadcast: 0 };
  private waiting: Waiting | undefined;
  private readonly stopHandlers: Array<() => void> = [];
  private commSeconds = 0;
  private completedRounds = 0;
  private closing = false;

  private constructor(readonly rank: number, readonly worldSize: number, private readonly connection: FramedConnection) {}

  /** Connects as the coordinator's environment says; undefined when not started by a coordinator. */
  static async fromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<WorkerChannel | undefined> {
    const path = env[ENV.socket];
    if (!path) return undefined;
    const rank = Number(env[ENV.rank]);
    const worldSize = Number(env[ENV.worldSize]);
    if (!Number.isInteger(rank) || !Number.isInteger(worldSize) || rank < 0 || rank >= worldSize) {
      throw new Error(`bad worker environment: ${ENV.rank}=${env[ENV.rank]} ${ENV.worldSize}=${env[ENV.worldSize]}`);
    }
    const link = env[ENV.link] ? (JSON.parse(env[ENV.link]!, (_, v) => (v === 'Infinity' ? Infinity : v)) as LinkOptions) : undefined;
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new Error(`worker ${rank} cannot reach the coordinator at ${path}: ${e.message}`)));
    });
    let channel!: WorkerChannel;
    const connection = new FramedConnection(socket, 'the coordinator', (m, p) => channel.onMessage(m, p), (e) => channel.onFailure(e), link);
    channel = new WorkerChannel(rank, worldSize, connection);
    socket.on('close', () => channel.onFailure(new Error('the coordinator closed the connection')));
    // Lifeline: the IPC channel from fork() closes when the coordinator dies, however it dies.
    process.on('disconnect', () => process.exit(1));
    connection.send({ type: 'hello', rank, worldSize });
    return channel;
  }

  /** Element-wise mean over all workers; resolves with the mean, written into `data`. */
  allReduceMean(tag: CollectiveTag, data: Float32Array): Promise<Float32Array> {
    const round = ++this.rounds[tag];
    return this.exchange(`${tag}:${round}`, data, () =>
      this.connection.send({ type: 'allreduce', tag, round, count: data.length }, bytesOf(data)));
  }

  /** Rank 0's data, on every rank. Rank 0 passes its data, the others undefined. */
  broadcast(data: Float32Array | undefined): Promise<Float32Array> {
    if ((this.rank === 0) !== (data !== undefined)) throw new Error(`broadcast: rank 0 (and only rank 0) passes data; this is rank ${this.rank}`);
    const round = ++this.rounds.broadcast;
    return this.exchange(`broadcast:${round}`, data, () =>
      this.connection.send({ type: 'broadcast', round, count: data?.length ?? 0 }, data && bytesOf(data)));
  }

  log(record: unknown): void {
    this.connection.send({ type: 'log', record });
  }

  async done(summary: unknown): Promise<void> {
    this.connection.send({ type: 'done', summary });
    await this.drain();
  }

  async fail(error: Error): Promise<void> {
    this.connection.send({ type: 'error', message: error.message, ...(error.stack ? { stack: error.stack } : {}) });
    await this.drain();
  }

  onStop(handler: () => void): void {
    this.stopHandlers.push(handler);
  }

  stats(): { bytesSent: number; bytesReceived: number; commSeconds: number; rounds: number } {
    return { bytesSent: this.connection.bytesSent, bytesReceived: this.connection.bytesReceived, commSeconds: this.commSeconds, rounds: this.completedRounds };
  }

  close(): void {
    this.closing = true;
    this.connection.close();
  }

  private exchange(key: string, into: Float32Array | undefined, send: () => void): Promise<Float32Array> {
    if (this.waiting) throw new Error(`worker ${this.rank}: a collective (${this.waiting.key}) is still in flight`);
    const start = performance.now();
    return new Promise<Float32Array>((resolve) => {
      this.waiting = {
        key, into,
        resolve: (data) => {
          this.commSeconds += (performance.now() - start) / 1000;
          this.completedRounds++;
          resolve(data);
        },
      };
      send();
    });
  }

  private onMessage(message: Message, payload: Buffer): void {
    if (message.type === 'stop') {
      for (const h of this.stopHandlers) h();
      return;
    }
    if (message.type !== 'result') {
      this.onFailure(new ProtocolError(`worker ${this.rank} got an unexpected ${message.type} from the coordinator`));
      return;
    }
    const key = `${message.tag}:${message.round}`;
    const waiting = this.waiting;
    if (!waiting || waiting.key !== key) {
      this.onFailure(new ProtocolError(`worker ${this.rank} got result ${key} while waiting for ${waiting?.key ?? 'nothing'}`));
      return;
    }
    this.waiting = undefined;
    waiting.resolve(payloadToFloat32(payload, waiting.into));
  }

  /** A broken channel leaves a worker nothing to do: say why and exit; the coordinator reports it. */
  private onFailure(error: Error): void {
    if (this.closing) return;
    this.closing = true;
    process.stderr.write(`worker ${this.rank}: ${error.message}\n`);
    process.exit(1);
  }

  /** Waits until everything written so far has left this process. */
  private drain(): Promise<void> {
    return this.connection.flushed();
  }
}

function bytesOf(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
