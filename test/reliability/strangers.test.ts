// A real run of dist/train.js with strangers on its socket: processes that did not start it cannot
// change it. Before the handshake, a connection could claim rank 0, abort the run with garbage, or
// (silent) keep the coordinator from exiting; now each is closed and reported, and the run ends as
// it would have, on time, exit 0, with bit-identical weights.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SOCKET_PATH_FILE_ENV } from '../../src/train/debug-hooks.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { isAlive as isRunning, within } from '../comm/fixtures/procs.js';
import { stranger, STRANGERS } from '../comm/fixtures/strangers.js';
import { childPids, runTrain, startTrain, waitFor } from '../helpers/processes.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('strangers on a real run\'s socket');
const dir = tempDir();
const RUN = [...SMALL_TASK, '--procs', '2', '--max-steps', '40', '--local-sgd-steps', '4', '--no-shuffle', '--seed', '3'];
const IDLE = 300;

test(`a run with ${STRANGERS.length} kinds of stranger and ${IDLE} idle connections on its socket ends on time, exit 0, with the same weights, each refusal told once`, async () => {
  const started = Date.now();
  const undisturbed = await runTrain([...RUN, '--save', dir.file('undisturbed.safetensors')]);
  const usualSeconds = (Date.now() - started) / 1000;
  assert.is(undisturbed.code, 0, undisturbed.stderr);

  const socketFile = dir.file('socket');
  const save = dir.file('with-strangers.safetensors');
  const run = startTrain([...RUN, '--save', save], { [SOCKET_PATH_FILE_ENV]: socketFile });
  const t0 = Date.now();
  const workers = new Set<number>();
  const poll = setInterval(() => childPids(run.child.pid!).forEach((pid) => workers.add(pid)), 100);
  const killer = setTimeout(() => run.child.kill('SIGKILL'), 180_000); // a hung coordinator fails the test, not the suite
  try {
    await waitFor(() => existsSync(socketFile) || run.child.exitCode !== null, 60_000, 'the coordinator to listen');
    const socket = readFileSync(socketFile, 'utf8');
    assert.ok(socket.endsWith('coordinator.sock'), `socket path ${JSON.stringify(socket)}`);
    // Attached at once, before the real workers (which start their GPU first) say hello: the
    // wrong-proof hello asks for rank 0 before rank 0's own worker does.
    const kinds = STRANGERS.map((kind) => ({ ...kind, connection: stranger(socket) }));
    const idle = Array.from({ length: IDLE }, () => stranger(socket));
    await Promise.all(kinds.map(({ connection, act }) => act(connection)));

    const r = await run.done;
    const seconds = (Date.now() - t0) / 1000;
    assert.is(r.code, 0, `exit ${r.code} ${r.signal ?? ''}:\n${r.stderr}`);
    assert.ok(seconds < usualSeconds + 10, `took ${seconds.toFixed(1)} s, the undisturbed run ${usualSeconds.toFixed(1)} s`);
    await within(5000, Promise.all([...kinds.map((k) => k.connection.closed), ...idle.map((s) => s.closed)]), 'every stranger to be closed by the coordinator');

    // The weights are those of the run without strangers, bit for bit.
    const expected = readWeights(dir.file('undisturbed.safetensors')).byName;
    for (const [name, values] of readWeights(save).byName) assertBitwiseEqual(values, expected.get(name)!, `${name} with strangers attached`);

    // Each refusal told once: the first of each kind in full, the rest in counts, all adding up.
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('coordinator: refused'));
    const inFull = lines.filter((l) => l.startsWith('coordinator: refused a connection'));
    const counted = lines.flatMap((l) => /^coordinator: refused (\d+) more connections?/.exec(l)?.[1] ?? []).reduce((sum, n) => sum + Number(n), 0);
    assert.is(inFull.length + counted, STRANGERS.length + IDLE, `every stranger reported exactly once:\n${lines.join('\n')}\nstdout:\n${r.stdout}`);
    assert.ok(lines.length <= 10, `${lines.length} lines for ${STRANGERS.length + IDLE} strangers:\n${lines.join('\n')}`);
    // The first of each kind in full (the silent ones are closed by their timeout or by the end of
    // the run, whichever comes first, so their kind varies).
    const told: Record<string, RegExp> = {
      'not-hello': /: it sent something other than a valid hello: |: its first frame was 'log'/,
      proof: /: its hello for rank 0 \(pid \d+\) carried a wrong proof: it does not hold this run's secret/,
      left: /: it hung up without a hello/,
      'silent or ended': /: it said nothing for 5\.0 s after connecting|: it had not completed its hello when the run ended/,
    };
    for (const [kind, message] of Object.entries(told)) assert.ok(inFull.some((l) => message.test(l)), `a ${kind} stranger told in full:\n${lines.join('\n')}`);
    assert.not.match(r.stderr, /^error:/m);

    assert.not.ok(existsSync(dirname(socket)), `socket directory ${dirname(socket)} left behind`);
    await waitFor(() => [...workers].every((pid) => !isRunning(pid)), 10_000, `workers ${[...workers].filter(isRunning).join(', ')} to be gone`);
    assert.is(workers.size, 2, 'two workers, and no more: no stranger was given a rank');
  } finally {
    clearInterval(poll);
    clearTimeout(killer);
  }
});

test.after(() => dir.remove());
test.run();
