import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const test = suite('tutorial example');
const TUTORIAL = fileURLToPath(new URL('../../examples/tutorial.js', import.meta.url));

test('the seed tutorial in TypeScript runs with LocalSGD across two worker processes and learns MNIST', () => {
  const r = spawnSync(process.execPath, [TUTORIAL, '--version', 'local-sgd', '--procs', '2'], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  const accuracy = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  assert.ok(accuracy >= 85, `accuracy after one epoch: ${accuracy}% (stdout: ${r.stdout})`);
});

test.run();
