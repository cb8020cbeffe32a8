// Its own module, free of Node imports, because a training loop that may run in a browser tab throws it too.

export class InterruptedError extends Error {
  override name = 'InterruptedError';
  /** The signal that stopped the run, when one did. */
  constructor(message: string, readonly signal?: NodeJS.Signals) {
    super(message);
  }
}
