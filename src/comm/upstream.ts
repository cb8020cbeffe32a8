// The level above a machine's collective server. On one machine there is none: the server reduces
// its workers' tensors itself. Across machines (node-link.ts) the server hands each completed
// collective of its workers up to the master and sends its workers whatever comes back, so the
// server's code for connections, frames and faults is the same on every machine.
import type { ReduceTag } from './protocol.js';

export interface UpstreamResult {
  /** What every worker holds after the collective (a buffer the caller may keep until the next one). */
  result: Float32Array;
  /** Every live rank of the run, once some rank has left it; undefined while all are in. */
  members: number[] | undefined;
}

export interface Upstream {
  /** This machine's live workers' tensors (in rank order, `ranks`) → the run's result. */
  allreduce(round: { tag: ReduceTag; round: number; step: number | undefined; inputs: readonly Float32Array[]; ranks: readonly number[] }): Promise<UpstreamResult>;
  /** The source's tensor if it is on this machine, else undefined → the source's tensor. */
  broadcast(round: number, data: Float32Array | undefined, ranks: readonly number[]): Promise<UpstreamResult>;
}
