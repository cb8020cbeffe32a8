// What does a browser tab's WebSocket cost an averaging round, against a worker's Unix socket?
// One 'params' all-reduce of two members, 1, 4 and 16 MiB each: two WorkerChannels on the
// collective server's Unix socket, against one WorkerChannel and one tab (MemberChannel.connectTab
// over a `ws` WebSocket through tab-endpoint.ts, on 127.0.0.1, in 256 KiB messages). Everything
// runs in this one process (server, members, both ends of the WebSocket), as in the tests, so the
// numbers compare carriers, not machines; a real page adds its browser's own WebSocket and copies.
// Run: node build.mjs && node dist/bench/tab-round.js [--quick]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { WEBSOCKET_CHUNK_BYTES, type WebSocketLike } from '../src/comm/byte-stream.js';
import { CollectiveServer, type ServerEvents } from '../src/comm/collective-server.js';
import { newSecret } from '../src/comm/handshake.js';
import { MemberChannel } from '../src/comm/member-channel.js';
import { attachTabEndpoint, DEFAULT_MAX_MESSAGE_BYTES } from '../src/comm/tab-endpoint.js';
import { WorkerChannel } from '../src/comm/worker-channel.js';
import { readFlags, runMain, usage, UsageError, type FlagSpec } from './lib/flags.js';
import { describeMachine, machineInfo, markdownTable, type MachineInfo } from './lib/report.js';

const MiB = 1 << 20;
const ORIGIN = 'http://127.0.0.1';
const FLAG_SPECS: FlagSpec[] = [
  { flag: '--quick', kind: 'boolean', help: '1 and 4 MiB, 5 rounds each: a few seconds' },
  { flag: '--out', kind: 'value', help: 'directory for tab-round.json and tab-round.md (default bench/results)' },
  { flag: '--help', kind: 'boolean', help: 'show this help' },
];
const flagSchema = z.object({ quick: z.boolean().default(false), out: z.string().min(1).default('bench/results'), help: z.boolean().default(false) });

const CARRIERS = { unix: 'two workers, Unix socket', tab: 'worker + tab, WebSocket' } as const;
type Carrier = keyof typeof CARRIERS;
interface Record { carrier: string; bytesPerMember: number; rounds: number; medianMs: number; bestMs: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(carrier: Carrier, sizes: number[], rounds: number): Promise<Record[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tab-round-bench-'));
  const secret = newSecret();
  const fatal: Error[] = [];
  const events: ServerEvents = {
    onLog() {}, onDone() {}, onWorkerError() {}, onRoundComplete() {}, onSilent() {}, onRefused: (r) => fatal.push(new Error(r.message)),
    onFatal: (e) => void fatal.push(e),
  };
  const server = new CollectiveServer({ worldSize: 2, timeoutMs: 60_000, secret, tabSeat: () => 1 }, events);
  await server.listen(join(dir, 'server.sock'));
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const endpoint = attachTabEndpoint(http, { path: '/collective', server, allowedOrigins: [ORIGIN] });
  const members: MemberChannel[] = [];
  try {
    members.push(await WorkerChannel.connect(join(dir, 'server.sock'), 0, secret));
    if (carrier === 'unix') members.push(await WorkerChannel.connect(join(dir, 'server.sock'), 1, secret));
    else {
      const socket = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/collective`, { origin: ORIGIN });
      members.push(await MemberChannel.connectTab(socket as unknown as WebSocketLike, secret, { adapter: 'bench', agent: 'node' }, { timeoutMs: 10_000 }));
    }
    const records: Record[] = [];
    for (const bytes of sizes) {
      const data = members.map((_, i) => new Float32Array(bytes / 4).fill(i));
      const round = () => Promise.all(members.map((m, i) => m.allReduceMean('params', data[i]!)));
      await round(); // untimed: buffers of this size are allocated on both sides
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t = performance.now();
        await round();
        times.push(performance.now() - t);
      }
      if (fatal.length > 0) throw fatal[0]!;
      records.push({ carrier: CARRIERS[carrier], bytesPerMember: bytes, rounds, medianMs: median(times), bestMs: Math.min(...times) });
    }
    return records;
  } finally {
    for (const m of members) m.close();
    endpoint.close();
    await server.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Report { benchmark: 'tab-round'; date: string; machine: MachineInfo; command: string; chunkBytes: number; maxMessageBytes: number; records: Record[] }

function markdown(report: Report): string {
  const sizes = [...new Set(report.records.map((r) => r.bytesPerMember))];
  const cell = (carrier: string, bytes: number) => {
    const r = report.records.find((x) => x.carrier === carrier && x.bytesPerMember === bytes)!;
    return `${r.medianMs.toFixed(2)} ms`;
  };
  return `One 'params' all-reduce of two members (parameters per member), median of ${report.records[0]!.rounds} rounds after one untimed; ` +
    `server, members and both WebSocket ends in one process; tab frames in ${report.chunkBytes / 1024} KiB messages (limit ${report.maxMessageBytes / MiB} MiB).\n` +
    `${describeMachine(report.machine)}; \`${report.command}\`, ${report.date}\n\n` +
    markdownTable(['parameters', ...Object.values(CARRIERS)], sizes.map((b) => [`${b / MiB} MiB`, ...Object.values(CARRIERS).map((c) => cell(c, b))])) + '\n';
}

async function main(): Promise<void> {
  const parsed = flagSchema.safeParse(readFlags(process.argv.slice(2), FLAG_SPECS));
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  const flags = parsed.data;
  if (flags.help) {
    console.log(usage('node dist/bench/tab-round.js', 'One averaging round of two members: a worker and a browser tab over WebSocket, against two workers over a Unix socket.', FLAG_SPECS));
    return;
  }
  const machine = machineInfo();
  console.log(`machine: ${describeMachine(machine)}`);
  const sizes = (flags.quick ? [1, 4] : [1, 4, 16]).map((m) => m * MiB);
  const rounds = flags.quick ? 5 : 15;
  console.log(`settings: ${flags.quick ? 'quick' : 'full'}, median of ${rounds} rounds per size after one untimed round`);
  const records: Record[] = [];
  for (const carrier of Object.keys(CARRIERS) as Carrier[]) records.push(...(await measure(carrier, sizes, rounds)));
  for (const r of records) {
    console.log(`${r.carrier.padEnd(26)} ${String(r.bytesPerMember / MiB).padStart(3)} MiB: median ${r.medianMs.toFixed(2).padStart(8)} ms, best ${r.bestMs.toFixed(2).padStart(8)} ms`);
  }
  const report: Report = {
    benchmark: 'tab-round', date: new Date().toISOString(), machine, command: `node dist/bench/tab-round.js ${process.argv.slice(2).join(' ')}`.trim(),
    chunkBytes: WEBSOCKET_CHUNK_BYTES, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, records,
  };
  mkdirSync(flags.out, { recursive: true });
  writeFileSync(join(flags.out, 'tab-round.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(flags.out, 'tab-round.md'), markdown(report));
  console.log(`wrote ${join(flags.out, 'tab-round.json')} and tab-round.md`);
}

runMain(main);
