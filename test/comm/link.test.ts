import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { launch } from '../../src/comm/launch.js';
import { parseBandwidth, parseDuration, SimulatedLink } from '../../src/comm/link.js';
import type { WorkerChannelStats } from '../../src/comm/worker-channel.js';
import { isAlive, pidCollector, within } from './fixtures/procs.js';

const test = suite('link');
const WORKER = fileURLToPath(new URL('./fixtures/worker.js', import.meta.url));

test('parseBandwidth reads decimal bit rates and off', () => {
  const cases: Array<[string, number]> = [
    ['10gbit', 1e10], ['1gbit', 1e9], ['100mbit', 1e8], ['1.5gbit', 1.5e9], ['500kbit', 5e5], ['off', Infinity], [' 2Gbit ', 2e9],
  ];
  for (const [text, bits] of cases) assert.is(parseBandwidth(text), bits, text);
});

test('parseBandwidth rejects values without a unit, zero, negatives and bytes, naming the value and giving examples', () => {
  for (const bad of ['10', '0gbit', '-1gbit', '10GB', 'fast', '', '1e3mbit']) {
    assert.throws(() => parseBandwidth(bad), (e: Error) => e.message.includes(`"${bad}"`) && e.message.includes('100mbit'), bad);
  }
});

test('parseDuration reads milliseconds, seconds, microseconds and a bare 0', () => {
  const cases: Array<[string, number]> = [['5ms', 5], ['0.2ms', 0.2], ['1s', 1000], ['0', 0], ['0ms', 0], ['250us', 0.25]];
  for (const [text, ms] of cases) assert.ok(Math.abs(parseDuration(text) - ms) < 1e-12, `${text} → ${parseDuration(text)}, expected ${ms}`);
});

test('parseDuration rejects values without a unit and negatives, naming the value and giving examples', () => {
  for (const bad of ['5', '-1ms', '5 minutes', 'soon', '']) {
    assert.throws(() => parseDuration(bad), (e: Error) => e.message.includes(`"${bad}"`) && e.message.includes("'5ms'"), bad);
  }
});

test('a link delays each message by latency + bytes·8/bandwidth and carries one at a time', async () => {
  // 1 MB at 400 Mbit/s occupies the wire 20 ms; latency 10 ms overlaps the next message's transmission.
  const link = new SimulatedLink({ latencyMs: 10, bandwidthBitsPerSec: 400e6 });
  const start = performance.now();
  const arrived: number[] = [];
  const all = new Promise<void>((resolve) => {
    for (let i = 0; i < 3; i++) link.send(1e6, () => {
      arrived.push(performance.now() - start);
      if (arrived.length === 3) resolve();
    });
  });
  await within(2000, all, 'three link deliveries');
  const expected = [30, 50, 70];
  for (let i = 0; i < 3; i++) {
    assert.ok(arrived[i]! >= expected[i]! - 2 && arrived[i]! < expected[i]! + 40, `message ${i} arrived at ${arrived[i]!.toFixed(1)} ms, expected ≈ ${expected[i]} ms`);
  }
  // One at a time is what the lower bounds above already prove: on a link carrying all three at once
  // each would arrive at ≈30 ms, below message 1's 48 and message 2's 68. The gap between two
  // deliveries is not a test of it: a timer that fires late (a loaded machine: message 0 at 34.5 ms,
  // message 1 on time at 49.9) narrows the gap without anything overlapping on the wire.
  assert.equal([...arrived].sort((a, b) => a - b), arrived, 'delivered in order');
});

test('a link that is off delivers at once, in order', () => {
  const link = new SimulatedLink({ latencyMs: 0, bandwidthBitsPerSec: Infinity });
  const order: number[] = [];
  for (let i = 0; i < 5; i++) link.send(1e9, () => order.push(i));
  assert.equal(order, [0, 1, 2, 3, 4]);
});

test('an averaging round of 1 MB over a simulated link takes at least the link time both ways', async () => {
  const count = 262_144; // 1 MiB of float32
  const link = { latencyMs: 15, bandwidthBitsPerSec: 400e6 };
  const oneWayMs = link.latencyMs + (count * 4 * 8 * 1000) / link.bandwidthBitsPerSec; // ≈ 36 ms
  const { pids, onLog } = pidCollector();
  const result = await within(15_000, launch({
    procs: 2, workerScript: WORKER, workerArgs: ['average', JSON.stringify({ count, rounds: 1 })], link, onLog, echoStderr: false,
  }), 'launch over a slow link');
  const stats = (result.summaries[1] as { stats: WorkerChannelStats }).stats;
  const ms = stats.lastRound!.commSeconds * 1000;
  assert.ok(ms >= 2 * oneWayMs - 2 && ms < 2 * oneWayMs + 300, `round took ${ms.toFixed(1)} ms, link alone ${(2 * oneWayMs).toFixed(1)} ms`);
  const coordinator = result.stats.lastRound!;
  assert.ok(coordinator.transferSeconds * 1000 >= 2 * oneWayMs - 2, `coordinator counted ${(coordinator.transferSeconds * 1000).toFixed(1)} ms of transfer`);
  assert.equal(pids.filter(isAlive), []);
});

test.run();
