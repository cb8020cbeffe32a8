// What the launcher echoes of its workers' stderr: every line, except driver notices known to be
// harmless (Dawn's lowered adapter limits), which only --verbose shows, once each. Every line, shown
// or not, stays in the worker's stderr tail for the error that would report its loss.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { isHarmlessDriverNotice } from '../../src/comm/worker-output.js';
import { runNode, runTrain } from '../helpers/processes.js';
import { SMALL_TASK } from '../helpers/train-run.js';

const test = suite('coordinator output');
const RELAY = fileURLToPath(new URL('./fixtures/output-relay.js', import.meta.url));

/** What lavapipe makes Dawn print in every process. */
const DAWN_NOTICES = [
  'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
  'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
];
const UNKNOWN_WARNING = 'Warning: maxBufferSize artificially reduced from 4294967296 to 268435456 by a driver we have not seen';
const ERROR_LINE = 'error: rank 1 could not open its data file';

/** Two workers that each print Dawn's notices, then rank 0 an unknown warning and rank 1 an error. */
async function relay(verbose: boolean): Promise<{ echoed: string[]; tails: string[][] }> {
  const lines = [[...DAWN_NOTICES, UNKNOWN_WARNING], [...DAWN_NOTICES, ERROR_LINE]];
  const r = await runNode(RELAY, [JSON.stringify({ verbose, lines })]);
  assert.is(r.code, 0, r.stderr);
  return { echoed: r.stderr.split('\n').filter(Boolean), tails: JSON.parse(r.stdout) as string[][] };
}

test('the list of harmless notices matches Dawn\'s two lines and not a look-alike', () => {
  for (const line of DAWN_NOTICES) assert.ok(isHarmlessDriverNotice(line), line);
  assert.not.ok(isHarmlessDriverNotice(UNKNOWN_WARNING));
  assert.not.ok(isHarmlessDriverNotice(`${DAWN_NOTICES[0]} and then something else`));
});

test('without verbose, Dawn\'s notices are not echoed; an unknown warning and an error are, with their rank', async () => {
  const { echoed, tails } = await relay(false);
  // The two workers run at once: their lines may interleave either way.
  assert.equal([...echoed].sort(), [`[rank 0] ${UNKNOWN_WARNING}`, `[rank 1] ${ERROR_LINE}`]);
  // Hidden is not forgotten: a lost worker's error report still shows everything it printed.
  assert.equal(tails, [[...DAWN_NOTICES, UNKNOWN_WARNING], [...DAWN_NOTICES, ERROR_LINE]]);
});

test('with verbose, each of Dawn\'s notices is echoed once (the first worker\'s copy), beside everything else', async () => {
  const { echoed, tails } = await relay(true);
  assert.equal(echoed.filter((l) => DAWN_NOTICES.some((n) => l.endsWith(n))).map((l) => l.replace(/^\[rank \d\] /, '')), DAWN_NOTICES);
  assert.ok(echoed.includes(`[rank 0] ${UNKNOWN_WARNING}`), echoed.join('\n'));
  assert.ok(echoed.includes(`[rank 1] ${ERROR_LINE}`), echoed.join('\n'));
  assert.is(echoed.length, DAWN_NOTICES.length + 2, echoed.join('\n'));
  assert.equal(tails, [[...DAWN_NOTICES, UNKNOWN_WARNING], [...DAWN_NOTICES, ERROR_LINE]]);
});

test('a healthy --quiet run of train.js with two workers prints nothing on stderr, and its summary on stdout', async () => {
  const r = await runTrain([...SMALL_TASK, '--procs', '2', '--max-steps', '4']);
  assert.is(r.code, 0, r.stderr);
  // Any line here is one users would learn to ignore: fix its cause, or list it as harmless with the reason.
  assert.is(r.stderr, '', `stderr of a healthy run:\n${r.stderr}`);
  assert.match(r.stdout, /test accuracy \d/);
});

test('with --verbose, the same run shows each driver notice its workers printed, once', async () => {
  const r = await runTrain([...SMALL_TASK, '--procs', '2', '--max-steps', '4', '--verbose']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  const notices = lines.map((l) => l.replace(/^\[rank \d+\] /, ''));
  assert.ok(notices.every(isHarmlessDriverNotice), `only driver notices on stderr:\n${r.stderr}`);
  assert.equal(notices, [...new Set(notices)], `each notice once:\n${r.stderr}`);
  // lavapipe, the driver this project is tested on, is the one that makes Dawn print them.
  if (/llvmpipe|lavapipe/.test(r.stdout)) assert.equal([...notices].sort(), [...DAWN_NOTICES].sort(), r.stderr);
  assert.match(r.stdout, /test accuracy \d/);
});

test.run();
