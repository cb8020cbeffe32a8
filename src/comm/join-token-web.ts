// The join token (join-token.ts) for a browser tab: the same handshake secret from the same token,
// with Web Crypto's SHA-256. This file also holds the token's checks and what is hashed, which
// join-token.ts reuses, so both derive the same secret (test/comm/handshake-web.test.ts checks).
//
// Nothing here may import Node: a page bundles this file.
import { fromHex, SECRET_BYTES } from './handshake-web.js';

/** At least this many random bytes, as hex. */
export const JOIN_TOKEN_MIN_BYTES = 32;
export const MAKE_TOKEN = `openssl rand -hex ${JOIN_TOKEN_MIN_BYTES} > join.token && chmod 600 join.token`;

const DOMAIN = 'webgpu-local-sgd join token v1';
/**
 * The secret of a run that chose no token ("insecure", for trusted networks): derived from a
 * public string, so anyone can join it, but every connection still does the handshake, so a
 * worker of a secured run is refused loudly by an insecure server, and the reverse.
 */
const INSECURE_TOKEN = 'webgpu-local-sgd insecure: no join token';

/** A join token's bytes, after checking it is long random hex; `where` names its source in errors (never its value). */
export function joinTokenBytes(text: string, where: string): Uint8Array {
  const token = text.trim();
  if (!/^[0-9a-fA-F]+$/.test(token) || token.length % 2 !== 0) {
    throw new Error(
      `${where} is not a join token: it must be hex digits only (${token.length} characters${token.length > 0 ? ', some not hex' : ''}); ` +
        `make one with: ${MAKE_TOKEN}`,
    );
  }
  if (token.length < 2 * JOIN_TOKEN_MIN_BYTES) {
    throw new Error(
      `${where} holds ${token.length / 2} bytes of hex; a join token needs at least ${JOIN_TOKEN_MIN_BYTES} random bytes ` +
        `(${2 * JOIN_TOKEN_MIN_BYTES} hex digits) so that it cannot be guessed from a recorded handshake; make one with: ${MAKE_TOKEN}`,
    );
  }
  return fromHex(token.toLowerCase());
}

/** The insecure run's public token, as bytes. */
export const insecureTokenBytes = (): Uint8Array => new TextEncoder().encode(INSECURE_TOKEN);

/** What SHA-256 hashes into the secret: DOMAIN ‖ 0 ‖ token bytes. */
export function derivationInput(token: Uint8Array): Uint8Array {
  const domain = new TextEncoder().encode(DOMAIN);
  const out = new Uint8Array(domain.length + 1 + token.length);
  out.set(domain);
  out.set(token, domain.length + 1);
  return out;
}

/** As join-token.ts's secretFromJoinToken, with Web Crypto. */
export function secretFromJoinTokenAsync(text: string, where: string): Promise<Uint8Array> {
  try {
    return derive(joinTokenBytes(text, where));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** As join-token.ts's insecureSecret, with Web Crypto: the publicly known secret of an insecure run. */
export function insecureSecretAsync(): Promise<Uint8Array> {
  return derive(insecureTokenBytes());
}

async function derive(token: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('Web Crypto (crypto.subtle) is not available here: browsers offer it only in secure contexts, so open the page over https or from localhost');
  const secret = new Uint8Array(await subtle.digest('SHA-256', new Uint8Array(derivationInput(token))));
  if (secret.length !== SECRET_BYTES) throw new Error(`SHA-256 gave ${secret.length} bytes, not ${SECRET_BYTES}`);
  return secret;
}
