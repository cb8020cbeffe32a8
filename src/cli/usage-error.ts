/** A command line (or the launch environment it reads) that train.js refuses before running: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
