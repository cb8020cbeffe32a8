// What the launcher echoes of its workers' stderr: everything, except that a notice Dawn prints
// identically in every process (lavapipe's lowered adapter limits) is shown once, not once per rank.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTrain } from '../helpers/processes.js';
import { SMALL_TASK } from '../helpers/train-run.js';

const test = suite('coordinator output');

test('an adapter notice repeated by every worker is echoed once; the run still prints its summary', async () => {
  const r = await runTrain([...SMALL_TASK, '--procs', '3', '--max-steps', '4']);
  assert.is(r.code, 0, r.stderr);
  const notices = r.stderr.split('\n').filter((l) => /artificially reduced/.test(l)).map((l) => l.replace(/^\[rank \d+\] /, ''));
  assert.equal(notices, [...new Set(notices)], `each notice once:\n${r.stderr}`);
  assert.match(r.stdout, /test accuracy \d/);
});

test.run();
