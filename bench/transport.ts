// Which way should tensors travel between processes, and what does a machine-to-machine carrier
// cost? Round trip (parent → forked child → parent) of 1, 4, 16 and 64 MiB with src/comm's
// FrameConnection framing over a Unix socket (coordinator ↔ worker today), over TCP on 127.0.0.1 and
// over TLS 1.3 on 127.0.0.1 (the carriers of issue 13's links between machines, the TLS peer verified
// against a certificate made at start), against fork()'s IPC channel with serialization 'advanced'.
// The child echoes what it received; both ends copy the payload once, as the real transport does.
// Run: node build.mjs && node dist/bench/transport.js [--quick]
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { COORDINATOR_SENDS, WORKER_SENDS, type Header } from '../src/comm/protocol.js';
import { socketStream } from '../src/comm/byte-stream.js';
import { FrameConnection } from '../src/comm/transport.js';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, formatBytes, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';
import { selfSignedCertificate, type SelfSignedCertificate } from './lib/self-signed-certificate.js';

const MiB = 1 << 20;
const LOOPBACK = '127.0.0.1';
/** The name the TLS client asks for and checks the certificate against (SNI takes no IP address). */
const TLS_SERVERNAME = 'localhost';
const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: '1 and 4 MiB, 3 round trips each: a few seconds' },
  { flag: '--out', kind: 'value', help: 'directory for transport.json and transport.md (default bench/results)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];
const flagSchema = z.object({ quick: z.boolean().default(false), out: z.string().min(1).default('bench/results'), help: z.boolean().default(false) });

/** The three carriers of FrameConnection's frames. */
type Carrier = 'unix' | 'tcp' | 'tls';
const METHODS = { unix: 'Unix socket', tcp: 'TCP 127.0.0.1', tls: 'TLS 1.3 127.0.0.1', ipc: "fork IPC 'advanced'" } as const;
type Method = (typeof METHODS)[keyof typeof METHODS];
interface Record { method: Method; bytes: number; roundTrips: number; medianMs: number; bestMs: number; gbPerSecond: number }
/** What the TLS link negotiated, as the server saw it. */
interface NegotiatedTls { protocol: string; cipher: string; certificate: string; verifiedBy: string }

const WARM_UP_MS = 500;
const WARM_UP_MIN_TRIPS = 5;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- child side: echo everything back ----

/** The child's end of a frame carrier: the parent listens, the child connects, as a worker does. */
async function connectChild(carrier: Carrier, address: string, caFile: string | undefined): Promise<Socket> {
  if (carrier === 'tls') {
    // The client checks the server's certificate against the throwaway CA and the name 'localhost'
    // (rejectUnauthorized is on by default), so the figure is what a verified link costs.
    const socket = tlsConnect({ host: LOOPBACK, port: Number(address), servername: TLS_SERVERNAME, ca: readFileSync(caFile!), minVersion: 'TLSv1.3' });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    if (!socket.authorized) throw new Error(`TLS child: the server's certificate was not verified (${String(socket.authorizationError)})`);
    return socket;
  }
  const socket = carrier === 'unix' ? connect(address) : connect({ host: LOOPBACK, port: Number(address) });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

async function childFrames(carrier: Carrier, address: string, caFile: string | undefined): Promise<void> {
  const socket = await connectChild(carrier, address, caFile).catch((e: Error) => {
    console.error(`${METHODS[carrier]} child: cannot connect to ${carrier === 'unix' ? address : `${LOOPBACK}:${address}`}: ${e.message}`);
    process.exit(1);
  });
  // The child plays the coordinator's part: it answers each 'allreduce' with a 'result'.
  const connection: FrameConnection = new FrameConnection(socketStream(socket), WORKER_SENDS, {
    onHeader: () => undefined,
    onFrame: (header, payload) => {
      if (header.type !== 'allreduce') return;
      void connection.send({ type: 'result', collective: 'params', round: header.round, count: header.count, reduceMs: 0, waitMs: 0 }, payload);
    },
    onError: (e) => {
      console.error(e.message);
      process.exit(1);
    },
    onClose: () => process.exit(0),
  });
}

function childIpc(): void {
  process.on('message', (message: { data: Uint8Array }) => process.send!({ data: message.data }));
  process.on('disconnect', () => process.exit(0));
}

// ---- parent side ----

interface Listener {
  /** What the child needs to connect: the socket path or the port, then the CA file for TLS. */
  childArgs: string[];
  accepted: Promise<Socket>;
  close(): void;
}

async function listen(carrier: Carrier, dir: string, certificate: SelfSignedCertificate): Promise<Listener> {
  let accept!: (socket: Socket) => void;
  let fail!: (error: Error) => void;
  const accepted = new Promise<Socket>((resolve, reject) => ((accept = resolve), (fail = reject)));
  const tlsServer = () =>
    createTlsServer({ key: certificate.key, cert: certificate.cert, minVersion: 'TLSv1.3' })
      .on('secureConnection', accept)
      .on('tlsClientError', (e) => fail(new Error(`${METHODS.tls}: the handshake failed on the server's side (${e.message}); the child's reason is above`)));
  const server = carrier === 'tls' ? tlsServer() : createServer(accept);
  server.on('error', fail);
  const address = carrier === 'unix' ? join(dir, 's') : undefined;
  await new Promise<void>((resolve) => (address ? server.listen(address, resolve) : server.listen(0, LOOPBACK, resolve)));
  const bound = server.address();
  const port = bound !== null && typeof bound === 'object' ? String(bound.port) : '';
  let childArgs = [address ?? port];
  if (carrier === 'tls') {
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, certificate.cert);
    childArgs = [port, caFile];
  }
  return { childArgs, accepted, close: () => server.close() };
}

async function measureFrames(carrier: Carrier, sizes: number[], reps: number, dir: string, certificate: SelfSignedCertificate): Promise<{ records: Record[]; tls?: NegotiatedTls }> {
  const method = METHODS[carrier];
  const listener = await listen(carrier, dir, certificate);
  const child = fork(fileURLToPath(import.meta.url), ['--child-frames', carrier, ...listener.childArgs], { stdio: 'inherit' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // A child that cannot connect (a refused certificate, say) must end the benchmark, not hang it.
  const socket = await Promise.race([
    listener.accepted,
    exited.then((code) => Promise.reject(new Error(`${method}: the child exited (code ${code}) before connecting; its message is above`))),
  ]);
  listener.close();
  let tls: NegotiatedTls | undefined;
  if (socket instanceof TLSSocket) {
    tls = { protocol: String(socket.getProtocol()), cipher: socket.getCipher().standardName, certificate: certificate.description, verifiedBy: `the client, against this certificate as its only CA, servername ${TLS_SERVERNAME}` };
    console.log(`tls: ${tls.protocol} ${tls.cipher}; ${tls.certificate}; verified by ${tls.verifiedBy}`);
  }
  let waiter: (() => void) | undefined;
  const connection = new FrameConnection(socketStream(socket), COORDINATOR_SENDS, {
    onHeader: () => undefined,
    onFrame: () => waiter?.(),
    onError: (e) => { throw e; },
    onClose: () => {},
  });
  const records = await timeRoundTrips(method, sizes, reps, (payload, round) => new Promise<void>((resolve) => {
    waiter = resolve;
    const header: Header = { type: 'allreduce', tag: 'params', round, count: payload.byteLength / 4 };
    void connection.send(header, payload);
  }));
  connection.destroy();
  await exited;
  return tls ? { records, tls } : { records };
}

async function measureIpc(sizes: number[], reps: number): Promise<Record[]> {
  const child = fork(fileURLToPath(import.meta.url), ['--child-ipc'], { stdio: 'inherit', serialization: 'advanced' });
  const records = await timeRoundTrips(METHODS.ipc, sizes, reps, (payload) => new Promise<void>((resolve) => {
    child.once('message', () => resolve());
    child.send({ data: payload });
  }));
  child.disconnect();
  await new Promise((resolve) => child.once('exit', resolve));
  return records;
}

/**
 * Times `reps` round trips at each size, after a warm-up. A fresh pair of processes and connection
 * runs its first few hundred milliseconds several times slower whatever the payload (measured here:
 * after one to three warm-up trips, the size measured first ran 17–60 ms a trip at 1 MiB on every
 * carrier, while 1 MiB measured after a 4 MiB run took 1.5–5 ms), so the warm-up lasts a time, not
 * a count; then one untimed trip per size lets both ends allocate and touch buffers of that size.
 */
async function timeRoundTrips(method: Method, sizes: number[], reps: number, roundTrip: (payload: Uint8Array, round: number) => Promise<void>): Promise<Record[]> {
  const warmUpPayload = new Uint8Array(sizes[0]!).fill(7);
  const warmUpStart = performance.now();
  let round = 0;
  while (round < WARM_UP_MIN_TRIPS || performance.now() - warmUpStart < WARM_UP_MS) await roundTrip(warmUpPayload, round++);
  const records: Record[] = [];
  for (const bytes of sizes) {
    const payload = new Uint8Array(bytes).fill(7);
    await roundTrip(payload, round++);
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await roundTrip(payload, round++);
      times.push(performance.now() - t);
    }
    records.push(record(method, bytes, times));
  }
  return records;
}

function record(method: Method, bytes: number, times: number[]): Record {
  const medianMs = median(times);
  // Bytes crossing the process boundary per round trip: there and back.
  return { method, bytes, roundTrips: times.length, medianMs, bestMs: Math.min(...times), gbPerSecond: (2 * bytes) / (medianMs / 1000) / 1e9 };
}

interface Report { benchmark: 'transport'; date: string; machine: MachineInfo; command: string; tls: NegotiatedTls; records: Record[] }

function markdown(report: Report): string {
  const sizes = [...new Set(report.records.map((r) => r.bytes))];
  const methods = Object.values(METHODS);
  const cell = (method: Method, bytes: number) => {
    const r = report.records.find((x) => x.method === method && x.bytes === bytes)!;
    return `${r.medianMs.toFixed(2)} ms (${r.gbPerSecond.toFixed(2)} GB/s)`;
  };
  const { tls } = report;
  return `Round trip parent → child → parent, median of ${report.records[0]!.roundTrips} after ${WARM_UP_MS} ms of warm-up per connection; GB/s counts both directions.\n` +
    `Unix socket, TCP and TLS carry src/comm's FrameConnection frames; TLS: ${tls.protocol} ${tls.cipher}, ${tls.certificate}, verified by ${tls.verifiedBy}.\n` +
    `${describeMachine(report.machine)}; \`${report.command}\`, ${report.date}\n\n` +
    markdownTable(['payload', ...methods], sizes.map((b) => [`${b / MiB} MiB`, ...methods.map((m) => cell(m, b))])) + '\n';
}

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/transport.js', 'Round-trip time and GB/s of tensors between processes: frames over a Unix socket, TCP and TLS 1.3 on loopback, vs fork IPC.', FLAG_SPECS));
    return;
  }
  const machine = machineInfo();
  console.log(`machine: ${describeMachine(machine)}`);
  const sizes = (flags.quick ? [1, 4] : [1, 4, 16, 64]).map((m) => m * MiB);
  const reps = flags.quick ? 3 : 9;
  console.log(`settings: ${flags.quick ? 'quick' : 'full'}, median of ${reps} round trips per size, after ${WARM_UP_MS} ms (at least ${WARM_UP_MIN_TRIPS} trips) of warm-up per connection and one untimed trip per size`);
  const certificate = selfSignedCertificate({ dnsNames: [TLS_SERVERNAME], ipAddresses: [LOOPBACK] });
  const dir = mkdtempSync(join(tmpdir(), 'transport-bench-'));
  const records: Record[] = [];
  let tls: NegotiatedTls | undefined;
  try {
    for (const carrier of ['unix', 'tcp', 'tls'] as const) {
      const measured = await measureFrames(carrier, sizes, reps, dir, certificate);
      records.push(...measured.records);
      tls ??= measured.tls;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  records.push(...(await measureIpc(sizes, reps)));
  for (const r of records) {
    console.log(`${r.method.padEnd(20)} ${formatBytes(r.bytes).padStart(9)}: median ${r.medianMs.toFixed(2).padStart(8)} ms, best ${r.bestMs.toFixed(2).padStart(8)} ms, ${r.gbPerSecond.toFixed(2)} GB/s`);
  }
  const report: Report = { benchmark: 'transport', date: new Date().toISOString(), machine, command: `node dist/bench/transport.js ${process.argv.slice(2).join(' ')}`.trim(), tls: tls!, records };
  mkdirSync(flags.out, { recursive: true });
  writeFileSync(join(flags.out, 'transport.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(flags.out, 'transport.md'), markdown(report));
  console.log(`wrote ${join(flags.out, 'transport.json')} and transport.md`);
}

if (process.argv[2] === '--child-frames') void childFrames(z.enum(['unix', 'tcp', 'tls']).parse(process.argv[3]), process.argv[4]!, process.argv[5]);
else if (process.argv[2] === '--child-ipc') childIpc();
else runMain(main);
