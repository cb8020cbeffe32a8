// Checkpoints and caches are read by other processes, possibly while being replaced: a reader must
// see either the old file or the new one, never a half-written one, even if the writer crashes.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Write `<path>.<pid>.tmp` beside the target, fsync it, and rename it over the target. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  // Same directory, so the rename stays on one file system and is atomic; the pid keeps
  // concurrent writers (several workers filling one cache) from sharing a temp file.
  const tmp = `${path}.${process.pid}.tmp`;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    // Flush before the rename, or a crash could leave the new name pointing at missing data.
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Already failing; the original error is the one to report.
      }
    }
    rmSync(tmp, { force: true });
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`could not write ${path} (${bytes.length} bytes): ${reason}; the previous file, if any, is unchanged. Check free space and permissions of the directory`, { cause: err });
  }
  syncDirectory(dirname(path));
}

/** Persist the rename itself; best effort, since not every platform can fsync a directory. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows and some file systems refuse; the data itself is already flushed.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
