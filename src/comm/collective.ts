// Which collective the ranks are in, and whether they agree. Every rank runs the same collectives
// in the same order, one at a time, so at any moment all waiting ranks must be in one collective:
// anything else (another tag, another round, another size) would deadlock, so it is an error.
import type { CommDtype } from './delta-codec.js';
import type { AveragingScope, CollectiveKind } from './protocol.js';

export class CollectiveMismatchError extends Error {
  override name = 'CollectiveMismatchError';
  constructor(message: string, readonly ranks: number[]) {
    super(message);
  }
}

export interface OpenCollective {
  kind: CollectiveKind;
  round: number;
  /** Floats each rank sends (all-reduce), or the source sends (broadcast; -1 until it has). */
  count: number;
  /** What the ranks' payloads hold: f32, or 16-bit parameter deltas (delta-codec.ts); one per collective. */
  dtype: CommDtype;
  /** The optimizer step a 'params' round averages after, as the ranks' headers say (undefined when they do not). */
  step: number | undefined;
  /** 'machine': a round of --cross-node-every within each machine only. */
  scope: AveragingScope;
  firstRank: number;
  entered: Set<number>;
  /** Payloads by rank, filled as frames are delivered. */
  payloads: Array<Float32Array | undefined>;
  deliveredAt: number[];
  delivered: number;
}

export function describeCollective(kind: CollectiveKind, round: number): string {
  return kind === 'broadcast' ? `broadcast round ${round}` : `allreduce '${kind}' round ${round}`;
}

export class CollectiveTracker {
  /** The next round each rank may enter, per kind. */
  private readonly nextRound: Array<Record<CollectiveKind, number>>;
  open: OpenCollective | undefined;
  /** Completed collectives per kind. */
  readonly completed: Record<CollectiveKind, number> = { params: 0, grads: 0, broadcast: 0 };
  /** The ranks a collective waits for: all of them, until drop() removes a lost one. */
  readonly members: Set<number>;

  /** `ranks`: the ranks this tracker waits for (default all; a machine's launcher tracks its own workers' ranks). */
  constructor(readonly worldSize: number, ranks: readonly number[] = Array.from({ length: worldSize }, (_, rank) => rank)) {
    this.nextRound = Array.from({ length: worldSize }, () => ({ params: 0, grads: 0, broadcast: 0 }));
    this.members = new Set(ranks);
  }

  /** Who sends a broadcast's data: the lowest member (rank 0 until it is dropped), as workers' mainRank. */
  get source(): number {
    return Math.min(...this.members);
  }

  /**
   * A lost rank leaves for good: collectives from now on wait for the others only, and the open
   * one forgets the rank's payload (a mean of the survivors, not of a rank that is gone). Returns
   * the open collective if that completes it.
   */
  drop(rank: number): OpenCollective | undefined {
    this.members.delete(rank);
    this.leaveOpen(rank);
    return this.completeIfAllIn();
  }

  /**
   * A lost rank that a new process will take over: it stays a member (the open collective waits for
   * it) and its next rounds are the first not yet completed, which the new process will send.
   */
  reset(rank: number): void {
    this.leaveOpen(rank);
    this.nextRound[rank] = { ...this.completed };
  }

  private leaveOpen(rank: number): void {
    const open = this.open;
    if (!open || !open.entered.has(rank)) return;
    open.entered.delete(rank);
    if (open.payloads[rank]) open.delivered--;
    open.payloads[rank] = undefined;
    open.deliveredAt[rank] = 0;
    if (open.entered.size === 0) {
      this.open = undefined;
      return;
    }
    if (open.kind === 'broadcast' && !open.entered.has(this.source)) open.count = -1; // the source's size is not known any more
    if (open.firstRank === rank) open.firstRank = Math.min(...open.entered);
  }

  /** Ranks currently waiting in the open collective. */
  waiting(): number[] {
    return this.open ? [...this.open.entered].sort((a, b) => a - b) : [];
  }

  /** Checks a collective header from `rank` (before its payload arrives) and enters it; throws on any disagreement. */
  enter(rank: number, kind: CollectiveKind, round: number, count: number, dtype: CommDtype = 'f32', step?: number, scope: AveragingScope = 'global'): void {
    const expected = this.nextRound[rank]![kind];
    const what = describeCollective(kind, round);
    if (round !== expected) {
      throw new CollectiveMismatchError(
        `rank ${rank} sent ${what}, but its next ${kind === 'broadcast' ? 'broadcast' : `'${kind}'`} round is ${expected}: ` +
          'rounds are numbered per tag from 0, so every rank must call the same collectives in the same order',
        [rank],
      );
    }
    if (kind === 'broadcast' && rank !== this.source && count !== 0) {
      throw new CollectiveMismatchError(`rank ${rank} sent ${count} floats in ${what}; only the source sends data in a broadcast (rank ${this.source}, the lowest live rank)`, [rank]);
    }
    const open = this.open;
    if (open) {
      if (open.entered.has(rank)) {
        throw new CollectiveMismatchError(`rank ${rank} sent ${what} while still waiting in ${describeCollective(open.kind, open.round)}; one collective at a time`, [rank]);
      }
      if (open.kind !== kind || open.round !== round) {
        throw new CollectiveMismatchError(
          `collective mismatch: rank ${rank} entered ${what} while rank ${open.firstRank} waits in ` +
            `${describeCollective(open.kind, open.round)}; every rank must call the same collectives (same tag) in the same order`,
          [rank, open.firstRank],
        );
      }
      const sized = kind !== 'broadcast' || rank === this.source;
      if (sized && open.count >= 0 && open.count !== count) {
        throw new CollectiveMismatchError(
          `count mismatch in ${what}: rank ${rank} sent ${count} floats but rank ${open.firstRank} sent ${open.count}; ` +
            'every worker must hold the same model (same layer sizes)',
          [rank, open.firstRank],
        );
      }
      if (sized) open.count = count;
      if (open.dtype !== dtype) {
        throw new CollectiveMismatchError(
          `dtype mismatch in ${what}: rank ${rank} sent ${dtype} but rank ${open.firstRank} sent ${open.dtype}; ` +
            'every worker must run with the same --comm-dtype',
          [rank, open.firstRank],
        );
      }
      if (open.step !== step) {
        throw new CollectiveMismatchError(
          `step mismatch in ${what}: rank ${rank} averages after step ${step ?? '(none given)'} but rank ${open.firstRank} after step ${open.step ?? '(none given)'}; ` +
            'every worker must average on the same schedule (same --local-sgd-steps and start step)',
          [rank, open.firstRank],
        );
      }
      if (open.scope !== scope) {
        throw new CollectiveMismatchError(
          `scope mismatch in ${what}: rank ${rank} averages ${scope === 'machine' ? 'within its machine' : 'across machines'} but rank ${open.firstRank} ` +
            `${open.scope === 'machine' ? 'within its machine' : 'across machines'}; every worker must run with the same --cross-node-every`,
          [rank, open.firstRank],
        );
      }
    } else {
      this.open = {
        kind, round, count: kind === 'broadcast' && rank !== this.source ? -1 : count, dtype, step, scope, firstRank: rank,
        entered: new Set(), payloads: new Array(this.worldSize).fill(undefined), deliveredAt: new Array(this.worldSize).fill(0), delivered: 0,
      };
    }
    this.open!.entered.add(rank);
    this.nextRound[rank]![kind] = round + 1;
  }

  /** Records `rank`'s payload for the open collective; returns the collective when every member's has arrived. */
  deliver(rank: number, payload: Float32Array, at: number): OpenCollective | undefined {
    const open = this.open;
    if (!open || !open.entered.has(rank) || open.payloads[rank]) throw new Error(`internal: delivery from rank ${rank} outside its collective`);
    open.payloads[rank] = payload;
    open.deliveredAt[rank] = at;
    open.delivered++;
    return this.completeIfAllIn();
  }

  private completeIfAllIn(): OpenCollective | undefined {
    const open = this.open;
    if (!open || open.delivered === 0 || this.members.size === 0 || [...this.members].some((rank) => !open.payloads[rank])) return undefined;
    this.open = undefined;
    this.completed[open.kind]++;
    return open;
  }
}
