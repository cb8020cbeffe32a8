// Compressed parameter averaging on the worker (--comm-dtype f16|bf16; the wire format and the
// coordinator's half are described in src/comm/delta-codec.ts). The worker keeps an anchor, the last
// averaged parameters, on its device; a round packs θ − anchor to 16 bits in one dispatch, reads
// back half the bytes of the parameters, and applies the coordinator's 16-bit update to the anchor
// and the parameters in another, so every worker ends the round with identical bytes.
import { createStorage, readBuffer, writeBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { submitDispatches } from '../gpu/dispatch.js';
import { prepareCompress, type HalfDtype, type PreparedCompress } from '../kernels/delta-codec.js';
import type { MemberChannel } from '../comm/member-channel.js';
import { firstNonFiniteHalf, NonFiniteError } from './finite.js';

export interface CompressedRoundTimes {
  readbackSeconds: number;
  exchangeSeconds: number;
  uploadSeconds: number;
  bytes: number;
}

export class CompressedAveraging {
  private anchorSet = false;
  /** The packed words as they travel and come back: count 16-bit values, padded to whole words. */
  private readonly wire: Uint8Array;

  private constructor(
    private readonly ctx: GpuContext,
    readonly dtype: HalfDtype,
    readonly count: number,
    private readonly anchor: GPUBuffer,
    private readonly packed: GPUBuffer,
    private readonly kernels: PreparedCompress,
  ) {
    this.wire = new Uint8Array(Math.ceil(count / 2) * 4);
  }

  static async create(ctx: GpuContext, params: GPUBuffer, count: number, dtype: HalfDtype): Promise<CompressedAveraging> {
    const anchor = createStorage(ctx, 'averaging anchor', count * 4);
    const packed = createStorage(ctx, `averaging ${dtype} words`, Math.ceil(count / 2) * 4);
    const kernels = await prepareCompress(ctx, { dtype, params, anchor, packed, count, label: `averaging ${dtype}` });
    return new CompressedAveraging(ctx, dtype, count, anchor, packed, kernels);
  }

  /** False until the first (f32) round's result has been stored as the anchor. */
  get ready(): boolean {
    return this.anchorSet;
  }

  /** The result of an f32 round: both sides now hold it bit for bit, so deltas can start. */
  setAnchor(averaged: Float32Array): void {
    if (averaged.length !== this.count) throw new RangeError(`compressed averaging: anchor of ${averaged.length} floats for ${this.count} parameters`);
    writeBuffer(this.ctx, this.anchor, averaged);
    this.anchorSet = true;
  }

  /** One compressed round. The queue must be idle (the caller syncs), so read-back time is the copy. */
  async round(channel: MemberChannel, step?: number): Promise<CompressedRoundTimes> {
    if (!this.anchorSet) throw new Error('compressed averaging: round() before the f32 round that sets the anchor');
    const bytes = this.count * 2;
    let t = performance.now();
    submitDispatches(this.ctx, 'encode parameter delta', [this.kernels.encodeDelta]);
    this.wire.set(new Uint8Array(await readBuffer(this.ctx, this.packed, { byteLength: bytes })));
    const readbackSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const payload = this.wire.subarray(0, bytes);
    const at = firstNonFiniteHalf(payload, this.dtype);
    if (at >= 0) {
      throw new NonFiniteError(`rank ${channel.rank}: its parameter change before the ${this.dtype} average${step === undefined ? '' : ` at step ${step}`} holds a NaN or infinite value (element ${at} of ${this.count}; or a change too large for ${this.dtype})`);
    }
    await channel.allReduceDelta(this.dtype, this.count, payload, payload, step);
    const exchangeSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    // The padding half of an odd count's last word is ignored by the kernel.
    writeBuffer(this.ctx, this.packed, this.wire);
    submitDispatches(this.ctx, 'apply averaged update', [this.kernels.applyUpdate]);
    const uploadSeconds = (performance.now() - t) / 1000;
    return { readbackSeconds, exchangeSeconds, uploadSeconds, bytes };
  }

  destroy(): void {
    this.anchor.destroy();
    this.packed.destroy();
  }
}
