// What a browser tab shows the master's HTTP server to fetch the run's data: HMAC-SHA256 of a fixed
// label under the run's secret, which only a holder of the join token can compute. The data is the
// run's, so it is served only to members, like the weights. Web Crypto, so the same code runs in the
// page and in the master (Node ≥ 20 has crypto.subtle as a global).
import { hmacSha256, toHex } from './handshake-web.js';

const LABEL = 'webgpu-local-sgd tab data v1';

export const DATA_TICKET_HEADER = 'x-localsgd-ticket';

export async function dataTicket(secret: Uint8Array): Promise<string> {
  return toHex(await hmacSha256(secret, new TextEncoder().encode(LABEL)));
}

/** Constant-time comparison of a presented ticket with the expected one. */
export function ticketMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}
