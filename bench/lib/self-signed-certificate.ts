// A throwaway self-signed certificate, made in-process at benchmark start, so that the TLS figures
// are those of a verified link without a key pair in the repository or the `openssl` CLI (a minimal
// Debian image has no openssl binary, and Node 20 can sign but has no API that builds an X.509
// certificate). It is a few lines of DER: an ECDSA P-256 key from node:crypto, the certificate
// body written by hand, signed with that key. It names `localhost` and 127.0.0.1 and is its own CA:
// a client that trusts it as `ca` and sets `servername: 'localhost'` checks it as a real one.
import { createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';

export interface SelfSignedCertificate {
  /** PEM, for tls.createServer's `cert` and the client's `ca`. */
  cert: string;
  /** PKCS#8 PEM, for tls.createServer's `key`. */
  key: string;
  /** What the certificate is, for reports: 'ECDSA P-256, self-signed, CN=…, valid …'. */
  description: string;
}

export interface CertificateOptions {
  commonName?: string;
  dnsNames?: readonly string[];
  /** IPv4 addresses, dotted. */
  ipAddresses?: readonly string[];
  validForMs?: number;
}

export function selfSignedCertificate(options: CertificateOptions = {}): SelfSignedCertificate {
  const { commonName = 'webgpu-local-sgd throwaway', dnsNames = ['localhost'], ipAddresses = ['127.0.0.1'], validForMs = 24 * 3600_000 } = options;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  // An hour's slack before now, for a peer whose clock is a little behind.
  const notBefore = new Date(now - 3600_000);
  const notAfter = new Date(now + validForMs);
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8String(commonName))));
  const ecdsaWithSha256 = sequence(oid('1.2.840.10045.4.3.2'));
  const subjectAltName = sequence(
    ...dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...ipAddresses.map((ip) => tlv(0x87, ipv4Bytes(ip))),
  );
  const extensions = sequence(
    extension('2.5.29.19', true, sequence(boolean(true))), // basicConstraints CA:TRUE: it signs itself
    extension('2.5.29.17', false, subjectAltName),
  );
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // version 3
    integer(serialNumber()),
    ecdsaWithSha256,
    name,
    sequence(utcTime(notBefore), utcTime(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, extensions),
  );
  // For an EC key node:crypto's signature is already the DER Ecdsa-Sig-Value that X.509 wants.
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, ecdsaWithSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const cert = pem('CERTIFICATE', der);
  checkCertificate(cert, publicKey, dnsNames, ipAddresses);
  return {
    cert,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    description: `ECDSA P-256, self-signed, CN=${commonName}, SAN ${[...dnsNames, ...ipAddresses].join(', ')}, valid ${notBefore.toISOString()} to ${notAfter.toISOString()}`,
  };
}

/** Fails here, naming the fault, rather than as an opaque handshake error in a child process. */
function checkCertificate(cert: string, publicKey: KeyObject, dnsNames: readonly string[], ipAddresses: readonly string[]): void {
  const x509 = new X509Certificate(cert);
  if (!x509.verify(createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })))) throw new Error('self-signed certificate: its signature does not verify with its own key (a DER encoding fault in bench/lib/self-signed-certificate.ts)');
  for (const d of dnsNames) if (x509.checkHost(d) !== d) throw new Error(`self-signed certificate: does not match host ${d}; subjectAltName is ${x509.subjectAltName}`);
  for (const ip of ipAddresses) if (x509.checkIP(ip) !== ip) throw new Error(`self-signed certificate: does not match IP ${ip}; subjectAltName is ${x509.subjectAltName}`);
}

// ---- DER, as much as a certificate needs ----

function tlv(tag: number, value: Uint8Array): Buffer {
  const n = value.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), value]);
}

const sequence = (...items: Uint8Array[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Uint8Array[]) => tlv(0x31, Buffer.concat(items));
const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const utf8String = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

/** A non-negative INTEGER from big-endian bytes: a leading 0 keeps a set top bit from reading as a sign. */
function integer(bytes: Uint8Array): Buffer {
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first! + second!];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), tlv(0x04, value));
}

/** UTCTime (YYMMDDHHMMSSZ) is what RFC 5280 asks for up to 2049. */
function utcTime(date: Date): Buffer {
  if (date.getUTCFullYear() >= 2050) throw new Error(`self-signed certificate: ${date.toISOString()} needs GeneralizedTime, which this writer does not do; shorten validForMs`);
  return tlv(0x17, Buffer.from(date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z', 'ascii'));
}

/** 16 random bytes, positive and non-zero as RFC 5280 asks. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes;
}

function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`self-signed certificate: "${ip}" is not a dotted IPv4 address`);
  return Buffer.from(parts);
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}
