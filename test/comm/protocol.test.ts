import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  COORDINATOR_SENDS, DEFAULT_FRAME_LIMITS, encodeHead, FrameDecoder, ProtocolError, WORKER_SENDS, type Header,
} from '../../src/comm/protocol.js';
import { randomArray, rng } from '../helpers/random.js';

const test = suite('protocol');
const HEX64 = 'ab'.repeat(32);

function frame(header: Header, payload: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([encodeHead(header, payload.byteLength), payload]);
}

function decoder(accepts = WORKER_SENDS) {
  const frames: Array<{ header: Header; payload: Uint8Array }> = [];
  const d = new FrameDecoder({ onHeader: () => undefined, onFrame: (header, payload) => frames.push({ header, payload: payload.slice() }) }, accepts);
  return { d, frames };
}

test('frames split at every possible byte boundary decode to the same headers and payloads', () => {
  const data = randomArray(37, rng(3));
  const payload = new Uint8Array(data.buffer);
  const stream = Buffer.concat([
    frame({ type: 'log', record: { loss: 0.5, note: 'é✓' } }),
    frame({ type: 'allreduce', tag: 'grads', round: 4, count: 37 }, payload),
    frame({ type: 'done', summary: null }),
  ]);
  for (let cut = 1; cut < stream.length; cut += 7) {
    const { d, frames } = decoder();
    d.push(stream.subarray(0, cut));
    d.push(stream.subarray(cut));
    assert.is(frames.length, 3, `cut at ${cut}`);
    assert.equal(frames[0]!.header, { type: 'log', record: { loss: 0.5, note: 'é✓' } });
    assert.equal(frames[1]!.header, { type: 'allreduce', tag: 'grads', round: 4, count: 37 });
    assert.equal([...frames[1]!.payload], [...payload], `payload bytes, cut at ${cut}`);
    assert.is(frames[2]!.header.type, 'done');
  }
});

test('the payload lands in the buffer onHeader chooses, without another allocation', () => {
  const target = new Uint8Array(16);
  let delivered: Uint8Array | undefined;
  const d = new FrameDecoder({ onHeader: () => target, onFrame: (_h, p) => (delivered = p) }, WORKER_SENDS);
  d.push(frame({ type: 'allreduce', tag: 'params', round: 0, count: 4 }, new Uint8Array(16).fill(9)));
  assert.ok(delivered === target, 'the delivered payload should be the chosen buffer');
  assert.equal([...target], new Array(16).fill(9));
});

test('a compressed round carries 2 bytes per element, odd counts unpadded, and f32 frames leave dtype out', () => {
  const { d, frames } = decoder();
  d.push(frame({ type: 'allreduce', tag: 'params', round: 1, count: 3, dtype: 'f16' }, new Uint8Array([1, 2, 3, 4, 5, 6])));
  d.push(frame({ type: 'allreduce', tag: 'params', round: 2, count: 3, dtype: 'bf16' }, new Uint8Array(6)));
  assert.is(frames.length, 2);
  assert.equal([...frames[0]!.payload], [1, 2, 3, 4, 5, 6]);
  assert.is((frames[1]!.header as { dtype?: string }).dtype, 'bf16');
  const r = decoder(COORDINATOR_SENDS);
  r.d.push(frame({ type: 'result', collective: 'params', round: 1, count: 5, dtype: 'f16', reduceMs: 0, waitMs: 0 }, new Uint8Array(10)));
  assert.is(r.frames[0]!.payload.byteLength, 10);
  // Without --comm-dtype the header is what it was before compression existed.
  assert.not.match(new TextDecoder().decode(encodeHead({ type: 'allreduce', tag: 'params', round: 0, count: 3 }, 12)), 'dtype');
});

const malformed: Array<[string, Buffer, RegExp]> = [
  ['a zero header length', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), /header length 0 is outside/],
  ['a huge header length', Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]), /header length 2147483647 is outside/],
  ['a header that is not JSON', Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{oops')]), /not JSON/],
  ['an unknown type', frame({ type: 'teleport' } as unknown as Header), /invalid.*type/],
  ['a negative round', frame({ type: 'allreduce', tag: 'params', round: -1, count: 0 }), /invalid.*round/],
  ['a payload shorter than count*4', Buffer.concat([encodeHead({ type: 'allreduce', tag: 'params', round: 0, count: 3 }, 8), Buffer.alloc(8)]), /8-byte payload.*count\*4 = 12/],
  ['an f16 payload sized for f32', Buffer.concat([encodeHead({ type: 'allreduce', tag: 'params', round: 1, count: 3, dtype: 'f16' }, 12), Buffer.alloc(12)]), /12-byte payload.*count 3 of f16, so count\*2 = 6 bytes/],
  ['an f32 payload one element short of a bf16 count', Buffer.concat([encodeHead({ type: 'allreduce', tag: 'params', round: 1, count: 5, dtype: 'bf16' }, 8), Buffer.alloc(8)]), /8-byte payload.*count\*2 = 10/],
  ['an unknown dtype', frame({ type: 'allreduce', tag: 'params', round: 0, count: 0, dtype: 'f8' } as unknown as Header), /invalid.*dtype/],
  ['a payload on a log frame', Buffer.concat([encodeHead({ type: 'log', record: 1 }, 4), Buffer.alloc(4)]), /carries no payload/],
  ['a frame for the other direction', frame({ type: 'stop' }), /'stop' frame cannot be sent in this direction/],
  ['a hello without a pid, nonce or proof', frame({ type: 'hello', rank: 0 } as unknown as Header), /invalid: pid: Required; nonce: Required; proof: Required/],
  ['a hello whose proof is not 64 hex digits', frame({ type: 'hello', rank: 0, pid: 1, nonce: HEX64, proof: 'AB'.repeat(32) }), /invalid: proof: 64 lowercase hex digits/],
];
for (const [what, bytes, message] of malformed) {
  test(`${what} is a ProtocolError that says what was wrong`, () => {
    const { d, frames } = decoder();
    assert.throws(() => d.push(bytes), (e: Error) => e instanceof ProtocolError && message.test(e.message));
    assert.is(frames.length, 0);
  });
}

test('an init frame carries count floats of rejoin weights, and nothing else', () => {
  const init: Header = { type: 'init', proof: HEX64, rank: 1, worldSize: 2, config: { lr: 1 }, rejoin: { restarts: 1, rounds: { params: 2, grads: 0, broadcast: 1 }, step: 16 }, count: 3, heartbeatMs: 1000, silenceLimitMs: 4000 };
  const { d, frames } = decoder(COORDINATOR_SENDS);
  d.push(frame(init, new Uint8Array(12)));
  assert.equal(frames[0]!.header, init);
  assert.throws(() => decoder(COORDINATOR_SENDS).d.push(frame(init, new Uint8Array(8))), /'init' frame has a 8-byte payload but has count 3 of f32, so count\*4 = 12 bytes/);
});

test('a decoder\'s limits are checked on the length prefix, before anything is allocated, and can be raised between frames', () => {
  const hello = frame({ type: 'hello', rank: 0, pid: 1, nonce: HEX64, proof: HEX64 });
  const { d, frames } = decoder();
  d.limits = { headerBytes: 4096, payloadBytes: 0 };
  d.push(hello);
  assert.is(frames.length, 1, 'a hello fits a stranger\'s limits');
  // A header prefix promising 5000 bytes is refused at once, with no byte of it sent.
  const big = Buffer.alloc(8);
  big.writeUInt32LE(5000, 0);
  const open = decoder();
  open.d.push(big); // the default limit takes 5000: it waits for the header
  assert.ok(open.d.midFrame);
  const limited = decoder();
  limited.d.limits = { headerBytes: 4096, payloadBytes: 0 };
  assert.throws(() => limited.d.push(big), /frame header length 5000 is outside 1..4096/);
  const payload = Buffer.alloc(8);
  payload.writeUInt32LE(10, 0);
  payload.writeUInt32LE(16, 4);
  const noPayload = decoder();
  noPayload.d.limits = { headerBytes: 4096, payloadBytes: 0 };
  assert.throws(() => noPayload.d.push(payload), /frame payload length 16 exceeds 0/);
  // Raised after the first frame, as the server does once a hello is proven.
  const raised = decoder();
  raised.d.limits = { headerBytes: 4096, payloadBytes: 0 };
  raised.d.push(hello);
  raised.d.limits = DEFAULT_FRAME_LIMITS;
  raised.d.push(frame({ type: 'allreduce', tag: 'params', round: 0, count: 4 }, new Uint8Array(16)));
  assert.is(raised.frames.length, 2);
});

test('after a malformed frame the decoder delivers nothing more', () => {
  const { d, frames } = decoder();
  assert.throws(() => d.push(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])));
  d.push(frame({ type: 'done', summary: 1 }));
  assert.is(frames.length, 0);
});

test('each side accepts exactly the frames of its direction', () => {
  for (const t of ['challenge', 'init', 'result', 'stop', 'server-heartbeat'] as const) assert.ok(COORDINATOR_SENDS.has(t) && !WORKER_SENDS.has(t), t);
  for (const t of ['hello', 'allreduce', 'broadcast', 'log', 'done', 'error', 'heartbeat'] as const) assert.ok(WORKER_SENDS.has(t) && !COORDINATOR_SENDS.has(t), t);
});

test("a heartbeat carries what the worker is doing, in a bounded phrase, and no payload", () => {
  const { d, frames } = decoder();
  d.push(frame({ type: 'heartbeat', doing: 'evaluating after step 60' }));
  assert.equal(frames[0]!.header, { type: 'heartbeat', doing: 'evaluating after step 60' });
  assert.throws(() => decoder().d.push(frame({ type: 'heartbeat', doing: 'x'.repeat(201) })), /doing/);
  assert.throws(() => decoder().d.push(frame({ type: 'heartbeat', doing: 'training' }, new Uint8Array(4))), /carries no payload/);
});

test.run();
