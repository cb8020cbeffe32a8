// A simulated interconnect, so Local SGD's savings can be shown on one machine: each message on a
// link is delayed by latency + bytes·8/bandwidth, and a link carries one message at a time.

export interface LinkOptions {
  latencyMs: number;
  bandwidthBitsPerSec: number;
}

export const LINK_OFF: LinkOptions = { latencyMs: 0, bandwidthBitsPerSec: Infinity };

export function linkIsOff(link: LinkOptions | undefined): boolean {
  return link === undefined || (link.latencyMs === 0 && link.bandwidthBitsPerSec === Infinity);
}

export function validateLink(link: LinkOptions): void {
  if (!(Number.isFinite(link.latencyMs) && link.latencyMs >= 0)) {
    throw new Error(`link latencyMs must be a finite number ≥ 0 (got ${link.latencyMs})`);
  }
  if (!(link.bandwidthBitsPerSec > 0)) {
    throw new Error(`link bandwidthBitsPerSec must be > 0, or Infinity for no limit (got ${link.bandwidthBitsPerSec})`);
  }
}

/** Milliseconds a message of `bytes` occupies the wire (not counting latency). */
export function transmitMs(link: LinkOptions, bytes: number): number {
  return link.bandwidthBitsPerSec === Infinity ? 0 : (bytes * 8 * 1000) / link.bandwidthBitsPerSec;
}

interface Queued {
  deliverAt: number;
  deliver: () => void;
}

/**
 * One direction of one link. The wire is busy for bytes·8/bandwidth per message; latency is
 * propagation, so it overlaps the next message's transmission, as on a real NIC. Deliveries run
 * in send order from one FIFO (separate timers could reorder messages with fractional delays).
 */
export class SimulatedLink {
  private busyUntil = 0;
  private readonly queue: Queued[] = [];
  /** ReturnType, not NodeJS.Timeout: transport.ts, which a page bundles, refers to this class. */
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(readonly options: LinkOptions) {
    validateLink(options);
  }

  get off(): boolean {
    return linkIsOff(this.options);
  }

  /** Calls `deliver` once the message has crossed the link; returns the delay in ms it was given. */
  send(bytes: number, deliver: () => void): number {
    const now = performance.now();
    if (this.off && this.queue.length === 0) {
      deliver();
      return 0;
    }
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + transmitMs(this.options, bytes);
    const deliverAt = this.busyUntil + this.options.latencyMs;
    this.queue.push({ deliverAt, deliver });
    if (this.queue.length === 1) this.arm();
    return deliverAt - now;
  }

  /** Resolves once every message sent so far has been delivered (or dropped by close()). */
  idle(): Promise<void> {
    if (this.queue.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Messages sent but not yet delivered. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Drops undelivered messages (the run is stopping). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private arm(): void {
    const head = this.queue[0];
    if (!head || this.closed) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.deliverAt - performance.now()));
  }

  private flush(): void {
    this.timer = undefined;
    // Timers may fire up to ~1 ms early relative to performance.now(); deliver what is due.
    while (this.queue.length > 0 && this.queue[0]!.deliverAt <= performance.now() + 0.5) {
      const head = this.queue.shift()!;
      head.deliver();
      if (this.closed) return;
    }
    if (this.queue.length === 0) this.wakeIdle();
    this.arm();
  }
}

const BANDWIDTH_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };
const BANDWIDTH_EXAMPLES = `'10gbit', '1gbit', '100mbit', '1.5gbit', '500kbit' or 'off'`;

/** '10gbit' → 1e10 bits/s; 'off' → Infinity (no limit). Decimal units, as NICs are rated. */
export function parseBandwidth(text: string): number {
  const s = text.trim().toLowerCase();
  if (s === 'off' || s === 'inf' || s === 'infinity') return Infinity;
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(bit|kbit|mbit|gbit|tbit)(?:\/s|ps)?$/.exec(s);
  const value = m ? Number(m[1]) * BANDWIDTH_UNITS[m[2]!]! : NaN;
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new Error(`bandwidth must be a positive number with a unit, e.g. ${BANDWIDTH_EXAMPLES} (got "${text}")`);
  }
  return value;
}

const DURATION_UNITS: Record<string, number> = { us: 1e-3, µs: 1e-3, ms: 1, s: 1000 };

/** '5ms' → 5, '0.2ms' → 0.2, '1s' → 1000, '0' → 0 (milliseconds). */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  if (s === '0') return 0;
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s)$/.exec(s);
  const value = m ? Number(m[1]) * DURATION_UNITS[m[2]!]! : NaN;
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new Error(`duration must be a number ≥ 0 with a unit, e.g. '5ms', '0.2ms', '1s' or '0' (got "${text}")`);
  }
  return value;
}
