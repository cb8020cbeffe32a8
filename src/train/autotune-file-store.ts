// Autotune choices kept in a JSON file, for Node workers: $WEBGPU_LOCAL_SGD_CACHE_DIR, else
// $XDG_CACHE_HOME/webgpu-local-sgd, else ~/.cache/webgpu-local-sgd; the file is autotune.json.
// Several worker processes of one run measure and write at once: each write takes a lock file
// (exclusive create), re-reads the file, merges its own entries over what it finds (last writer wins
// per key, and no writer's keys are lost), and replaces the file by a rename, so a reader never sees
// half a file and needs no lock. A lock older than LOCK_STALE_MS (a killed writer's) is broken. A corrupt or foreign file is ignored with one warning
// and rewritten at the next write. Node only: tabs use MemoryAutotuneStore (autotune.ts).
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CachedChoice, type AutotuneStore } from '../kernels/autotune.js';

const CacheFile = z.object({
  format: z.literal('webgpu-local-sgd autotune'),
  version: z.literal(1),
  entries: z.record(z.string(), CachedChoice),
});
type CacheFile = z.infer<typeof CacheFile>;

export const CACHE_FILE_NAME = 'autotune.json';
/** A write holds the lock for a millisecond or so; one held this long belongs to a process that died. */
const LOCK_STALE_MS = 10_000;
/** How long a write waits for the lock before writing without it (a lost entry costs a measurement). */
const LOCK_WAIT_MS = 2_000;

/** Sleeps without returning to the event loop: the store's interface is synchronous, and waits are a few ms. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WEBGPU_LOCAL_SGD_CACHE_DIR) return env.WEBGPU_LOCAL_SGD_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'webgpu-local-sgd');
}

export class FileAutotuneStore implements AutotuneStore {
  readonly path: string;
  /** What this process has chosen: written over the file's entries at every write. */
  private readonly mine = new Map<string, CachedChoice>();
  private onDisk: Record<string, CachedChoice> | undefined;
  private warned = false;

  constructor(readonly dir: string = defaultCacheDir(), private readonly warn: (line: string) => void = (l) => console.warn(l)) {
    this.path = join(dir, CACHE_FILE_NAME);
  }

  get(key: string): CachedChoice | undefined {
    this.onDisk ??= this.read();
    return this.mine.get(key) ?? this.onDisk[key];
  }

  set(key: string, choice: CachedChoice): void {
    this.mine.set(key, choice);
    try {
      mkdirSync(this.dir, { recursive: true });
      const unlock = this.lock();
      try {
        this.write();
      } finally {
        unlock();
      }
    } catch (e) {
      // A cache that cannot be written costs a measurement next run, not this run.
      this.warnOnce(`autotune: cannot write the cache ${this.path} (${(e as Error).message}); choices are kept for this process only. Set WEBGPU_LOCAL_SGD_CACHE_DIR to a writable directory, or pass --no-autotune.`);
    }
  }

  /** Under the lock: the file's entries with this process's over them, replaced by a rename. */
  private write(): void {
    const entries = { ...this.read(), ...Object.fromEntries(this.mine) };
    const file: CacheFile = { format: 'webgpu-local-sgd autotune', version: 1, entries };
    const temp = `${this.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(temp, `${JSON.stringify(file, null, 1)}\n`);
    try {
      renameSync(temp, this.path);
    } catch (e) {
      rmSync(temp, { force: true });
      throw e;
    }
    this.onDisk = entries;
  }

  /** Takes the lock file; returns its release. After LOCK_WAIT_MS, proceeds without it. */
  private lock(): () => void {
    const lockPath = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(lockPath, 'wx'));
        return () => rmSync(lockPath, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      try {
        if (Date.now() - statSync(lockPath).mtimeMs > LOCK_STALE_MS) rmSync(lockPath, { force: true });
      } catch {
        // Released between the two calls: try again.
      }
      if (Date.now() > deadline) return () => {};
      sleepSync(2 + Math.random() * 5);
    }
  }

  private read(): Record<string, CachedChoice> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      this.warnOnce(`autotune: cannot read the cache ${this.path} (${(e as Error).message}); measuring again`);
      return {};
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = CacheFile.safeParse(json);
    if (!parsed.success) {
      this.warnOnce(`autotune: ignoring ${this.path}: not a webgpu-local-sgd autotune cache (corrupt or from another version); it will be rewritten`);
      return {};
    }
    return parsed.data.entries;
  }

  private warnOnce(line: string): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(line);
  }
}
