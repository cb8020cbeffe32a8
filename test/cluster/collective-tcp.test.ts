// The collective server over real TCP between "machines": the server in the root namespace on its
// bridge address, each worker a process in a network namespace of its own, every link limited by
// the kernel (test/helpers/netns.ts). The rounds must give the float64 mean bit for bit and take as
// long as the link says; a link cut must end in the server's silence report, as a dead machine would,
// and in the cut-off worker's exit, since it no longer hears the server's heartbeats.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { CollectiveServer, type RoundComplete, type ServerEvents, type SilenceReport } from '../../src/comm/collective-server.js';
import { insecureSecret, JOIN_TOKEN_ENV, readJoinSecret } from '../../src/comm/join-token.js';
import { WorkerChannel } from '../../src/comm/worker-channel.js';
import type { Refusal } from '../../src/comm/refusals.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { meanRef } from '../helpers/reference.js';
import { withNamespaces, type Namespace } from '../helpers/netns.js';
import { BASE_SEED } from '../helpers/random.js';
import { inputFor } from '../comm/fixtures/inputs.js';
import { waitUntil, within } from '../comm/fixtures/procs.js';

const test = suite('collective server over real TCP between network namespaces');
const WORKER = fileURLToPath(new URL('./fixtures/tcp-worker.js', import.meta.url));

class Recorder implements ServerEvents {
  rounds: RoundComplete[] = [];
  silences: Array<SilenceReport & { at: number }> = [];
  fatal: Error[] = [];
  refused: Refusal[] = [];
  onLog(): void {}
  onDone(): void {}
  onWorkerError(): void {}
  onRoundComplete(round: RoundComplete): void { this.rounds.push({ ...round, averaged: round.averaged.slice() }); }
  onSilent(report: SilenceReport): void { this.silences.push({ ...report, at: performance.now() }); }
  onFatal(error: Error): void { this.fatal.push(error); }
  onRefused(refusal: Refusal): void { this.refused.push(refusal); }
}

/** Every JSON line `child` prints, as it arrives. */
function records(child: ChildProcess): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let buffered = '';
  child.stdout!.on('data', (d) => {
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) out.push(JSON.parse(line) as Record<string, unknown>);
  });
  return out;
}

const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const RATE = '100mbit';
const RATE_BITS = 100e6;
const COUNT = 1 << 20; // 4 MiB of float32 per worker, each way: 0.34 s at 100 Mbit/s
const ROUNDS = 4;
const TIMEOUT_MS = 4000;
const seed = BASE_SEED + 13;

test(`two workers in their own namespaces average 4 MiB over TCP limited to ${RATE}: the float64 mean bit for bit, rounds as slow as the link, a cut link reported silent by the server, ended by the cut-off worker, and not waited on by a new connection`, async () => {
  await withNamespaces(2, RATE, async (cluster) => {
    const dir = mkdtempSync(join(tmpdir(), 'collective-tcp-'));
    const token = randomBytes(32).toString('hex');
    const tokenFile = join(dir, 'join.token');
    writeFileSync(tokenFile, `${token}\n`);
    chmodSync(tokenFile, 0o600);
    const events = new Recorder();
    // The bridge address is not loopback: without the token's secret this listen would be refused.
    const server = new CollectiveServer({ worldSize: 2, timeoutMs: TIMEOUT_MS, secret: readJoinSecret({ tokenFile, env: {} }) }, events);
    try {
      await server.listen({ host: cluster.hostAddress, port: 0 });
      const { port } = server.address as { port: number };
      const workers = (cluster.namespaces as [Namespace, Namespace]).map((ns, rank) => {
        const node = cluster.startNode(ns, WORKER, [cluster.hostAddress, String(port), String(rank), String(ROUNDS), String(COUNT), String(seed)], { [JOIN_TOKEN_ENV]: token });
        return { ns, ...node, records: records(node.child) };
      });
      const output = () => workers.map((w) => `${w.ns.name}: ${JSON.stringify(w.records)}`).join('\n');
      const finished = await waitUntil(() => workers.every((w) => w.records.some((r) => 'finished' in r || 'error' in r)), 120_000);
      assert.ok(finished, `both workers to finish ${ROUNDS} rounds within 120 s:\n${output()}`);
      assert.equal(events.fatal, [], `no fatal error:\n${output()}`);
      assert.equal(events.refused, [], 'no refused connection');

      // Bit for bit: what each worker got, and what the server averaged.
      for (let round = 0; round < ROUNDS; round++) {
        const expected = meanRef([0, 1].map((rank) => inputFor(seed, rank, round, COUNT)));
        assertBitwiseEqual(events.rounds[round]!.averaged, expected, `round ${round}'s average at the server (TEST_SEED=${BASE_SEED})`);
        for (const w of workers) assert.is(w.records.find((r) => r.round === round)?.digest, digest(expected), `${w.ns.name}'s round ${round} result`);
      }

      // Each round moves 4 MiB up each worker's link, then 4 MiB down, one after the other; tbf counts
      // whole Ethernet frames, so TCP's payload gets ~96 % of the rate. The first round waits for
      // the workers to start, so the later ones are measured.
      const linkSeconds = (2 * COUNT * 4 * 8) / RATE_BITS;
      const measured = workers.map((w) => median(w.records.filter((r) => typeof r.round === 'number' && r.round > 0).map((r) => r.seconds as number)));
      console.log(`  ${RATE}, ${COUNT * 4 / 2 ** 20} MiB each way: round ${measured.map((s) => `${s.toFixed(3)} s`).join(' / ')} (median per worker); the link alone: ${linkSeconds.toFixed(3)} s`);
      for (const [rank, seconds] of measured.entries()) {
        // Never faster than the link (an unlimited veth would take ~0.02 s); a loaded 2-core machine may be slower.
        assert.ok(seconds > 0.9 * linkSeconds && seconds < 4 * linkSeconds,
          `rank ${rank}'s round took ${seconds.toFixed(3)} s; ${RATE} allows no less than ${linkSeconds.toFixed(3)} s (expected 0.9–4×)`);
      }

      // A dead link: the workers idle, beating; rank 1's link goes down, so its heartbeats stop.
      const cutAt = performance.now();
      cluster.cutLink(workers[1]!.ns);
      const reported = await waitUntil(() => events.silences.some((s) => s.at > cutAt && s.kind === 'silent'), TIMEOUT_MS + 5000);
      const afterCut = events.silences.filter((s) => s.at > cutAt);
      assert.ok(reported, `a silence report within ${TIMEOUT_MS + 5000} ms of the cut (got ${JSON.stringify(afterCut)})`);
      const report = afterCut.find((s) => s.kind === 'silent')!;
      const seconds = (report.at - cutAt) / 1000;
      console.log(`  ${workers[1]!.ns.name}'s link cut: reported silent after ${seconds.toFixed(1)} s (timeout ${TIMEOUT_MS / 1000} s): ${report.ranks[0]!.lastHeard}`);
      assert.equal(report.ranks.map((r) => r.rank), [1], 'only the cut worker is silent');
      // Its last heartbeat came at most a heartbeat interval (TIMEOUT_MS / 4) before the cut.
      assert.ok(seconds > (0.75 * TIMEOUT_MS) / 1000 - 0.1, `reported ${seconds.toFixed(1)} s after the cut: before the timeout could have passed`);

      // The cut-off worker hears no more server heartbeats either: it exits non-zero, naming the
      // coordinator's address and the silence, rather than waiting forever (as it did before they existed).
      const cutOff = await within(TIMEOUT_MS + 10_000, workers[1]!.done, `${workers[1]!.ns.name}'s worker to exit after the cut`);
      const exitSeconds = (performance.now() - cutAt) / 1000;
      console.log(`  ${workers[1]!.ns.name}'s worker exited ${exitSeconds.toFixed(1)} s after the cut (code ${cutOff.code}): ${cutOff.stderr.trim()}`);
      assert.is(cutOff.code, 1, `the cut-off worker exits 1: ${cutOff.stdout}${cutOff.stderr}`);
      assert.match(cutOff.stderr, new RegExp(
        `rank 1: the coordinator at ${cluster.hostAddress.replaceAll('.', '\\.')}:${port} sent nothing for \\d+\\.\\d s \\(heartbeats included; the limit is 4\\.0 s\\): it is gone or the link is cut`,
      ));
      assert.ok(exitSeconds > (0.75 * TIMEOUT_MS) / 1000 - 0.1, `exited ${exitSeconds.toFixed(1)} s after the cut: before the limit could have passed`);

      // Connecting to the machine behind the cut link: no SYN-ACK, no RST; the timeout ends the wait, naming the address.
      const unreachable = { host: workers[1]!.ns.address, port };
      const tried = performance.now();
      const refused = await within(10_000, WorkerChannel.connect(unreachable, 0, insecureSecret(), { timeoutMs: 1500 }).then(() => undefined, (e: Error) => e), 'connecting across the cut link');
      assert.ok(refused, 'no connection across a cut link');
      assert.match(refused.message, `rank 0 could not connect to the coordinator at ${unreachable.host}:${port} within 1.5 s: is the address right, and is that machine up and reachable?`);
      assert.ok(performance.now() - tried < 5000, 'given up on at the timeout');

      server.sendStop('the test is over');
      const first = await within(10_000, workers[0]!.done, `${workers[0]!.ns.name}'s worker to stop`);
      assert.is(first.code, 0, `the worker whose link stayed up stops when told: ${first.stdout}${first.stderr}`);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.run();
