// Every file a run will write is checked before training, so a typo in a path, a missing directory
// or a full disk stops the run at once instead of losing the trained model at the end.
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { TrainConfig } from './config.js';

export interface OutputPath {
  /** The flag that names it, for the error message. */
  flag: string;
  path: string;
}

/** The files a run writes, by flag. */
export function outputPathsOf(config: Pick<TrainConfig, 'save' | 'metrics'>): OutputPath[] {
  const paths: OutputPath[] = [];
  if (config.save !== undefined) paths.push({ flag: '--save', path: config.save });
  if (config.metrics !== undefined) paths.push({ flag: '--metrics', path: config.metrics });
  return paths;
}

export class OutputPathError extends Error {
  override name = 'OutputPathError';
}

/**
 * Throws naming the flag, the path and what to do when a file could not be written there: its
 * directory is missing, not a directory or not writable, or the path is a directory, or the
 * file exists and cannot be replaced. Creates nothing.
 */
export function checkOutputPath({ flag, path }: OutputPath): void {
  const target = resolve(path);
  const dir = dirname(target);
  if (!existsSync(dir)) throw new OutputPathError(`${flag} ${path}: directory ${dir} does not exist; create it (mkdir -p ${dir}) or choose another path`);
  if (!statSync(dir).isDirectory()) throw new OutputPathError(`${flag} ${path}: ${dir} is not a directory; choose another path`);
  if (existsSync(target) && statSync(target).isDirectory()) {
    throw new OutputPathError(`${flag} ${path}: is a directory; give a file name inside it (for example ${path.replace(/\/?$/, '/')}run.out)`);
  }
  try {
    // Files are written to a temporary name in the same directory and renamed over the target,
    // so what must be writable is the directory.
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new OutputPathError(`${flag} ${path}: directory ${dir} is not writable by this user; choose another path or fix its permissions`);
  }
}

/** Free bytes for an unprivileged writer in the directory that will hold `path`. */
export function freeBytes(path: string): number {
  const s = statfsSync(dirname(resolve(path)));
  return s.bavail * s.bsize;
}

/**
 * Throws when the directory of `path` has less room than `bytes` (one checkpoint of this model,
 * and its temporary copy is written beside it before the rename: the old file still counts).
 */
export function checkFreeSpace({ flag, path }: OutputPath, bytes: number, free = freeBytes(path)): void {
  if (free < bytes) {
    throw new OutputPathError(
      `${flag} ${path}: ${formatMiB(free)} free in ${dirname(resolve(path))}, and one checkpoint of this model needs ${formatMiB(bytes)}; ` +
        'free some space or choose another directory',
    );
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * An upper bound on one checkpoint of a model with this many floats in its flat buffer: the
 * weights, up to two optimizer moments or an outer momentum, and a header.
 */
export function checkpointBytesBound(totalFloats: number): number {
  return totalFloats * 4 * 3 + 64 * 1024;
}
