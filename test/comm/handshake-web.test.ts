// The page's handshake and join token (Web Crypto) against the Node ones: a tab and its coordinator
// must compute the same proofs and the same secret, bit for bit, and disagree on the same inputs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { handshakeProof, newNonce, newSecret, proofMatches, type HandshakeRole } from '../../src/comm/handshake.js';
import { handshakeProofAsync, newNonceWeb, proofMatchesAsync } from '../../src/comm/handshake-web.js';
import { insecureSecret, secretFromJoinToken } from '../../src/comm/join-token.js';
import { insecureSecretAsync, secretFromJoinTokenAsync } from '../../src/comm/join-token-web.js';

const test = suite('handshake with Web Crypto');
const ROLES: HandshakeRole[] = ['worker', 'server', 'node', 'master', 'tab'];
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, got a value');
}

test('its proofs equal the Node proofs for every role, fresh secrets and nonces, and ranks at both ends of u32', async () => {
  for (let i = 0; i < 20; i++) {
    const secret = newSecret();
    const nonce = i % 2 === 0 ? newNonce() : newNonceWeb();
    for (const role of ROLES) {
      for (const rank of [0, 1, 255, 256, 65_535, 0xffff_ffff]) {
        assert.is(await handshakeProofAsync(secret, role, nonce, rank), handshakeProof(secret, role, nonce, rank), `${role}, rank ${rank}`);
      }
    }
  }
});

test('it accepts exactly what the Node check accepts: the right proof, and not another secret, nonce, rank or role, or a malformed proof', async () => {
  const secret = newSecret();
  const nonce = newNonce();
  const proof = handshakeProof(secret, 'tab', nonce, 0);
  const cases: Array<[string, Uint8Array, HandshakeRole, string, number, unknown]> = [
    ['the right proof', secret, 'tab', nonce, 0, proof],
    ['another secret', newSecret(), 'tab', nonce, 0, proof],
    ['another nonce', secret, 'tab', newNonce(), 0, proof],
    ['another rank', secret, 'tab', nonce, 1, proof],
    ["the worker's role", secret, 'worker', nonce, 0, proof],
    ['upper-case hex', secret, 'tab', nonce, 0, proof.toUpperCase()],
    ['a proof one digit short', secret, 'tab', nonce, 0, proof.slice(1)],
    ['a proof that is not a string', secret, 'tab', nonce, 0, 12],
    ['a nonce that is not hex', secret, 'tab', 'z'.repeat(64), 0, proof],
    ['a rank past u32', secret, 'tab', nonce, 2 ** 32, proof],
  ];
  for (const [name, s, role, n, rank, given] of cases) {
    assert.is(await proofMatchesAsync(s, role, n, rank, given), proofMatches(s, role, n, rank, given), name);
  }
  assert.ok(await proofMatchesAsync(secret, 'tab', nonce, 0, proof), 'the right proof passes');
});

test('what it refuses to sign or check with, it refuses with the Node version\'s message', async () => {
  const secret = newSecret();
  for (const [secretUsed, nonce, rank] of [[secret, 'ab', 0], [secret, newNonce(), -1], [secret.subarray(0, 16), newNonce(), 0]] as const) {
    let nodeError: Error | undefined;
    try {
      handshakeProof(secretUsed, 'tab', nonce, rank);
    } catch (error) {
      nodeError = error as Error;
    }
    const webError = await rejection(handshakeProofAsync(secretUsed, 'tab', nonce, rank));
    assert.ok(nodeError, 'the Node version throws');
    assert.is(webError.message, nodeError.message);
  }
  const short = secret.subarray(1);
  assert.throws(() => proofMatches(short, 'tab', newNonce(), 0, '0'.repeat(64)), /a run's secret is 32 bytes \(got 31\)/);
  assert.match((await rejection(proofMatchesAsync(short, 'tab', newNonce(), 0, '0'.repeat(64)))).message, /a run's secret is 32 bytes \(got 31\)/);
});

test('a join token gives the same secret in the page as on the machines, also upper-case, long or with a newline', async () => {
  for (const token of [randomBytes(32).toString('hex'), randomBytes(32).toString('hex').toUpperCase(), randomBytes(64).toString('hex'), `${randomBytes(32).toString('hex')}\n`]) {
    assert.is(hex(await secretFromJoinTokenAsync(token, 'the token')), hex(secretFromJoinToken(token, 'the token')));
  }
  assert.is(hex(await insecureSecretAsync()), hex(insecureSecret()), 'the insecure run\'s public secret');
});

test('a join token the machines refuse, the page refuses with the same message', async () => {
  for (const token of ['', 'not hex at all', 'abc', randomBytes(16).toString('hex')]) {
    let nodeError: Error | undefined;
    try {
      secretFromJoinToken(token, 'the token');
    } catch (error) {
      nodeError = error as Error;
    }
    assert.ok(nodeError, `the machines refuse ${JSON.stringify(token)}`);
    assert.is((await rejection(secretFromJoinTokenAsync(token, 'the token'))).message, nodeError.message);
  }
});

test('its nonces are 64 lowercase hex digits and differ every time', () => {
  const nonces = new Set(Array.from({ length: 100 }, () => newNonceWeb()));
  assert.is(nonces.size, 100);
  for (const nonce of nonces) assert.match(nonce, /^[0-9a-f]{64}$/);
});

test.run();
