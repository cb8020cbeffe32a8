import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type ConnectionOptions } from 'node:tls';
import { selfSignedCertificate, type SelfSignedCertificate } from '../../bench/lib/self-signed-certificate.js';

const test = suite('bench/lib/self-signed-certificate: a throwaway TLS certificate made without openssl');

test('the certificate parses, is signed by its own key, is a CA and names localhost and 127.0.0.1 for a day', () => {
  const { cert, key, description } = selfSignedCertificate();
  const x509 = new X509Certificate(cert);
  assert.ok(x509.verify(createPublicKey(createPrivateKey(key))), 'signature verifies with the key it comes with');
  assert.is(x509.issuer, x509.subject);
  assert.ok(x509.ca, 'basicConstraints CA:TRUE, so a client can trust it as its CA');
  assert.is(x509.checkHost('localhost'), 'localhost');
  assert.is(x509.checkIP('127.0.0.1'), '127.0.0.1');
  assert.is(x509.checkHost('example.com'), undefined);
  const [from, to] = [Date.parse(x509.validFrom), Date.parse(x509.validTo)];
  assert.ok(from < Date.now() && Date.now() < to && to - Date.now() <= 24 * 3600_000 + 60_000, `valid ${x509.validFrom} to ${x509.validTo}`);
  assert.match(description, /^ECDSA P-256, self-signed/);
});

test('two certificates never share a key or a serial number', () => {
  const [a, b] = [new X509Certificate(selfSignedCertificate().cert), new X509Certificate(selfSignedCertificate().cert)];
  assert.is.not(a.serialNumber, b.serialNumber);
  assert.is.not(a.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), b.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
});

test('names long enough to need two-byte DER lengths still make a valid certificate', () => {
  const long = 'n'.repeat(300);
  const { cert, key } = selfSignedCertificate({ commonName: long, dnsNames: ['a.example', 'b.example'], ipAddresses: ['10.0.0.1', '192.168.1.254'] });
  const x509 = new X509Certificate(cert);
  assert.ok(x509.verify(createPublicKey(createPrivateKey(key))));
  assert.is(x509.subject, `CN=${long}`);
  assert.is(x509.subjectAltName, 'DNS:a.example, DNS:b.example, IP Address:10.0.0.1, IP Address:192.168.1.254');
});

test('an address that is not dotted IPv4 is refused with its value', () => {
  assert.throws(() => selfSignedCertificate({ ipAddresses: ['::1'] }), /"::1" is not a dotted IPv4 address/);
});

/** One TLS 1.3 connection to a server holding `served`; resolves with what the client saw. */
async function handshake(served: SelfSignedCertificate, client: Omit<ConnectionOptions, 'host' | 'port'>): Promise<{ authorized: boolean; protocol: string | null; cipher: string } | Error> {
  const server = createServer({ key: served.key, cert: served.cert, minVersion: 'TLSv1.3' }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined); // the refusing client's alert; the client side is what is asserted
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, minVersion: 'TLSv1.3', ...client });
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('TLS handshake took over 20 s')), 20_000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve({ authorized: socket.authorized, protocol: socket.getProtocol(), cipher: socket.getCipher().standardName });
        socket.destroy();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  } finally {
    server.close();
  }
}

test('a TLS 1.3 client that trusts it as its CA and asks for localhost connects, verified', async () => {
  const certificate = selfSignedCertificate();
  const seen = await handshake(certificate, { ca: certificate.cert, servername: 'localhost' });
  if (seen instanceof Error) throw seen;
  assert.ok(seen.authorized);
  assert.is(seen.protocol, 'TLSv1.3');
  assert.match(seen.cipher, /^TLS_/);
});

test('a client that trusts another throwaway certificate refuses the server', async () => {
  const seen = await handshake(selfSignedCertificate(), { ca: selfSignedCertificate().cert, servername: 'localhost' });
  assert.instance(seen, Error, 'the handshake must fail');
  assert.match((seen as NodeJS.ErrnoException).code ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY/);
});

test('a client that asks for a name the certificate does not hold refuses the server', async () => {
  const certificate = selfSignedCertificate();
  const seen = await handshake(certificate, { ca: certificate.cert, servername: 'example.com' });
  assert.instance(seen, Error, 'the handshake must fail');
  assert.is((seen as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

test.run();
