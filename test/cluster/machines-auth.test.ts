// Who may join a run across machines. While a real run of 2 machines × 2 workers trains (on
// loopback: the master's checks do not depend on the carrier), strangers throw everything at the
// master's port: a launcher with another token, a hello with a wrong proof, random bytes, a 1 GiB
// length prefix, half a prefix and then silence, a hello whose proof answers another connection's
// challenge (a replay), a second node 1, and a node 1 with another --batch-size. Each must be
// dropped within seconds and reported once, and the run must end as an undisturbed one does, to
// the bit. Without a token a run across machines must refuse to start; --insecure must warn.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { handshakeProof, HELLO_TIMEOUT_MS, newNonce } from '../../src/comm/handshake.js';
import { readJoinSecret } from '../../src/comm/join-token.js';
import { encodeHead, type Header } from '../../src/comm/protocol.js';
import { stranger, type Stranger } from '../comm/fixtures/strangers.js';
import { within } from '../comm/fixtures/procs.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { freePort, killMachines, machineTask, noWorkersLeft, startMachine, waitForLine, workerProcesses, writeToken } from '../helpers/machine-runs.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('who may join a run across machines');
const dir = tempDir();
// Long enough that the run is still training when the slowest stranger (half a prefix, 5 s) is dropped.
// (The worker timeout is long: nothing here is about silence, and a loaded machine must not fail the run.)
const STEPS = 96;
const task = machineTask(STEPS);
/** "Within seconds": generous, as this 2-core machine is often shared; half a prefix waits out the hello timeout first. */
const QUICK_MS = 4000;
const at = (port: number) => ['--master-addr', '127.0.0.1', '--master-port', String(port), '--worker-timeout', '60'];

/** Every line of `stderr` that reports on a stranger or a refused machine. */
const refusalLines = (stderr: string) => stderr.split('\n').filter((line) => /refused/.test(line));

test('without a join token train.js across machines exits 2 and says how to make one; --insecure trains but warns on every run', async () => {
  const port = await freePort();
  const none = await within(30_000, runTrain([...task, ...at(port), '--node-rank', '0'], { LOCALSGD_JOIN_TOKEN: '' }), 'train.js without a token');
  assert.is(none.code, 2, none.stderr);
  assert.match(none.stderr, /needs a join secret/);
  assert.match(none.stderr, /openssl rand -hex 32 > join\.token && chmod 600 join\.token/);
  assert.match(none.stderr, /--join-token-file/);

  for (const run of [1, 2]) {
    const p = await freePort();
    const args = [...machineTask(8), ...at(p), '--insecure'];
    const node1 = startMachine([...args, '--node-rank', '1'], { limitMs: 60_000 });
    const node0 = startMachine([...args, '--node-rank', '0'], { limitMs: 60_000 });
    const [r0, r1] = await Promise.all([node0.finished, node1.finished]);
    assert.is(r0.code, 0, r0.stderr);
    assert.is(r1.code, 0, r1.stderr);
    assert.match(r0.stderr, /warning: the master listens on 127\.0\.0\.1:\d+ WITHOUT a join secret \(--insecure\)/, `run ${run}: the master warns`);
    assert.match(r1.stderr, /warning: .*WITHOUT a join secret \(--insecure\)/, `run ${run}: node 1 warns too`);
  }
});

test('strangers at the master port are each dropped within seconds and reported once, and the run ends with the weights of an undisturbed one', async () => {
  const before = workerProcesses();
  const token = dir.file('join.token');
  writeToken(token);
  const otherToken = dir.file('other.token');
  writeToken(otherToken);
  const secret = readJoinSecret({ tokenFile: token, env: {} })!;

  // The undisturbed run.
  const quietPort = await freePort();
  const quiet = [...task, ...at(quietPort), '--join-token-file', token];
  const q1 = startMachine([...quiet, '--node-rank', '1']);
  const q0 = startMachine([...quiet, '--node-rank', '0', '--save', dir.file('quiet.safetensors')]);
  const [rq0, rq1] = await Promise.all([q0.finished, q1.finished]);
  assert.is(rq0.code, 0, rq0.stderr);
  assert.is(rq1.code, 0, rq1.stderr);
  assert.equal(refusalLines(rq0.stderr), [], 'an undisturbed run refuses nobody');

  // The disturbed one: the same flags on another port.
  const port = await freePort();
  const args = [...task, ...at(port), '--join-token-file', token];
  const node0 = startMachine([...args, '--node-rank', '0', '--save', dir.file('disturbed.safetensors')]);
  await waitForLine(node0, /master: listening on port/, 30_000, 'the master to listen');

  // While node 0 waits for node 1 (the master is up, the run under way; the strangers' timing is
  // ours, not the training's): strangers, and launchers that may not join.
  const endpoint = { host: '127.0.0.1', port };
  const hello = (proofFor: string, key: Uint8Array): Header => ({
    type: 'node-hello', node: 1, pid: process.pid, nonce: newNonce(), proof: handshakeProof(key, 'node', proofFor, 1),
  });
  // The right token, but the proof answers another connection's challenge: what replaying a recorded hello would send.
  const replay = async (s: Stranger) => {
    const other = stranger(endpoint);
    const otherChallenge = await within(QUICK_MS, other.challenge, 'the second connection\'s challenge');
    other.socket.destroy();
    s.socket.write(encodeHead(hello(otherChallenge, secret), 0));
  };
  const strangers: Array<{ name: string; act: (s: Stranger) => Promise<void> | void; withinMs: number }> = [
    { name: 'a node-hello with a wrong proof', withinMs: QUICK_MS, act: async (s) => void s.socket.write(encodeHead(hello(await s.challenge, randomBytes(32)), 0)) },
    { name: 'random bytes', withinMs: QUICK_MS, act: (s) => void s.socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x7f]), randomBytes(4092)])) },
    {
      name: 'a frame announcing 1 GiB', withinMs: QUICK_MS,
      act: (s) => {
        const prefix = Buffer.alloc(8);
        prefix.writeUInt32LE(200, 0);
        prefix.writeUInt32LE(1 << 30, 4);
        s.socket.write(prefix);
      },
    },
    { name: 'half a length prefix, then silence', withinMs: HELLO_TIMEOUT_MS + QUICK_MS, act: (s) => void s.socket.write(Buffer.from([0x40, 0, 0, 0])) },
    { name: 'a replayed hello', withinMs: QUICK_MS, act: replay },
  ];
  const dropped = (list: typeof strangers) => Promise.all(list.map(async ({ name, act, withinMs }) => {
    const s = stranger(endpoint);
    await within(QUICK_MS, s.challenge, `${name}: the master's challenge`);
    const start = performance.now();
    await act(s);
    const closedAt = await within(withinMs + 2000, s.closed, `${name}: the master to drop it`);
    assert.ok(closedAt - start < withinMs, `${name}: dropped after ${(closedAt - start).toFixed(0)} ms (limit ${withinMs})`);
  }));
  // A refused launcher must not wait out the default 300 s rendezvous if something goes wrong.
  const impatient = ['--rendezvous-timeout', '20'];
  const wrongToken = startMachine([...task, ...at(port), ...impatient, '--join-token-file', otherToken, '--node-rank', '1'], { limitMs: 30_000 });
  await dropped(strangers);
  const wrong = await wrongToken.finished;
  assert.ok(wrong.code !== 0 && wrong.code !== null, `a node with another token exits non-zero (got ${wrong.code}):\n${wrong.stderr}`);
  assert.match(wrong.stderr, /could not join the master \(node 0 at 127\.0\.0\.1:\d+\)/);
  assert.match(wrong.stderr, /join token is not the run's/);
  // A node 1 whose settings differ is refused, and its seat stays free for the real one.
  const batch = task.indexOf('--batch-size');
  const otherBatch = [...task.slice(0, batch), '--batch-size', '32', ...task.slice(batch + 2), ...at(port), ...impatient, '--join-token-file', token];
  const wrongBatch = await startMachine([...otherBatch, '--node-rank', '1'], { limitMs: 30_000 }).finished;
  assert.ok(wrongBatch.code !== 0 && wrongBatch.code !== null, `a node 1 with --batch-size 32 exits non-zero (got ${wrongBatch.code}):\n${wrongBatch.stderr}`);
  assert.match(wrongBatch.stderr, /--batch-size is 32 but the master's is 16/);

  // Once node 1 has joined (its workers start; the run trains): a second node 1, and another replay.
  const node1 = startMachine([...args, '--node-rank', '1']);
  await waitForLine(node0, /node 1 \(127\.0\.0\.1, host [^)]+\) joined/, 30_000, 'node 1 to join');
  const duplicate = startMachine([...args, ...impatient, '--node-rank', '1'], { limitMs: 30_000 });
  await dropped([{ name: 'a replayed hello while the run trains', withinMs: QUICK_MS, act: replay }]);
  const dup = await duplicate.finished;
  assert.ok(dup.code !== 0 && dup.code !== null, `a second node 1 exits non-zero (got ${dup.code}):\n${dup.stderr}`);
  assert.match(dup.stderr, /says it is node 1, which already joined from 127\.0\.0\.1/);

  const [r0, r1] = await Promise.all([node0.finished, node1.finished]);
  assert.is(r0.code, 0, r0.stderr);
  assert.is(r1.code, 0, r1.stderr);
  // The run was never left: it made no note of a lost machine, and ran to its last step.
  assert.not.match(r0.stderr, /lost|left before|stopped/);
  assertBitwiseEqual(readWeights(dir.file('disturbed.safetensors')).all, readWeights(dir.file('quiet.safetensors')).all, 'weights after the strangers equal the undisturbed run\'s');

  // Reported once each: the first of each kind in full, the rest counted in summary lines.
  const lines = refusalLines(r0.stderr);
  const shown = `\n${lines.join('\n')}`;
  const full = (pattern: RegExp) => lines.filter((line) => pattern.test(line)).length;
  assert.is(full(/its --batch-size is 32 but the master's is 16/), 1, `the other --batch-size, once:${shown}`);
  assert.is(full(/says it is node 1, which already joined/), 1, `the second node 1, once:${shown}`);
  assert.is(full(/carried a wrong proof/), 1, `one wrong proof in full:${shown}`);
  assert.is(full(/frame header length 2147483647 is outside 1\.\.4096|frame payload length 1073741824 exceeds 0/), 1, `random bytes or 1 GiB (whichever came first) in full:${shown}`);
  assert.is(full(/sent part of a frame, then nothing more/), 1, `half a prefix, once:${shown}`);
  assert.is(full(/hung up without a hello/), 1, `the replays' second connections, once:${shown}`);
  const counted = (what: string) => lines.reduce((n, line) => n + Number(new RegExp(`before their handshake: .*?(\\d+) ${what}`).exec(line)?.[1] ?? 0), 0);
  // Four wrong proofs (another token's launcher, a stranger's, two replays), two malformed first frames, two hang-ups.
  assert.is(counted('could not prove they belong to this run'), 3, `three more wrong proofs counted:${shown}`);
  assert.is(counted('sent something other than a valid hello'), 1, `the other malformed first frame counted:${shown}`);
  assert.is(counted('hung up before their hello'), 1, `the second hang-up counted:${shown}`);
  assert.is(lines.filter((line) => !/refused \d+ more/.test(line)).length, 6, `nothing else refused, nothing reported twice:${shown}`);
  await noWorkersLeft([q0, q1, node0, node1], before);
});

test.after.each(killMachines);
test.after(async () => {
  await killMachines();
  dir.remove();
});
test.run();
