import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import {
  handshakeProof, newNonce, newSecret, proofMatches, secretFromText, secretToText, SECRET_BYTES,
} from '../../src/comm/handshake.js';

const test = suite('handshake');
const secret = newSecret();
const nonce = newNonce();

test('a proof verifies for its own secret, role, nonce and rank', () => {
  for (const rank of [0, 1, 7, 63, 0xffff_ffff]) {
    for (const role of ['worker', 'server'] as const) {
      const proof = handshakeProof(secret, role, nonce, rank);
      assert.match(proof, /^[0-9a-f]{64}$/);
      assert.ok(proofMatches(secret, role, nonce, rank, proof), `${role}, rank ${rank}`);
    }
  }
});

test('it is HMAC-SHA256 of the secret over the domain, the role, the nonce\'s bytes and the rank as u32 big-endian', () => {
  const expected = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from('webgpu-local-sgd handshake v1\0worker\0'), Buffer.from(nonce, 'hex'), Buffer.from([0, 0, 1, 2])]))
    .digest('hex');
  assert.is(handshakeProof(secret, 'worker', nonce, 258), expected);
});

test('another secret, nonce, rank or role does not verify', () => {
  const proof = handshakeProof(secret, 'worker', nonce, 3);
  assert.not.ok(proofMatches(newSecret(), 'worker', nonce, 3, proof), 'another run\'s secret');
  assert.not.ok(proofMatches(secret, 'worker', newNonce(), 3, proof), 'another connection\'s nonce: a replayed hello');
  assert.not.ok(proofMatches(secret, 'worker', nonce, 4, proof), 'another rank');
  assert.not.ok(proofMatches(secret, 'server', nonce, 3, proof), 'the server\'s role: a worker\'s proof cannot be reflected as the server\'s');
  // One flipped bit anywhere fails.
  for (let i = 0; i < 64; i += 9) {
    const flipped = proof.slice(0, i) + (proof[i] === '0' ? '1' : '0') + proof.slice(i + 1);
    assert.not.ok(proofMatches(secret, 'worker', nonce, 3, flipped), `digit ${i} changed`);
  }
});

test('proofs of the wrong length, not hex, or not strings are false, never an exception (timingSafeEqual would throw on a length mismatch)', () => {
  const proof = handshakeProof(secret, 'worker', nonce, 0);
  for (const given of [proof.slice(0, 62), `${proof}00`, '', proof.toUpperCase(), `${proof.slice(0, 63)}g`, undefined, null, 42, { proof }, Buffer.from(proof, 'hex')]) {
    assert.is(proofMatches(secret, 'worker', nonce, 0, given), false, `given ${JSON.stringify(given)}`);
  }
  // A rank or nonce that no proof could have signed is also false, not a throw.
  for (const rank of [-1, 1.5, 2 ** 32, Number.NaN]) assert.is(proofMatches(secret, 'worker', nonce, rank, proof), false, `rank ${rank}`);
  assert.is(proofMatches(secret, 'worker', 'short', 0, proof), false);
});

test('making a proof refuses a secret of the wrong size, a malformed nonce and a bad rank, naming each', () => {
  assert.throws(() => handshakeProof(new Uint8Array(16), 'worker', nonce, 0), /a run's secret is 32 bytes \(got 16\)/);
  assert.throws(() => handshakeProof(secret, 'worker', 'abc', 0), /nonce is 64 lowercase hex digits \(got 3 characters\)/);
  assert.throws(() => handshakeProof(secret, 'worker', nonce, -1), /rank is a whole number from 0 to 2\^32 − 1 \(got -1\)/);
});

test('secrets and nonces are fresh each time, and a secret survives its trip through the environment', () => {
  assert.is.not(newNonce(), newNonce());
  const a = newSecret();
  assert.is(a.length, SECRET_BYTES);
  assert.not.equal([...a], [...newSecret()]);
  const text = secretToText(a);
  assert.match(text, /^[0-9a-f]{64}$/);
  assert.equal([...secretFromText(text, 'X')], [...a]);
  assert.throws(() => secretFromText(undefined, 'LOCALSGD_SECRET'), /LOCALSGD_SECRET is not set/);
  assert.throws(() => secretFromText(text.toUpperCase(), 'LOCALSGD_SECRET'), /LOCALSGD_SECRET is not a per-run secret: 64 lowercase hex digits expected/);
});

test.run();
