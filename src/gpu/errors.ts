// Dawn reports validation errors by printing them and carrying on with an invalid object, so a
// broken kernel can look merely slow or wrong. Everything here turns such reports into thrown errors.

export class GpuError extends Error {
  override name = 'GpuError';
}

/** Collects errors that arrive asynchronously (uncaptured errors, popped scopes) until a check point. */
export class ErrorSink {
  private first: string | undefined;
  private lost: string | undefined;

  record(message: string): void {
    this.first ??= message;
  }

  markLost(message: string): void {
    this.lost ??= message;
  }

  throwIfAny(where: string): void {
    if (this.lost !== undefined) throw new GpuError(`GPU device lost (${where}): ${this.lost}`);
    if (this.first !== undefined) {
      const message = this.first;
      this.first = undefined;
      throw new GpuError(`GPU error (seen by ${where}): ${message}`);
    }
  }
}

export function installErrorHandlers(device: GPUDevice): ErrorSink {
  const sink = new ErrorSink();
  device.onuncapturederror = (event: GPUUncapturedErrorEvent) => {
    sink.record(event.error.message);
  };
  void device.lost.then((info) => {
    // 'destroyed' is our own close(); anything else is a real loss.
    if (info.reason !== 'destroyed') sink.markLost(info.message || String(info.reason));
  });
  return sink;
}

/**
 * Runs `body` inside validation and out-of-memory error scopes and throws a `GpuError`
 * prefixed with `what` if either caught something.
 */
export async function withErrorScope<T>(device: GPUDevice, what: string, body: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = body();
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    const error = validation ?? oom;
    if (error) throw new GpuError(`${what}: ${error.message}`);
  }
  return result;
}

/**
 * Like `withErrorScope` but does not wait: the scope's outcome lands in `sink` and surfaces at
 * the next `check()`. Used around submits on the hot path, where awaiting would stall the queue.
 */
export function withDeferredErrorScope<T>(device: GPUDevice, sink: ErrorSink, what: string, body: () => T): T {
  device.pushErrorScope('validation');
  try {
    return body();
  } finally {
    void device.popErrorScope().then((error) => {
      if (error) sink.record(`${what}: ${error.message}`);
    });
  }
}
