// The coordinator's socket lives in a private (0700) directory of its own, made fresh per run. A
// Unix socket's path must fit sun_path, and Node does not refuse a longer one: it truncates it, so
// under a long TMPDIR the socket landed outside that directory (and stayed there). The directory
// is chosen so that the whole path fits, and removed on every way out this process can see.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOCKET_NAME = 'coordinator.sock';
/** sun_path is 108 bytes on Linux, 104 on macOS and the BSDs, the terminating NUL included. */
export const SOCKET_PATH_MAX_BYTES = (process.platform === 'linux' ? 108 : 104) - 1;
const PREFIX = 'local-sgd-';
/** mkdtemp appends six characters. */
const TEMPLATE = `${PREFIX}XXXXXX`;
/** Short, and on every Unix: where to go when TMPDIR is too deep. */
const FALLBACK_PARENT = '/tmp';

export interface SocketDir {
  dir: string;
  /** The socket's path inside dir, at most SOCKET_PATH_MAX_BYTES bytes. */
  path: string;
  /** Removes the directory (idempotent); also runs at process exit if not called before. */
  remove(): void;
}

/** The socket path a private directory under `parent` would give, in bytes. */
export function socketPathBytes(parent: string): number {
  return Buffer.byteLength(join(parent, TEMPLATE, SOCKET_NAME));
}

/**
 * Makes the run's private socket directory under `parent` (TMPDIR) if the socket's path fits there,
 * else under /tmp; throws, naming both lengths, if neither fits.
 */
export function makeSocketDir(parent: string = tmpdir()): SocketDir {
  const choice = [parent, FALLBACK_PARENT].find((p) => socketPathBytes(p) <= SOCKET_PATH_MAX_BYTES);
  if (choice === undefined) {
    throw new Error(
      `the coordinator's socket path would be ${socketPathBytes(parent)} bytes under ${parent} and ${socketPathBytes(FALLBACK_PARENT)} under ` +
        `${FALLBACK_PARENT}, over the ${SOCKET_PATH_MAX_BYTES} a Unix socket path may have; set TMPDIR to a shorter directory`,
    );
  }
  let dir: string;
  try {
    dir = mkdtempSync(join(choice, PREFIX)); // mode 0700: only this user can reach the socket
  } catch (error) {
    throw new Error(`cannot make the coordinator's socket directory in ${choice}: ${(error as Error).message}; set TMPDIR to a short, writable directory`);
  }
  const path = join(dir, SOCKET_NAME);
  // The check that matters: a socket path past sun_path would be silently truncated.
  if (Buffer.byteLength(path) > SOCKET_PATH_MAX_BYTES) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`internal: socket path ${path} is ${Buffer.byteLength(path)} bytes, over ${SOCKET_PATH_MAX_BYTES}`);
  }
  // The backstop for the ways out that skip the caller's cleanup (an uncaught exception,
  // process.exit() from anywhere); only SIGKILL escapes it.
  const remove = () => {
    process.off('exit', remove);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', remove);
  return { dir, path, remove };
}
