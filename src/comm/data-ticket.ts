// What a browser tab shows the master's HTTP server to fetch the run's data: HMAC-SHA256 of a fixed
// label under the run's secret, which only a holder of the join token can compute. The data is the
// run's, so it is served only to members, like the weights. Web Crypto, so the same code runs in the
// page and in the master (Node ≥ 20 has crypto.subtle as a global).
const LABEL = 'webgpu-local-sgd tab data v1';

export const DATA_TICKET_HEADER = 'x-localsgd-ticket';

export async function dataTicket(secret: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new Error('this page has no Web Crypto (crypto.subtle): browsers give it only to https:// pages and to http://localhost; open the join link over https');
  }
  const key = await subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await subtle.sign('HMAC', key, new TextEncoder().encode(LABEL)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Constant-time comparison of a presented ticket with the expected one. */
export function ticketMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}
