// Two machines × two workers against one machine × four: the same seed, data and schedule must give
// the same final weights, bit for bit, in Local SGD, synchronous mode and with the outer optimizer;
// every machine must end holding the same last average; and --cross-node-every M must average
// across machines exactly at the rounds its rule names. The machines are launcher processes on
// this one, joined over TCP on loopback (machines-faults tests real rate-limited links).
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertBitwiseEqual, relativeError } from '../helpers/assert.js';
import { runMachines, summaryOf, writeToken } from '../helpers/machines.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';

const dir = tempDir();
const token = writeToken(dir.file('join.token'));
const BASE = [...SMALL_TASK, '--no-shuffle', '--max-steps', '24', '--seed', '3'];
const K4 = ['--local-sgd-steps', '4'];

const MODES: Array<{ name: string; flags: string[] }> = [
  { name: 'Local SGD', flags: K4 },
  { name: 'synchronous', flags: ['--no-local-sgd'] },
  { name: 'outer Nesterov (DiLoCo)', flags: [...K4, '--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9', '--optimizer', 'adamw', '--lr', '0.003'] },
  { name: 'post-local SGD warmup', flags: [...K4, '--local-sgd-warmup-steps', '6'] },
];

function expectSuccess(r: { code: number | null; stderr: string }, what: string): void {
  assert.is(r.code, 0, `${what} failed:\n${r.stderr}`);
}

for (const mode of MODES) {
  test(`${mode.name}: 2 machines × 2 workers end with the weights of 1 machine × 4, bit for bit`, async () => {
    const one = dir.file(`one-${mode.name}.safetensors`);
    const two = dir.file(`two-${mode.name}.safetensors`);
    expectSuccess(await runTrain([...BASE, ...mode.flags, '--procs', '4', '--save', one]), '1 × 4');
    const metrics = (node: number) => dir.file(`metrics-${mode.name}-${node}.jsonl`);
    const runs = await runMachines({
      nodes: 2, perNode: 2, token, args: [...BASE, ...mode.flags],
      nodeArgs: (node) => ['--metrics', metrics(node), ...(node === 0 ? ['--save', two] : [])],
    });
    runs.forEach((r, node) => expectSuccess(r, `node ${node}`));
    const a = readWeights(one);
    const b = readWeights(two);
    assert.equal([...b.byName.keys()], [...a.byName.keys()]);
    assertBitwiseEqual(b.all, a.all, `${mode.name}: 2×2 vs 1×4 final weights`);
    const summaries = [0, 1].map((node) => summaryOf(readFileSync(metrics(node), 'utf8')).machine as Record<string, unknown>);
    assert.ok(summaries.every((m) => m !== undefined), 'every machine records its link in the summary');
    if (!mode.flags.includes('--no-local-sgd')) {
      // Every worker of every machine wrote the last average's bytes: the machines hold the same.
      assert.type(summaries[0]!.finalParametersSha256, 'string');
      assert.is(summaries[1]!.finalParametersSha256, summaries[0]!.finalParametersSha256, 'both machines end with the same last average');
    }
    // One tensor per machine crosses each way per round, not one per worker.
    assert.ok((summaries[1]!.linkBytesSent as number) > 0);
  });
}

test('--comm-dtype bf16 across machines: 16-bit deltas between machines, every machine ends with the same weights, close to one machine\'s', async () => {
  const flags = [...BASE, ...K4, '--comm-dtype', 'bf16'];
  const one = dir.file('one-bf16.safetensors');
  const two = dir.file('two-bf16.safetensors');
  expectSuccess(await runTrain([...flags, '--procs', '4', '--save', one]), '1 × 4');
  const metrics = (dtype: string, node: number) => dir.file(`metrics-${dtype}-${node}.jsonl`);
  for (const dtype of ['bf16', 'f32']) {
    const runs = await runMachines({
      nodes: 2, perNode: 2, token, args: [...BASE, ...K4, ...(dtype === 'f32' ? [] : ['--comm-dtype', dtype])],
      nodeArgs: (node) => ['--metrics', metrics(dtype, node), ...(node === 0 && dtype === 'bf16' ? ['--save', two] : [])],
    });
    runs.forEach((r, node) => expectSuccess(r, `${dtype} node ${node}`));
  }
  const machine = (dtype: string, node: number) => summaryOf(readFileSync(metrics(dtype, node), 'utf8')).machine as Record<string, number | string>;
  assert.is(machine('bf16', 1).finalParametersSha256, machine('bf16', 0).finalParametersSha256, 'both machines end with the same last average');
  // The rounding falls at other points than on one machine (each machine's mean is rounded to a 16-bit
  // delta, not each worker's weights), so the weights agree to the size of a 16-bit step of the updates.
  const a = readWeights(one).all;
  const b = readWeights(two).all;
  assert.ok(relativeError(b, a) < 2e-3, `bf16 2×2 vs 1×4: relative difference ${relativeError(b, a)} (‖b − a‖ / ‖a‖)`);
  // After the first (f32) round, node 1 sends 2 bytes per parameter instead of an 8-byte float64 sum.
  const sent = (dtype: string) => machine(dtype, 1).linkBytesSent as number;
  assert.ok(sent('bf16') < 0.5 * sent('f32'), `bf16 sent ${sent('bf16')} bytes, f32 ${sent('f32')}`);
});

test('--cross-node-every 3: rounds 3, 6, 9, … and the last cross machines; the others stay within each', async () => {
  // K = 2 over 22 steps: rounds after steps 2, 4, …, 22 (11 rounds). Across machines: every 3rd
  // (after steps 6, 12, 18) and the last step's (22); the closing round adds none (no step since).
  const metrics = (node: number) => dir.file(`metrics-every3-${node}.jsonl`);
  const flags = [...SMALL_TASK, '--no-shuffle', '--max-steps', '22', '--local-sgd-steps', '2', '--cross-node-every', '3'];
  const runs = await runMachines({ nodes: 2, perNode: 2, token, args: flags, nodeArgs: (node) => ['--metrics', metrics(node)] });
  runs.forEach((r, node) => expectSuccess(r, `node ${node}`));
  for (const node of [0, 1]) {
    const summary = summaryOf(readFileSync(metrics(node), 'utf8'));
    const machine = summary.machine as { crossMachineSteps: number[] };
    assert.equal(machine.crossMachineSteps, [6, 12, 18, 22], `node ${node}'s cross-machine rounds`);
    assert.is(summary.parameterRounds, 11, `node ${node}: every round averages at least within the machine`);
  }
});

test('--cross-node-every 4 with a last step between rounds: the closing round crosses machines', async () => {
  // K = 3 over 20 steps: rounds after 3, 6, …, 18 (6 rounds; across: after 12) and a closing one after 20, across machines.
  const metrics = (node: number) => dir.file(`metrics-every4-${node}.jsonl`);
  const flags = [...SMALL_TASK, '--no-shuffle', '--max-steps', '20', '--local-sgd-steps', '3', '--cross-node-every', '4'];
  const runs = await runMachines({ nodes: 2, perNode: 2, token, args: flags, nodeArgs: (node) => ['--metrics', metrics(node)] });
  runs.forEach((r, node) => expectSuccess(r, `node ${node}`));
  const summaries = [0, 1].map((node) => summaryOf(readFileSync(metrics(node), 'utf8')));
  for (const s of summaries) assert.equal((s.machine as { crossMachineSteps: number[] }).crossMachineSteps, [12, 20]);
  assert.is((summaries[1]!.machine as Record<string, unknown>).finalParametersSha256, (summaries[0]!.machine as Record<string, unknown>).finalParametersSha256);
});

test.after(() => dir.remove());
test.run();
