import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CACHE_FILE_NAME, FileAutotuneStore, defaultCacheDir } from '../../src/train/autotune-file-store.js';

const test = suite('autotune file store');
const choice = (candidate: string, ms: number) => ({ candidate, ms, timings: { [candidate]: ms, other: ms + 1 } });
const tempDir = () => mkdtempSync(join(tmpdir(), 'autotune-cache-'));

test('a choice written by one store is read back by a fresh one (another run)', () => {
  const dir = tempDir();
  try {
    const warnings: string[] = [];
    new FileAutotuneStore(dir, (l) => warnings.push(l)).set('adapter|matmul|A·B M≤64', choice('main wg16', 0.5));
    const later = new FileAutotuneStore(dir, (l) => warnings.push(l));
    assert.equal(later.get('adapter|matmul|A·B M≤64'), choice('main wg16', 0.5));
    assert.is(later.get('adapter|matmul|A·B M≤128'), undefined);
    assert.equal(warnings, []);
    assert.equal(readdirSync(dir), [CACHE_FILE_NAME], 'no temp file is left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [what, text] of [['not JSON', '{"format": "webgpu-local-sgd autot'], ['JSON of another shape', '{"entries": {"k": 1}}'], ['an entry of the wrong type', JSON.stringify({ format: 'webgpu-local-sgd autotune', version: 1, entries: { k: { candidate: 3 } } })]] as const) {
  test(`a cache file that is ${what} is ignored with one warning and rewritten valid`, () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, CACHE_FILE_NAME), text);
      const warnings: string[] = [];
      const store = new FileAutotuneStore(dir, (l) => warnings.push(l));
      assert.is(store.get('k'), undefined);
      assert.is(store.get('k2'), undefined);
      store.set('k', choice('narrow wg8', 0.1));
      assert.is(warnings.length, 1, `one warning, got ${JSON.stringify(warnings)}`);
      assert.match(warnings[0]!, /ignoring .*autotune\.json: not a webgpu-local-sgd autotune cache/);
      assert.equal(new FileAutotuneStore(dir, (l) => warnings.push(l)).get('k'), choice('narrow wg8', 0.1));
      assert.is(warnings.length, 1, 'the rewritten file reads back without a warning');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('two stores writing in turn keep both their entries: each write merges the file first', () => {
  const dir = tempDir();
  try {
    const a = new FileAutotuneStore(dir);
    const b = new FileAutotuneStore(dir);
    a.set('a', choice('main wg8', 1));
    b.set('b', choice('main wg16', 2));
    a.set('shared', choice('main wg32', 3));
    b.set('shared', choice('narrow wg8', 4));
    const after = new FileAutotuneStore(dir);
    assert.equal([after.get('a'), after.get('b'), after.get('shared')], [choice('main wg8', 1), choice('main wg16', 2), choice('narrow wg8', 4)], 'last writer wins per key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('several processes writing at once leave a valid file that holds every entry of every one', async () => {
  const dir = tempDir();
  try {
    const script = fileURLToPath(new URL('./fixtures/autotune-writer.js', import.meta.url));
    const writers = 4;
    const keys = 25;
    const results = await Promise.all(Array.from({ length: writers }, (_, w) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [script, dir, String(w), String(keys)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    })));
    for (const r of results) assert.is(r.code, 0, r.out);
    for (const r of results) assert.is(r.out.trim(), 'ok', `no warning: ${r.out}`);
    const warnings: string[] = [];
    const store = new FileAutotuneStore(dir, (l) => warnings.push(l));
    for (let w = 0; w < writers; w++) {
      for (let k = 0; k < keys; k++) assert.ok(store.get(`writer ${w} key ${k}`), `writer ${w}'s entry ${k}`);
    }
    assert.equal(warnings, []);
    const file = JSON.parse(readFileSync(join(dir, CACHE_FILE_NAME), 'utf8')) as { entries: Record<string, unknown> };
    assert.is(Object.keys(file.entries).length, writers * keys);
    assert.equal(readdirSync(dir), [CACHE_FILE_NAME], 'no temp file is left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the cache directory: WEBGPU_LOCAL_SGD_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.is(defaultCacheDir({ WEBGPU_LOCAL_SGD_CACHE_DIR: '/x/y', XDG_CACHE_HOME: '/z' }), '/x/y');
  assert.is(defaultCacheDir({ XDG_CACHE_HOME: '/z' }), join('/z', 'webgpu-local-sgd'));
  assert.match(defaultCacheDir({}), /[/\\]\.cache[/\\]webgpu-local-sgd$/);
});

test.run();
