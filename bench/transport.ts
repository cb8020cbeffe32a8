// Which way should tensors travel between the coordinator and a worker process? Round trip (parent →
// forked child → parent) of 1, 4, 16 and 64 MiB over src/comm's framed Unix socket, against fork()'s
// IPC channel with serialization 'advanced'. The child echoes what it received; both ends copy the
// payload once, as the real transport does. Run: node build.mjs && node dist/bench/transport.js [--quick]
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { COORDINATOR_SENDS, WORKER_SENDS, type Header } from '../src/comm/protocol.js';
import { FrameConnection } from '../src/comm/transport.js';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, formatBytes, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';

const MiB = 1 << 20;
const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: '1 and 4 MiB, 3 round trips each: a few seconds' },
  { flag: '--out', kind: 'value', help: 'directory for transport.json and transport.md (default bench/results)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];
const flagSchema = z.object({ quick: z.boolean().default(false), out: z.string().min(1).default('bench/results'), help: z.boolean().default(false) });

type Method = 'socket frames' | "fork IPC 'advanced'";
interface Record { method: Method; bytes: number; roundTrips: number; medianMs: number; bestMs: number; gbPerSecond: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- child side: echo everything back ----

async function childSocket(path: string): Promise<void> {
  const socket = connect(path);
  await new Promise((resolve) => socket.once('connect', resolve));
  // The child plays the coordinator's part: it answers each 'allreduce' with a 'result'.
  const connection: FrameConnection = new FrameConnection(socket, WORKER_SENDS, {
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

async function measureSocket(sizes: number[], reps: number): Promise<Record[]> {
  const dir = mkdtempSync(join(tmpdir(), 'transport-bench-'));
  const path = join(dir, 's');
  const accepted = new Promise<Socket>((resolve) => {
    const server = createServer((s) => {
      server.close();
      resolve(s);
    });
    server.listen(path);
  });
  const child = fork(fileURLToPath(import.meta.url), ['--child-socket', path], { stdio: 'inherit' });
  const socket = await accepted;
  let waiter: (() => void) | undefined;
  const connection = new FrameConnection(socket, COORDINATOR_SENDS, {
    onHeader: () => undefined,
    onFrame: () => waiter?.(),
    onError: (e) => { throw e; },
    onClose: () => {},
  });
  const records: Record[] = [];
  for (const bytes of sizes) {
    const payload = new Uint8Array(bytes).fill(7);
    const times: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const t = performance.now();
      await new Promise<void>((resolve) => {
        waiter = resolve;
        const header: Header = { type: 'allreduce', tag: 'params', round: r, count: bytes / 4 };
        void connection.send(header, payload);
      });
      if (r > 0) times.push(performance.now() - t); // the first trip warms up both ends
    }
    records.push(record('socket frames', bytes, times));
  }
  connection.destroy();
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
  return records;
}

async function measureIpc(sizes: number[], reps: number): Promise<Record[]> {
  const child = fork(fileURLToPath(import.meta.url), ['--child-ipc'], { stdio: 'inherit', serialization: 'advanced' });
  const records: Record[] = [];
  for (const bytes of sizes) {
    const payload = new Uint8Array(bytes).fill(7);
    const times: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const t = performance.now();
      await new Promise<void>((resolve) => {
        child.once('message', () => resolve());
        child.send({ data: payload });
      });
      if (r > 0) times.push(performance.now() - t);
    }
    records.push(record("fork IPC 'advanced'", bytes, times));
  }
  child.disconnect();
  await new Promise((resolve) => child.once('exit', resolve));
  return records;
}

function record(method: Method, bytes: number, times: number[]): Record {
  const medianMs = median(times);
  // Bytes crossing the process boundary per round trip: there and back.
  return { method, bytes, roundTrips: times.length, medianMs, bestMs: Math.min(...times), gbPerSecond: (2 * bytes) / (medianMs / 1000) / 1e9 };
}

interface Report { benchmark: 'transport'; date: string; machine: MachineInfo; command: string; records: Record[] }

function markdown(report: Report): string {
  const sizes = [...new Set(report.records.map((r) => r.bytes))];
  const cell = (method: Method, bytes: number) => {
    const r = report.records.find((x) => x.method === method && x.bytes === bytes)!;
    return `${r.medianMs.toFixed(2)} ms (${r.gbPerSecond.toFixed(2)} GB/s)`;
  };
  return `Round trip parent → child → parent, median of ${report.records[0]!.roundTrips}; GB/s counts both directions.\n` +
    `${describeMachine(report.machine)}; \`${report.command}\`, ${report.date}\n\n` +
    markdownTable(['payload', 'socket frames', "fork IPC 'advanced'"], sizes.map((b) => [`${b / MiB} MiB`, cell('socket frames', b), cell("fork IPC 'advanced'", b)])) + '\n';
}

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/transport.js', 'Round-trip time and GB/s of tensors between processes: socket frames vs fork IPC.', FLAG_SPECS));
    return;
  }
  const machine = machineInfo();
  console.log(`machine: ${describeMachine(machine)}`);
  const sizes = (flags.quick ? [1, 4] : [1, 4, 16, 64]).map((m) => m * MiB);
  const reps = flags.quick ? 3 : 9;
  console.log(`settings: ${flags.quick ? 'quick' : 'full'}, median of ${reps} round trips after one warm-up`);
  const records = [...(await measureSocket(sizes, reps)), ...(await measureIpc(sizes, reps))];
  for (const r of records) {
    console.log(`${r.method.padEnd(20)} ${formatBytes(r.bytes).padStart(9)}: median ${r.medianMs.toFixed(2).padStart(8)} ms, best ${r.bestMs.toFixed(2).padStart(8)} ms, ${r.gbPerSecond.toFixed(2)} GB/s`);
  }
  const report: Report = { benchmark: 'transport', date: new Date().toISOString(), machine, command: `node dist/bench/transport.js ${process.argv.slice(2).join(' ')}`.trim(), records };
  mkdirSync(flags.out, { recursive: true });
  writeFileSync(join(flags.out, 'transport.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(flags.out, 'transport.md'), markdown(report));
  console.log(`wrote ${join(flags.out, 'transport.json')} and transport.md`);
}

if (process.argv[2] === '--child-socket') void childSocket(process.argv[3]!);
else if (process.argv[2] === '--child-ipc') childIpc();
else runMain(main);
