// The ranks a run keeps for browser tabs: vacant until a tab that proved the join token takes one,
// each waited for up to the rendezvous timeout (from the start, or from when its tab was lost under
// --on-worker-failure respawn), and told as tabs join and leave, so the person at the terminal sees
// who lends a GPU.
import type { CollectiveServer, TabInfo } from './collective-server.js';
import { describeTab } from './collective-server.js';

export interface TabOptions {
  /** The ranks tabs take, in the order they are given out. */
  ranks: readonly number[];
  /** How long a vacant tab rank is waited for before the run stops. */
  rendezvousTimeoutMs: number;
  /**
   * Opens the tabs' side once the server listens (the page, its data, and the WebSocket endpoint that
   * hands each tab to server.acceptTab); resolves with how to close it.
   */
  open(server: CollectiveServer): Promise<() => Promise<void>>;
  /** The lines about tabs joining and leaving (default: stderr). */
  onLine?: (line: string) => void;
}

export class TabRendezvousError extends Error {
  override name = 'TabRendezvousError';
  constructor(message: string, readonly ranks: number[]) {
    super(message);
  }
}

export class TabSeats {
  readonly ranks: readonly number[];
  /** Vacant ranks and the timer that ends the run if nobody takes them. */
  private readonly vacant = new Map<number, NodeJS.Timeout>();
  private readonly line: (line: string) => void;

  constructor(private readonly options: TabOptions, private readonly fail: (error: Error) => void) {
    this.ranks = options.ranks;
    this.line = options.onLine ?? ((line) => process.stderr.write(`${line}\n`));
  }

  holds(rank: number): boolean {
    return this.ranks.includes(rank);
  }

  isVacant(rank: number): boolean {
    return this.vacant.has(rank);
  }

  async open(server: CollectiveServer): Promise<() => Promise<void>> {
    const close = await this.options.open(server);
    for (const rank of this.ranks) this.wait(rank);
    return close;
  }

  joined(rank: number, tab: TabInfo): void {
    clearTimeout(this.vacant.get(rank));
    this.vacant.delete(rank);
    const waiting = this.vacant.size;
    this.line(`rank ${rank}: a browser tab joined: ${describeTab(tab)}${tab.agent ? `, ${shortAgent(tab.agent)}` : ''}` +
      (waiting > 0 ? `; waiting for ${waiting} more` : ''));
  }

  left(rank: number, tab: TabInfo, why: 'done' | 'lost' | 'ended'): void {
    if (why === 'lost') this.line(`rank ${rank}: the browser tab left before the run ended: ${describeTab(tab)}`);
    else if (why === 'done') this.line(`rank ${rank}: the browser tab finished its share and left: ${describeTab(tab)}`);
  }

  /** Its tab was lost and a new one may take it (--on-worker-failure respawn). */
  vacated(rank: number): void {
    this.line(`rank ${rank} waits for a new browser tab: opening the join link takes it over from the last average`);
    this.wait(rank);
  }

  close(): void {
    for (const timer of this.vacant.values()) clearTimeout(timer);
    this.vacant.clear();
  }

  private wait(rank: number): void {
    const seconds = this.options.rendezvousTimeoutMs / 1000;
    this.vacant.set(rank, setTimeout(() => {
      const ranks = [...this.vacant.keys()];
      this.fail(new TabRendezvousError(
        `no browser tab took rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} within ${seconds} s (--rendezvous-timeout): ` +
          'open the join link in a browser with WebGPU (a current Chrome or Edge; on Linux with --enable-unsafe-webgpu), or start with fewer --browser-workers',
        ranks,
      ));
    }, this.options.rendezvousTimeoutMs));
  }
}

/** "Chrome/156.0.0.0" out of a user agent string: enough to tell browsers apart in one line. */
function shortAgent(agent: string): string {
  const product = /(Edg|Firefox|Chrome|Safari)\/[\d.]+/.exec(agent);
  return product ? product[0] : agent.slice(0, 40);
}
