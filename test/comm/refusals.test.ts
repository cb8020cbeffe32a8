import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RefusalLog, type RefusalKind } from '../../src/comm/refusals.js';

const test = suite('refusal log');

const refusal = (kind: RefusalKind, n: number) => ({ kind, message: `connection #${n}: did ${kind}` });

test('the first refusal of each kind is printed in full, the rest are counted into one line', () => {
  const lines: string[] = [];
  const log = new RefusalLog((line) => lines.push(line), 60_000);
  log.add(refusal('silent', 1));
  for (let n = 2; n <= 300; n++) log.add(refusal('silent', n));
  log.add(refusal('proof', 301));
  log.add(refusal('proof', 302));
  log.add(refusal('not-hello', 303));
  assert.is(lines.length, 3, lines.join(''));
  assert.match(lines[0]!, /^coordinator: refused a connection before its handshake: connection #1: did silent; closed it \(the run is not affected; more like it are counted, not printed\)\n$/);
  assert.match(lines[1]!, /connection #301: did proof/);
  assert.match(lines[2]!, /connection #303: did not-hello/);
  log.close();
  assert.is(lines.length, 4);
  assert.is(lines[3], 'coordinator: refused 300 more connections before their handshake: 299 said nothing, 1 could not prove they belong to this run\n');
  log.close();
  assert.is(lines.length, 4, 'nothing more to say');
});

test('while refusals keep coming, the count is printed every interval, then starts again', async () => {
  const lines: string[] = [];
  const log = new RefusalLog((line) => lines.push(line), 100);
  log.add(refusal('partial', 1));
  log.add(refusal('partial', 2));
  log.add(refusal('partial', 3));
  assert.is(lines.length, 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.is(lines[1], 'coordinator: refused 2 more connections before their handshake: 2 sent part of a frame, then nothing\n');
  log.add(refusal('partial', 4));
  log.close();
  assert.is(lines[2], 'coordinator: refused 1 more connection before their handshake: 1 sent part of a frame, then nothing\n');
});

test.run();
