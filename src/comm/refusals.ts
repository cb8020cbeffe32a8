// Connections the collective server refused before their handshake, told once: the first of each
// kind in full, the rest counted and summed up every so often and at the end, so that hundreds of
// strangers print a few lines, not hundreds.

export type RefusalKind = 'silent' | 'partial' | 'not-hello' | 'proof' | 'rank' | 'seat' | 'origin' | 'left' | 'ended';

export interface Refusal {
  kind: RefusalKind;
  /** What the connection did and why it was closed, e.g. "hello for rank 0 carried a wrong proof: …". */
  message: string;
}

/** How each kind reads in a summary line: "3 silent …, 1 …". */
const SUMMARY: Record<RefusalKind, string> = {
  silent: 'said nothing',
  partial: 'sent part of a frame, then nothing',
  'not-hello': 'sent something other than a valid hello',
  proof: 'could not prove they belong to this run',
  rank: 'claimed a rank they cannot have',
  seat: 'were browser tabs given no rank to take',
  origin: 'were WebSocket upgrades from a page of another origin',
  left: 'hung up before their hello',
  ended: 'were still without a hello when the run ended',
};

export class RefusalLog {
  private readonly printed = new Set<RefusalKind>();
  private readonly pending = new Map<RefusalKind, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
    /** How often counted refusals are summed up while they keep coming. */
    private readonly summaryEveryMs = 10_000,
  ) {}

  add(refusal: Refusal): void {
    if (!this.printed.has(refusal.kind)) {
      this.printed.add(refusal.kind);
      this.write(`coordinator: refused a connection before its handshake: ${refusal.message}; closed it (the run is not affected; more like it are counted, not printed)\n`);
      return;
    }
    this.pending.set(refusal.kind, (this.pending.get(refusal.kind) ?? 0) + 1);
    // Unref'd: a summary still to come never keeps the process alive; close() prints it.
    this.timer ??= setTimeout(() => this.flush(), this.summaryEveryMs).unref();
  }

  /** Prints the counted refusals, if any, as one line. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const total = [...this.pending.values()].reduce((a, b) => a + b, 0);
    const parts = [...this.pending].map(([kind, n]) => `${n} ${SUMMARY[kind]}`);
    this.pending.clear();
    this.write(`coordinator: refused ${total} more connection${total === 1 ? '' : 's'} before their handshake: ${parts.join(', ')}\n`);
  }

  /** The end of the run: the last summary, and no timer left behind. */
  close(): void {
    this.flush();
  }
}

/** Thrown inside the handshake: the connection is refused (closed and reported), never the run's failure. */
export class RefusedError extends Error {
  override name = 'RefusedError';
  constructor(readonly kind: RefusalKind, message: string) {
    super(message);
  }
}
