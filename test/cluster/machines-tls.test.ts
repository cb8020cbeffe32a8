// Machines over TLS (--tls-cert/--tls-key/--tls-ca) and the rendezvous's own failures: a run over
// TLS ends with the weights of a clear-TCP one; a machine that does not trust the master's
// certificate, or speaks clear TCP to a TLS master, does not join; a master whose other machines
// never come names them; a machine with no master to join says so. All on loopback, bounded.
import { writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selfSignedCertificate } from '../../bench/lib/self-signed-certificate.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { freePort, machineFlags, runMachines, writeToken } from '../helpers/machines.js';
import { runBounded, TRAIN_JS } from '../helpers/processes.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';
import { startTrain } from '../helpers/processes.js';
import { within } from '../comm/fixtures/procs.js';

const dir = tempDir();
const token = writeToken(dir.file('join.token'));
const RUN = [...SMALL_TASK, '--no-shuffle', '--max-steps', '16', '--local-sgd-steps', '4', '--worker-timeout', '20'];

function pemFiles(name: string, ipAddresses = ['127.0.0.1']): string[] {
  const certificate = selfSignedCertificate({ ipAddresses });
  const cert = dir.file(`${name}.crt`);
  const key = dir.file(`${name}.key`);
  writeFileSync(cert, certificate.cert);
  writeFileSync(key, certificate.key, { mode: 0o600 });
  return ['--tls-cert', cert, '--tls-key', key, '--tls-ca', cert];
}

test('over TLS 1.3 the run ends with the weights of a clear-TCP run', async () => {
  const tls = pemFiles('master');
  const clear = dir.file('clear.safetensors');
  const secure = dir.file('tls.safetensors');
  for (const [file, extra] of [[clear, []], [secure, tls]] as const) {
    const runs = await runMachines({ nodes: 2, perNode: 1, token, args: [...RUN, ...extra], nodeArgs: (n) => (n === 0 ? ['--save', file] : []) });
    runs.forEach((r, node) => assert.is(r.code, 0, `node ${node}:\n${r.stderr}`));
    if (extra.length) assert.match(runs[0]!.stderr, /\(TLS\)/, 'the master says it listens with TLS');
  }
  assertBitwiseEqual(readWeights(secure).all, readWeights(clear).all, 'TLS vs clear TCP');
});

test('a machine that does not trust the master\'s certificate, or speaks clear TCP to it, does not join', async () => {
  const port = await freePort();
  const master = startTrain([...machineFlags(2, 1, 0, port, token), ...RUN, ...pemFiles('real'), '--rendezvous-timeout', '8']);
  // Signed by another CA: the certificate check fails on the joining side.
  const untrusting = await runBounded(process.execPath, [TRAIN_JS, ...machineFlags(2, 1, 1, port, token), ...RUN, ...pemFiles('other'), '--rendezvous-timeout', '4'], process.env, 30_000);
  assert.is.not(untrusting.code, 0);
  assert.match(untrusting.stderr, /could not join the master \(node 0 at 127\.0\.0\.1:\d+\)/);
  assert.match(untrusting.stderr, /certificate|self.signed/i, 'the reason names the certificate');
  // Clear TCP to a TLS listener: no handshake ever completes.
  const clear = await runBounded(process.execPath, [TRAIN_JS, ...machineFlags(2, 1, 1, port, token), ...RUN, '--rendezvous-timeout', '4'], process.env, 30_000);
  assert.is.not(clear.code, 0);
  assert.match(clear.stderr, /could not join the master|did not start the run|closed the connection/);
  const m = await within(40_000, master.done, 'the master');
  assert.is.not(m.code, 0);
  assert.match(m.stderr, /node 1 never arrived within 8 s/);
});

test('a master whose other machines never come stops after --rendezvous-timeout, naming them', async () => {
  const port = await freePort();
  const started = Date.now();
  const r = await runBounded(process.execPath, [TRAIN_JS, ...machineFlags(3, 1, 0, port, token), ...RUN, '--rendezvous-timeout', '3'], process.env, 30_000);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /node 1, 2 never arrived within 3 s \(--rendezvous-timeout\)/);
  assert.ok(Date.now() - started < 20_000, 'it stops soon after the timeout');
});

test('a machine with no master to join says so after --rendezvous-timeout', async () => {
  const port = await freePort();
  const r = await runBounded(process.execPath, [TRAIN_JS, ...machineFlags(2, 1, 1, port, token), ...RUN, '--rendezvous-timeout', '2'], process.env, 30_000);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /could not join the master \(node 0 at 127\.0\.0\.1:\d+\) within 2 s \(--rendezvous-timeout\): .*ECONNREFUSED/);
});

test.after(() => dir.remove());
test.run();
