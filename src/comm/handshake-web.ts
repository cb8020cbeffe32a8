// The handshake (handshake.ts) with Web Crypto, which browsers and Node ≥ 20 both have as
// globalThis.crypto: what a browser tab proves and checks. This file also holds what both versions
// sign, so they cannot drift apart; test/comm/handshake-web.test.ts checks they agree bit for bit.
//
// Nothing here may import Node: a page bundles this file.

/** Bytes of the per-run secret and of each nonce (HMAC-SHA256's block-sized key, its output size). */
export const SECRET_BYTES = 32;
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Nonces and proofs travel in JSON headers as lowercase hex of exactly this many characters. */
export const HEX_CHARS = 2 * NONCE_BYTES;
export const HEX = /^[0-9a-f]{64}$/;

/** Versioned, so a later change of what is signed cannot be confused with this one. */
const DOMAIN = 'webgpu-local-sgd handshake v1';
/**
 * Who proves: a worker to its machine's server and back; a machine's launcher to the master and
 * back; a browser tab to the server (which answers as 'server').
 */
export type HandshakeRole = 'worker' | 'server' | 'node' | 'master' | 'tab';
/** A tab claims no rank (the server seats it), so its proof is signed for this one. */
export const TAB_PROOF_RANK = 0;

const utf8 = new TextEncoder();

/**
 * What an HMAC proof signs: DOMAIN ‖ 0 ‖ role ‖ 0 ‖ nonce bytes ‖ rank as u32 big-endian. Every part
 * has a fixed length or a terminator, so no two inputs sign the same bytes. Throws on a nonce or
 * rank that could not have been signed.
 */
export function signedBytes(role: HandshakeRole, nonce: string, rank: number): Uint8Array {
  if (!HEX.test(nonce)) throw new RangeError(`a handshake nonce is ${HEX_CHARS} lowercase hex digits (got ${nonce.length} characters)`);
  if (!isRank(rank)) throw new RangeError(`a handshake rank is a whole number from 0 to 2^32 − 1 (got ${rank})`);
  const domain = utf8.encode(DOMAIN);
  const roleBytes = utf8.encode(role);
  const out = new Uint8Array(domain.length + 1 + roleBytes.length + 1 + NONCE_BYTES + 4);
  let at = 0;
  out.set(domain, at);
  at += domain.length + 1; // the 0 terminator is already there
  out.set(roleBytes, at);
  at += roleBytes.length + 1;
  out.set(fromHex(nonce), at);
  at += NONCE_BYTES;
  new DataView(out.buffer).setUint32(at, rank, false);
  return out;
}

export const isRank = (rank: number): boolean => Number.isInteger(rank) && rank >= 0 && rank <= 0xffff_ffff;

export function checkSecret(secret: Uint8Array): void {
  if (secret.byteLength !== SECRET_BYTES) throw new RangeError(`a run's secret is ${SECRET_BYTES} bytes (got ${secret.byteLength})`);
}

/** globalThis.crypto.subtle, or an error that says what is missing (a page served over plain http from elsewhere has none). */
function subtle(): typeof globalThis.crypto.subtle {
  const s = globalThis.crypto?.subtle;
  if (!s) {
    throw new Error(
      'Web Crypto (crypto.subtle) is not available here: browsers offer it only in secure contexts, so open the page over https or from localhost',
    );
  }
  return s;
}

/** Copies into a fresh ArrayBuffer-backed array, as Web Crypto's BufferSource type wants. */
const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

/** HMAC-SHA256(key, message) with Web Crypto. */
export async function hmacSha256(key: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const imported = await subtle().importKey('raw', own(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', imported, own(message)));
}

/** As handshake.ts's handshakeProof, with Web Crypto: HMAC-SHA256(secret, signedBytes(role, nonce, rank)) in hex. */
export async function handshakeProofAsync(secret: Uint8Array, role: HandshakeRole, nonce: string, rank: number): Promise<string> {
  checkSecret(secret);
  return toHex(await hmacSha256(secret, signedBytes(role, nonce, rank)));
}

/**
 * As handshake.ts's proofMatches: true when `given` is `role`'s proof for `nonce` and `rank` under
 * `secret`; anything else is false, never a rejection. Web Crypto's verify() compares in constant time.
 */
export async function proofMatchesAsync(secret: Uint8Array, role: HandshakeRole, nonce: string, rank: number, given: unknown): Promise<boolean> {
  checkSecret(secret); // a wrong-sized secret is the caller's mistake, as in the Node version: it rejects
  if (typeof given !== 'string' || !HEX.test(given) || !HEX.test(nonce) || !isRank(rank)) return false;
  const key = await subtle().importKey('raw', own(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return await subtle().verify('HMAC', key, own(fromHex(given)), own(signedBytes(role, nonce, rank)));
}

/** A fresh nonce, as it travels (hex), from the platform's cryptographic random source. */
export function newNonceWeb(): string {
  const bytes = new Uint8Array(NONCE_BYTES);
  globalThis.crypto.getRandomValues(bytes);
  return toHex(bytes);
}

export function toHex(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += b.toString(16).padStart(2, '0');
  return text;
}

/** Hex (even length, checked by the caller) to bytes. */
export function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
