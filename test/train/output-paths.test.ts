import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { checkFreeSpace, checkOutputPath, freeBytes, OutputPathError } from '../../src/train/output-paths.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('output paths are checked before training');
const dir = tempDir();

function refused(fn: () => void, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, OutputPathError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable('should have been refused');
}

test('a file in an existing, writable directory is accepted, whether or not it exists yet, and nothing is created', () => {
  checkOutputPath({ flag: '--save', path: dir.file('model.safetensors') });
  writeFileSync(dir.file('old.jsonl'), 'x');
  checkOutputPath({ flag: '--metrics', path: dir.file('old.jsonl') });
  assert.equal(readdirSync(dir.path), ['old.jsonl']);
});

test('a missing directory names the flag, the path and the mkdir that fixes it', () => {
  refused(() => checkOutputPath({ flag: '--save', path: dir.file('no/such/dir/m.safetensors') }), /^--save .*no\/such\/dir\/m\.safetensors: directory .*no\/such\/dir does not exist; create it \(mkdir -p /);
});

test('a path that is a directory, or whose parent is a file, is refused', () => {
  mkdirSync(dir.file('adir'));
  refused(() => checkOutputPath({ flag: '--metrics', path: dir.file('adir') }), /^--metrics .*adir: is a directory; give a file name inside it/);
  writeFileSync(dir.file('afile'), '');
  refused(() => checkOutputPath({ flag: '--save', path: dir.file('afile/m.safetensors') }), /afile is not a directory/);
});

test('a directory this process cannot write into is refused (even for root: /proc/self)', () => {
  refused(() => checkOutputPath({ flag: '--save', path: '/proc/self/m.safetensors' }), /^--save \/proc\/self\/m\.safetensors: directory \/proc\/self is not writable/);
});

test('free space below one checkpoint is refused with both figures; the real disk has room for a small one', () => {
  refused(() => checkFreeSpace({ flag: '--save', path: dir.file('m.safetensors') }, 3 * 2 ** 20, 2 ** 20), /^--save .*: 1\.0 MiB free in .*, and one checkpoint of this model needs 3\.0 MiB/);
  checkFreeSpace({ flag: '--save', path: dir.file('m.safetensors') }, 1024);
  assert.ok(freeBytes(dir.file('m.safetensors')) > 0);
  refused(() => checkFreeSpace({ flag: '--save', path: dir.file('m.safetensors') }, Number.MAX_SAFE_INTEGER), /free in/);
});

test.after(() => dir.remove());
test.run();
