import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileAtomic } from '../../src/io/atomic-write.js';

// Run as a child with a 64 KiB file-size limit (ulimit -f), this file writes 1 MiB to the target:
// the kernel fails the write part-way with EFBIG, a real failure in the middle of writing.
const CHILD_TARGET = 'ATOMIC_WRITE_TEST_TARGET';
const target = process.env[CHILD_TARGET];
if (target) {
  try {
    writeFileAtomic(target, new Uint8Array(1 << 20).fill(7));
    process.exit(0);
  } catch (err) {
    process.stdout.write((err as Error).message);
    process.exit(3);
  }
} else {
  const test = suite('writeFileAtomic');
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'atomic-write-test-'));
    dirs.push(d);
    return d;
  };
  test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('bytes and strings are written whole, replace the old file, and leave no temporary file', () => {
    const dir = tempDir();
    const path = join(dir, 'state.json');
    writeFileAtomic(path, '{"step": 1}');
    assert.is(readFileSync(path, 'utf8'), '{"step": 1}');
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 255);
    writeFileAtomic(path, bytes);
    assert.equal(Array.from(readFileSync(path)), Array.from(bytes));
    assert.equal(readdirSync(dir), ['state.json']);
  });

  test('a write that fails part-way leaves the old file intact and no temporary file', () => {
    const dir = tempDir();
    const path = join(dir, 'checkpoint.safetensors');
    writeFileSync(path, 'old contents');
    const self = fileURLToPath(import.meta.url);
    const child = spawnSync('bash', ['-c', 'ulimit -f 64 && exec "$0" "$1"', process.execPath, self], {
      env: { ...process.env, [CHILD_TARGET]: path },
      encoding: 'utf8',
    });
    assert.is(child.status, 3, `the child should fail to write (status ${child.status}, output ${child.stdout}${child.stderr})`);
    assert.match(child.stdout, /could not write .*checkpoint\.safetensors \(1048576 bytes\).*previous file.*unchanged/);
    assert.is(readFileSync(path, 'utf8'), 'old contents');
    assert.equal(readdirSync(dir), ['checkpoint.safetensors']);
  });

  test('a rename that fails (the target is a directory) removes the temporary file and says what failed', () => {
    const dir = tempDir();
    const path = join(dir, 'taken');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'kept');
    assert.throws(() => writeFileAtomic(path, 'new'), /could not write .*taken \(3 bytes\)/);
    assert.equal(readdirSync(dir), ['taken']);
    assert.is(readFileSync(join(path, 'inside'), 'utf8'), 'kept');
  });

  test.run();
}
