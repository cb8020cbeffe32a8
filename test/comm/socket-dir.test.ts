import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { makeSocketDir, SOCKET_NAME, SOCKET_PATH_MAX_BYTES, socketPathBytes } from '../../src/comm/socket-dir.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('socket directory');
const base = tempDir();

/** A directory whose path is `length` characters long, made under the test's temp directory. */
function deepDirectory(length: number): string {
  let path = base.path;
  while (path.length < length) path = join(path, 'd'.repeat(Math.min(40, Math.max(1, length - path.length - 1))));
  mkdirSync(path, { recursive: true });
  return path;
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** Listens on the socket path for real: a path past sun_path would be truncated, and the socket would land elsewhere. */
async function listenAndList(path: string): Promise<string[]> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  const entries = readdirSync(dirname(path));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return entries;
}

test('under a short TMPDIR the socket goes in a fresh 0700 directory there, and remove() deletes it', async () => {
  const exitHooks = process.listenerCount('exit');
  const dir = makeSocketDir(base.path);
  assert.is(dirname(dir.dir), base.path);
  assert.is(dir.path, join(dir.dir, SOCKET_NAME));
  assert.is(mode(dir.dir), 0o700, 'only this user can reach the socket');
  assert.equal(await listenAndList(dir.path), [SOCKET_NAME], 'the socket is inside the private directory');
  assert.is(process.listenerCount('exit'), exitHooks + 1, 'an exit hook backs up remove()');
  dir.remove();
  dir.remove(); // twice is harmless
  assert.not.ok(existsSync(dir.dir));
  assert.is(process.listenerCount('exit'), exitHooks, 'remove() takes its exit hook away');
});

test('under a TMPDIR of 200 characters the socket path still fits: a private directory under /tmp, the socket inside it', async () => {
  const deep = deepDirectory(200);
  assert.ok(socketPathBytes(deep) > SOCKET_PATH_MAX_BYTES, 'the test\'s TMPDIR is too long for a socket path');
  const dir = makeSocketDir(deep);
  try {
    assert.is(dirname(dir.dir), '/tmp');
    assert.ok(Buffer.byteLength(dir.path) <= SOCKET_PATH_MAX_BYTES, `${dir.path} fits sun_path`);
    assert.is(mode(dir.dir), 0o700);
    assert.equal(await listenAndList(dir.path), [SOCKET_NAME], 'the socket is inside the private directory');
    assert.equal(readdirSync(deep), [], 'nothing was made under the long TMPDIR');
  } finally {
    dir.remove();
  }
  assert.not.ok(existsSync(dir.dir));
});

test('a TMPDIR whose socket path would be exactly the limit is used; one byte more falls back', () => {
  // The parent's path, a slash, then socketPathBytes('') more bytes.
  const fits = deepDirectory(SOCKET_PATH_MAX_BYTES - socketPathBytes('') - 1);
  assert.is(socketPathBytes(fits), SOCKET_PATH_MAX_BYTES);
  const a = makeSocketDir(fits);
  a.remove();
  assert.is(dirname(a.dir), fits);
  const over = `${fits}x`; // a sibling one character longer
  mkdirSync(over, { recursive: true });
  assert.is(socketPathBytes(over), SOCKET_PATH_MAX_BYTES + 1);
  const b = makeSocketDir(over);
  b.remove();
  assert.is(dirname(b.dir), '/tmp');
});

test('a TMPDIR that cannot be written is named in the error, with what to do', () => {
  try {
    makeSocketDir('/nonexistent/tmp');
    assert.unreachable('a missing TMPDIR should be refused');
  } catch (e) {
    assert.match((e as Error).message, /cannot make the coordinator's socket directory in \/nonexistent\/tmp: .*ENOENT.*; set TMPDIR to a short, writable directory/);
  }
});

test.after(() => rmSync(base.path, { recursive: true, force: true }));
test.run();
