// How a worker proves it was started by this run, and the coordinator that it is this run's, without
// the secret crossing the wire. Transport-agnostic (the same proofs serve the local Unix socket and
// TCP between machines, where the secret comes from a join token: join-token.ts); the frames that
// carry them are in protocol.ts.
//
//   server → worker  challenge {nonce: Ns}                       a fresh random nonce per connection
//   worker → server  hello {rank, pid, nonce: Nw, proof: HMAC(secret, "worker" ‖ Ns ‖ rank)}
//   server → worker  init {…, proof: HMAC(secret, "server" ‖ Nw ‖ rank)}
//
// A recorded hello answers one connection's nonce only, so replaying it elsewhere fails; the roles
// are domain-separated, so one side's proof never passes as the other's; the server checks the
// proof before it reads any other frame, and the worker checks init's before it takes any config.
// The handshake authenticates; it does not encrypt or bind the rest of the stream to it.
//
// A browser tab does the same with Web Crypto (handshake-web.ts, which also holds what is signed):
//   server → tab  challenge {nonce: Ns};  tab → server  tab-hello {nonce: Nt, proof: HMAC(secret, "tab" ‖ Ns ‖ 0), …}
//   server → tab  init {rank, proof: HMAC(secret, "server" ‖ Nt ‖ rank)}   (the server chose the rank)
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkSecret, HEX, HEX_CHARS, isRank, NONCE_BYTES, PROOF_BYTES, SECRET_BYTES, signedBytes, type HandshakeRole } from './handshake-web.js';

export { HEX_CHARS, NONCE_BYTES, SECRET_BYTES, TAB_PROOF_RANK, type HandshakeRole } from './handshake-web.js';

/** A connection that has not proved itself within this long after it was accepted is closed. */
export const HELLO_TIMEOUT_MS = 5000;
/** The largest first frame (the hello) a connection may send before the handshake: a hello is ~300 bytes. */
export const HELLO_HEADER_LIMIT_BYTES = 4096;


/** A fresh per-run secret: 32 random bytes. */
export function newSecret(): Buffer {
  return randomBytes(SECRET_BYTES);
}

/** A fresh nonce, as it travels (hex). */
export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

/** The secret as an environment variable carries it (hex). */
export function secretToText(secret: Uint8Array): string {
  checkSecret(secret);
  return Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength).toString('hex');
}

/** Reads a secret written by secretToText; `where` names its source in the error (never the value). */
export function secretFromText(text: string | undefined, where: string): Buffer {
  if (text === undefined || text === '') {
    throw new Error(`${where} is not set: it is the per-run secret (${HEX_CHARS} hex digits) that launch() gives every worker it starts; start workers with launch() (node dist/train.js --procs N)`);
  }
  if (!HEX.test(text)) {
    throw new Error(`${where} is not a per-run secret: ${HEX_CHARS} lowercase hex digits expected, got ${text.length} characters${/^[0-9a-fA-F]*$/.test(text) ? '' : ' with non-hex ones'}; it is set by launch(), not by hand`);
  }
  return Buffer.from(text, 'hex');
}

/**
 * HMAC-SHA256(secret, signedBytes(role, nonce, rank)), in hex: what `role` sends to prove it holds
 * the secret, answering the other side's `nonce`, for `rank` (handshake-web.ts says what is signed).
 */
export function handshakeProof(secret: Uint8Array, role: HandshakeRole, nonce: string, rank: number): string {
  checkSecret(secret);
  return createHmac('sha256', secret).update(signedBytes(role, nonce, rank)).digest('hex');
}

/**
 * True when `given` is `role`'s proof for `nonce` and `rank` under `secret`. Anything else (another
 * secret, nonce, rank or role; a proof of the wrong length or not hex; a nonce or rank that could
 * not have been signed) is false, never an exception; equal-length proofs are compared in constant time.
 */
export function proofMatches(secret: Uint8Array, role: HandshakeRole, nonce: string, rank: number, given: unknown): boolean {
  if (typeof given !== 'string' || !HEX.test(given) || !HEX.test(nonce) || !isRank(rank)) return false;
  const expected = Buffer.from(handshakeProof(secret, role, nonce, rank), 'hex');
  const actual = Buffer.from(given, 'hex');
  // timingSafeEqual throws on unequal lengths; the regex has fixed them, and this keeps it so.
  return actual.length === PROOF_BYTES && expected.length === PROOF_BYTES && timingSafeEqual(expected, actual);
}
