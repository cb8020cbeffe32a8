// The quick version of bench:multihost, end to end as users run it: two network namespaces at
// 100 Mbit/s, one train.js launcher in each, next to the one-machine simulator; the files it
// writes are well-formed and agree, and no namespace outlives it. Needs root (as the cluster tests).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../bench/multihost.js';
import { runNode } from '../helpers/processes.js';
import { svgProblems } from './well-formed.js';

const SCRIPT = fileURLToPath(new URL('../../bench/multihost.js', import.meta.url));
const test = suite('bench/multihost --quick (smoke test, real links between network namespaces)');
const out = mkdtempSync(join(tmpdir(), 'bench-multihost-test-'));

let result: Awaited<ReturnType<typeof runNode>>;
test.before(async () => {
  result = await runNode(SCRIPT, ['--quick', '--json', '--out', out]);
});

test('exits 0, prints the adapter and a line per run, and --json prints the same report it wrote', () => {
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stderr, /^adapter: \S/m);
  assert.is(result.stderr.match(/^\[ ?\d+\/4\] 100mbit (real link|simulated) /gm)?.length, 4, `a progress line per run:\n${result.stderr}`);
  assert.match(result.stderr, /load average at the end [\d.]+ [\d.]+ [\d.]+/);
  const printed = JSON.parse(result.stdout.trim()) as Report;
  const written = JSON.parse(readFileSync(join(out, 'multihost.json'), 'utf8')) as Report;
  assert.equal(printed, written);
});

test('no network namespace of the benchmark is left behind', () => {
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => /^mh\d+[mg]\d+\b/.test(l));
  assert.equal(left, [], `left behind: ${left.join(', ')}`);
});

test('every run is recorded: real runs with both machines\' link bytes, sync bit-for-bit the simulator\'s accuracy, and --cross-node-every 2 crossing the link every other round', () => {
  const report = JSON.parse(readFileSync(join(out, 'multihost.json'), 'utf8')) as Report;
  assert.is(report.benchmark, 'multihost');
  assert.ok(report.adapter.length > 0 && report.machine.cores > 0 && report.loadAverageAtEnd.length === 3);
  assert.equal(report.runs.map((r) => `${r.link}/${r.mode}/${r.setup}`), ['100mbit/sync/real', '100mbit/sync/sim', '100mbit/k4-m2/real', '100mbit/k4-m2/sim']);
  const target = report.settings.workload.target;
  for (const r of report.runs) {
    const where = `${r.setup} ${r.label}`;
    assert.is(r.steps, 16, where);
    assert.ok(r.testAccuracy > 0 && r.testAccuracy <= 1, `${where}: accuracy ${r.testAccuracy}`);
    assert.ok(r.trainSeconds > 0 && r.wallSeconds >= r.trainSeconds, `${where}: train ${r.trainSeconds} s within wall ${r.wallSeconds} s`);
    assert.is(r.evals.at(-1)!.step, 16, `${where}: the last evaluation is at the last step`);
    // The first evaluation at or over the target, as measured: none before it reached it.
    const first = r.evals.find((e) => e.accuracy >= target) ?? null;
    assert.equal(r.toTarget, first, `${where}: time to target is the first evaluation at or over ${target}`);
    assert.ok(r.linkBytes > 0 && r.shapedLinkBytes > 0 && r.shapedLinkBytes <= r.linkBytes, `${where}: bytes ${r.shapedLinkBytes} of ${r.linkBytes}`);
    assert.ok(r.linkSecondsPerRound > 0, `${where}: link model`);
  }
  const [syncReal, syncSim, kReal, kSim] = report.runs as [Report['runs'][number], Report['runs'][number], Report['runs'][number], Report['runs'][number]];
  for (const r of [syncReal, syncSim, kReal, kSim]) {
    assert.equal(r.machines.map((m) => m.nodeRank), [0, 1], `${r.label}: both machines' summaries`);
    assert.is(r.linkBytes, r.machines.reduce((s, m) => s + m.linkBytesSent + m.linkBytesReceived, 0), `${r.label}: link bytes sum over machines`);
    // Node 1 sends its 2 workers' float64 sum up (8 bytes a parameter) and receives the f32 mean (4): twice the
    // payload up; in this tiny model (421 parameters) frame headers and the join make it less than twice.
    const node1 = r.machines[1]!;
    assert.ok(node1.linkBytesSent > 1.2 * node1.linkBytesReceived && node1.linkBytesSent < 2.5 * node1.linkBytesReceived, `${r.label}: node 1 sent ${node1.linkBytesSent}, received ${node1.linkBytesReceived}`);
  }
  // The simulated machines run the real code over loopback: the same model, the same bytes on node 1's link.
  for (const [real, sim] of [[syncReal, syncSim], [kReal, kSim]] as const) {
    assert.is(sim.testAccuracy, real.testAccuracy, `${real.label}: real and simulated runs train the same model`);
    // Node 1's hello carries its process id, whose decimal length differs between processes (pids wrap
    // at pid_max: 32768 here, so 5 digits in one run and 3 in the next), hence a few bytes' slack up.
    const [simNode, realNode] = [sim.machines[1]!, real.machines[1]!];
    assert.equal({ ...simNode, linkBytesSent: 0 }, { ...realNode, linkBytesSent: 0 }, `${real.label}: node 1's link received the same bytes, real or simulated`);
    assert.ok(Math.abs(simNode.linkBytesSent - realNode.linkBytesSent) <= 6, `${real.label}: node 1's link sent ${realNode.linkBytesSent} bytes real, ${simNode.linkBytesSent} simulated`);
  }
  assert.is(syncReal.slowLinkRounds, 16);
  // K=4, M=2 over 16 steps: rounds 1..4, across machines at 2 and 4.
  assert.is(kReal.slowLinkRounds, 2);
  assert.is(kSim.slowLinkRounds, 2);
  assert.ok(kReal.shapedLinkBytes < syncReal.shapedLinkBytes / 6, `K=4, M=2 crossed ${kReal.shapedLinkBytes} bytes, sync ${syncReal.shapedLinkBytes}`);
  assert.ok(report.goals.length === 3 && report.goals.every((g) => typeof g.met === 'boolean'), 'the speed-up goal and one simulator goal per mode are checked');
});

test('the Markdown has a row per run and the goals, and links a well-formed figure', () => {
  const md = readFileSync(join(out, 'multihost.md'), 'utf8');
  assert.is(md.match(/^\| sync \| (real link|simulator) \|/gm)?.length, 2);
  assert.is(md.match(/^\| K=4, across machines every 2nd round \| (real link|simulator) \|/gm)?.length, 2);
  assert.match(md, /^## Goals$/m);
  const svgs = readdirSync(out).filter((f) => f.endsWith('.svg'));
  assert.equal(svgs, ['multihost.svg']);
  assert.ok(md.includes('](multihost.svg)'));
  const svg = readFileSync(join(out, 'multihost.svg'), 'utf8');
  assert.equal(svgProblems(svg), [], 'multihost.svg is well-formed');
  for (const name of ['real: sync', 'sim: sync', 'real: K=4, across machines every 2nd round', 'sim: K=4, across machines every 2nd round']) assert.ok(svg.includes(`>${name}<`), `legend has ${name}`);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();
