// A machine lost mid-run, across machines: a launcher killed (SIGKILL), the master killed, Ctrl-C on
// the master, a lost machine dropped with --on-worker-failure continue, and a link cut between
// network namespaces. Every surviving machine must stop (or, with continue, finish) within the
// worker timeout and say which machine it lost and where, and no worker process may outlive its run
// on either side.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { leftovers, withNamespaces } from '../helpers/netns.js';
import { freePort, killMachines, machineTask, noWorkersLeft, startMachine, waitForStep, workerProcesses, writeToken, type Machine } from '../helpers/machine-runs.js';
import { TRAIN_JS } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('a machine lost mid-run');
const dir = tempDir();
const token = dir.file('join.token');
writeToken(token);
/** Short, so a silent machine is noticed quickly; the bounds below allow for a loaded 2-core machine. */
const TIMEOUT_S = 6;
const SLACK_MS = 8000;
let runs = 0;

/** Both machines of a 2 × 2 run on loopback (node 1 first: it waits for the master); node 0 logs to a metrics file. */
async function startRun(options: { steps?: number; extra?: string[]; save?: string } = {}): Promise<{ node0: Machine; node1: Machine; metrics: string; port: number }> {
  const port = await freePort();
  const metrics = dir.file(`run${++runs}.jsonl`);
  const args = [
    ...machineTask(options.steps ?? 5000), '--master-addr', '127.0.0.1', '--master-port', String(port), '--join-token-file', token,
    '--worker-timeout', String(TIMEOUT_S), '--log-every', '4', ...(options.extra ?? []),
  ];
  const node1 = startMachine([...args, '--node-rank', '1']);
  const node0 = startMachine([...args, '--node-rank', '0', '--metrics', metrics, ...(options.save ? ['--save', options.save] : [])]);
  // Step 8 logged: the first averaging round (after step 4) crossed the machines.
  await waitForStep(metrics, 8, node0);
  return { node0, node1, metrics, port };
}

/** How long `machine` takes to exit from now, and how it ended. */
async function exitTime(machine: Machine): Promise<{ ms: number; code: number | null; stderr: string }> {
  const start = performance.now();
  const r = await machine.finished;
  return { ms: performance.now() - start, code: r.code, stderr: r.stderr };
}

test('node 1\'s launcher killed (SIGKILL): node 0 stops within the worker timeout naming node 1 and its address, and no worker of either machine is left', async () => {
  const before = workerProcesses();
  const { node0, node1 } = await startRun();
  assert.ok(node1.workers.size === 2, `node 1 forked its 2 workers (seen: ${[...node1.workers].join(', ')})`);
  node1.child.kill('SIGKILL');
  const r0 = await exitTime(node0);
  assert.ok(r0.code !== 0 && r0.code !== null, `node 0 exits non-zero (got ${r0.code}):\n${r0.stderr}`);
  assert.ok(r0.ms < TIMEOUT_S * 1000 + SLACK_MS, `node 0 stopped after ${r0.ms.toFixed(0)} ms`);
  assert.match(r0.stderr, /node 1 \(127\.0\.0\.1, host [^)]+\) closed its connection/, r0.stderr);
  await noWorkersLeft([node0, node1], before);
});

test('the master killed (SIGKILL): node 1 stops its workers and exits non-zero saying the master went away', async () => {
  const before = workerProcesses();
  const { node0, node1, port } = await startRun();
  node0.child.kill('SIGKILL');
  const r1 = await exitTime(node1);
  assert.ok(r1.code !== 0 && r1.code !== null, `node 1 exits non-zero (got ${r1.code}):\n${r1.stderr}`);
  assert.ok(r1.ms < TIMEOUT_S * 1000 + SLACK_MS, `node 1 stopped after ${r1.ms.toFixed(0)} ms`);
  assert.match(r1.stderr, new RegExp(`the master \\(node 0 at 127\\.0\\.0\\.1:${port}\\) went away`), r1.stderr);
  await noWorkersLeft([node0, node1], before);
});

test('Ctrl-C on the master with --save: it writes the last average, says so and exits 130; node 1 exits non-zero saying the master was interrupted', async () => {
  const before = workerProcesses();
  const save = dir.file('interrupted.safetensors');
  const { node0, node1 } = await startRun({ save });
  node0.child.kill('SIGINT');
  const [r0, r1] = await Promise.all([exitTime(node0), exitTime(node1)]);
  assert.is(r0.code, 130, r0.stderr);
  assert.match(r0.stderr, /interrupted: saved a whole-run checkpoint of averaging round \d+ \(step \d+\) to /);
  assert.ok(existsSync(save) && Number(readWeights(save).metadata.step) >= 4, 'the checkpoint holds an average');
  assert.ok(r1.code !== 0 && r1.code !== null, `node 1 exits non-zero (got ${r1.code}):\n${r1.stderr}`);
  assert.match(r1.stderr, /the master was interrupted \(SIGINT\)/);
  assert.ok(r1.ms < SLACK_MS, `node 1 stopped ${r1.ms.toFixed(0)} ms after the Ctrl-C`);
  await noWorkersLeft([node0, node1], before);
});

test('--on-worker-failure continue, node 1 killed: node 0 drops it, says so, and finishes with ranks 0 and 1', async () => {
  const before = workerProcesses();
  const { node0, node1 } = await startRun({ steps: 48, extra: ['--on-worker-failure', 'continue'] });
  node1.child.kill('SIGKILL');
  const r0 = await node0.finished;
  assert.is(r0.code, 0, r0.stderr);
  assert.match(r0.stderr, /node 1 \(127\.0\.0\.1, host [^)]+\) closed its connection .*; continuing with nodes 0 \(ranks 0, 1\)/);
  assert.match(r0.stdout, /done: 48 optimizer steps/);
  await noWorkersLeft([node0, node1], before);
});

test('node 1\'s link cut between network namespaces: both machines stop within the worker timeout, naming node 1 and the master, and exit non-zero; the namespaces are removed', async () => {
  const before = workerProcesses();
  let prefix = '';
  await withNamespaces(2, '1gbit', async (cluster) => {
    prefix = cluster.prefix;
    const [ns0, ns1] = cluster.namespaces as [typeof cluster.namespaces[0], typeof cluster.namespaces[0]];
    const port = 29500;
    const metrics = dir.file('netns.jsonl');
    const args = [
      ...machineTask(5000), '--master-addr', ns0.address, '--master-port', String(port), '--join-token-file', token,
      '--worker-timeout', String(TIMEOUT_S), '--log-every', '4',
    ];
    const node1 = startMachine([...args, '--node-rank', '1'], { start: (a) => cluster.startNode(ns1, TRAIN_JS, a) });
    const node0 = startMachine([...args, '--node-rank', '0', '--metrics', metrics], { start: (a) => cluster.startNode(ns0, TRAIN_JS, a) });
    await waitForStep(metrics, 8, node0);
    cluster.cutLink(ns1);
    const [r0, r1] = await Promise.all([exitTime(node0), exitTime(node1)]);
    assert.ok(r0.code !== 0 && r0.code !== null, `node 0 exits non-zero (got ${r0.code}):\n${r0.stderr}`);
    assert.ok(r1.code !== 0 && r1.code !== null, `node 1 exits non-zero (got ${r1.code}):\n${r1.stderr}`);
    assert.ok(r0.ms < TIMEOUT_S * 1000 + SLACK_MS, `node 0 stopped ${r0.ms.toFixed(0)} ms after the cut`);
    assert.ok(r1.ms < TIMEOUT_S * 1000 + SLACK_MS, `node 1 stopped ${r1.ms.toFixed(0)} ms after the cut`);
    assert.match(r0.stderr, new RegExp(`node 1 \\(${ns1.address.replaceAll('.', '\\.')}, host [^)]+\\) sent nothing, not even a heartbeat`), r0.stderr);
    assert.match(r1.stderr, new RegExp(`the master \\(node 0 at ${ns0.address.replaceAll('.', '\\.')}:${port}\\) sent nothing, not even a heartbeat`), r1.stderr);
    await noWorkersLeft([node0, node1], before);
  });
  assert.equal(leftoverNamespaces(prefix), [], 'the namespaces are gone');
});

function leftoverNamespaces(prefix: string): string[] {
  return prefix === '' ? ['(no cluster was made)'] : leftovers(prefix);
}

test.after.each(killMachines);
test.after(async () => {
  await killMachines();
  dir.remove();
});
test.run();
