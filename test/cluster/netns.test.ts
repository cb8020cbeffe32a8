import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leftovers, NETNS_SCRIPT, netnsScript, withNamespaces, type Namespace, type NetnsCluster } from '../helpers/netns.js';
import { startNode, type Finished } from '../helpers/processes.js';
import { isAlive, within } from '../comm/fixtures/procs.js';

const test = suite('netns: real rate-limited TCP links between network namespaces (scripts/netns-cluster.sh)');
const BULK = fileURLToPath(new URL('./fixtures/tcp-bulk.js', import.meta.url));

/** The root namespace, where this test runs: reached at the bridge's address. */
const HOST = 'host';
type Place = Namespace | typeof HOST;

interface Received {
  received: number;
  seconds: number;
  bitsPerSecond: number;
}

function start(cluster: NetnsCluster, where: Place, args: string[]): { child: ChildProcess; done: Promise<Finished> } {
  return where === HOST ? startNode(BULK, args) : cluster.startNode(where, BULK, args);
}

/** The first JSON line `child` prints that has `key`, within `ms`. */
function lineWith<T>(child: ChildProcess, key: string, ms: number, what: string): Promise<T> {
  let buffered = '';
  const found = new Promise<T>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      buffered += d;
      for (const line of buffered.split('\n').slice(0, -1)) {
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          reject(new Error(`${what} printed a line that is not JSON: ${line}`));
          return;
        }
        if (key in record) resolve(record as T);
      }
    });
    child.on('close', () => reject(new Error(`${what} ended without printing ${key}: ${buffered}`)));
  });
  return within(ms, found, what);
}

/** Moves `bytes` over one TCP connection from `from` to `to`; the receiving end measures the rate. */
async function transfer(cluster: NetnsCluster, from: Place, to: Place, bytes: number): Promise<Received> {
  const address = (p: Place): string => (p === HOST ? cluster.hostAddress : p.address);
  const server = start(cluster, to, ['serve', address(to), 'receive', String(bytes)]);
  try {
    const { port } = await lineWith<{ port: number }>(server.child, 'port', 15_000, `server in ${name(to)}`);
    const received = lineWith<Received>(server.child, 'received', 60_000, `receiving ${bytes} bytes in ${name(to)}`);
    const client = start(cluster, from, ['connect', address(to), String(port), 'send', String(bytes), '10000']);
    const sent = await within(60_000, client.done, `sending ${bytes} bytes from ${name(from)}`);
    assert.is(sent.code, 0, `sender in ${name(from)} failed: ${sent.stdout}${sent.stderr}`);
    const result = await received;
    assert.is(result.received, bytes, `${name(to)} received all the bytes`);
    return result;
  } finally {
    server.child.kill('SIGTERM');
    await within(10_000, server.done, `server in ${name(to)} to stop`);
  }
}

function name(p: Place): string {
  return p === HOST ? 'the root namespace' : p.name;
}

const RATES = { '20mbit': 20e6, '100mbit': 100e6 } as const;
/**
 * Goodput must lie within this band of the link rate. tbf counts whole frames, so TCP's payload is
 * about 96 % of the rate (1448 of 1514 bytes per frame); a loaded 2-core machine may fall further
 * behind, never ahead. An unlimited veth moves 2–3 Gbit/s here, 20× over the top.
 */
const BAND = { low: 0.6, high: 1.1 };
/** Bytes for about half a second at each rate: long enough that tbf's 16–50 KB burst is a few per cent. */
const seconds = 0.5;
const bytesFor = (bits: number): number => Math.round((bits * seconds) / 8);

function assertWithinBand(result: Received, bits: number, what: string): void {
  const ratio = result.bitsPerSecond / bits;
  assert.ok(ratio >= BAND.low && ratio <= BAND.high,
    `${what}: ${(result.bitsPerSecond / 1e6).toFixed(1)} Mbit/s over a ${bits / 1e6} Mbit/s link (${(ratio * 100).toFixed(0)} %, expected ${BAND.low * 100}–${BAND.high * 100} %)`);
}

const mbit = (r: Received): string => `${(r.bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;

test('TCP between two namespaces moves at the link rate, both ways, at 20mbit and at 100mbit', async () => {
  for (const [rate, bits] of Object.entries(RATES)) {
    await withNamespaces(2, rate, async (cluster) => {
      const [a, b] = cluster.namespaces as [Namespace, Namespace];
      const there = await transfer(cluster, a, b, bytesFor(bits));
      const back = await transfer(cluster, b, a, bytesFor(bits));
      console.log(`  ${rate}: ${a.name} → ${b.name} ${mbit(there)}, ${b.name} → ${a.name} ${mbit(back)}`);
      assertWithinBand(there, bits, `${rate}, ${a.name} → ${b.name}`);
      assertWithinBand(back, bits, `${rate}, ${b.name} → ${a.name}`);
    });
  }
});

test('each direction of a link is limited by its own qdisc: the bridge side toward a namespace, its eth0 away from it; without them it is fast', async () => {
  const bits = RATES['100mbit'];
  await withNamespaces(1, '100mbit', async (cluster) => {
    const [ns] = cluster.namespaces as [Namespace];
    // From the root namespace the traffic passes only one qdisc, so each one is measured alone.
    const inward = await transfer(cluster, HOST, ns, bytesFor(bits));
    const outward = await transfer(cluster, ns, HOST, bytesFor(bits));
    console.log(`  100mbit: root → ${ns.name} ${mbit(inward)} (bridge-side qdisc), ${ns.name} → root ${mbit(outward)} (eth0 qdisc)`);
    assertWithinBand(inward, bits, `root namespace → ${ns.name}, through ${cluster.prefix}v0's qdisc alone`);
    assertWithinBand(outward, bits, `${ns.name} → root namespace, through eth0's qdisc alone`);
    // The band's top is what catches a missing limit: show that an unlimited link lands above it.
    execFileSync('tc', ['qdisc', 'del', 'dev', `${cluster.prefix}v0`, 'root']);
    const unlimited = await transfer(cluster, HOST, ns, 4 * bytesFor(bits));
    console.log(`  without the qdisc: root → ${ns.name} ${mbit(unlimited)}`);
    assert.ok(unlimited.bitsPerSecond > BAND.high * bits * 2, `without its qdisc the link moved only ${mbit(unlimited)}; the band could not tell a missing limit`);
  });
});

test('down removes every namespace, bridge and veth of the prefix and the processes inside, also when the body throws; down again is harmless', async () => {
  for (const throws of [false, true]) {
    let prefix = '';
    let pid = 0;
    const body = async (cluster: NetnsCluster): Promise<void> => {
      prefix = cluster.prefix;
      const server = cluster.startNode(cluster.namespaces[1]!, BULK, ['serve', '0.0.0.0', 'receive', '1']);
      await lineWith(server.child, 'port', 15_000, 'server in the second namespace');
      pid = server.child.pid!;
      assert.equal(leftovers(prefix).sort(), [`${prefix}0`, `${prefix}1`, `${prefix}br`, `${prefix}v0`, `${prefix}v1`].sort(), 'what up made');
      if (throws) throw new Error('the body failed on purpose');
    };
    if (throws) {
      try {
        await withNamespaces(2, '100mbit', body);
        assert.unreachable('withNamespaces should rethrow the body\'s error');
      } catch (e) {
        assert.is((e as Error).message, 'the body failed on purpose', 'the body\'s own error, unwrapped');
      }
    } else {
      await withNamespaces(2, '100mbit', body);
    }
    assert.equal(leftovers(prefix), [], `left behind after ${throws ? 'a throwing' : 'a normal'} body`);
    assert.not.ok(isAlive(pid), `the server (pid ${pid}) in ${prefix}1 outlived down`);
    const status = await netnsScript(['status', prefix]);
    assert.is(status.code, 1, `status of a removed cluster exits 1: ${status.stdout}`);
    const again = await netnsScript(['down', prefix]);
    assert.is(again.code, 0, `down twice: ${again.stderr}`);
  }
});

test('cutLink makes a connection to that namespace fail within the client\'s timeout, and restoreLink brings it back', async () => {
  await withNamespaces(2, '100mbit', async (cluster) => {
    const [a, b] = cluster.namespaces as [Namespace, Namespace];
    const server = cluster.startNode(b, BULK, ['serve', '0.0.0.0', 'send', '1024']);
    const { port } = await lineWith<{ port: number }>(server.child, 'port', 15_000, `server in ${b.name}`);
    const fetch = async (): Promise<Finished> =>
      within(30_000, cluster.startNode(a, BULK, ['connect', b.address, String(port), 'receive', '1024', '2000']).done, `client in ${a.name}`);

    const before = await fetch();
    assert.is(before.code, 0, `before the cut: ${before.stdout}${before.stderr}`);
    assert.match(before.stdout, '"received":1024');

    cluster.cutLink(b);
    const cutAt = Date.now();
    const during = await fetch();
    assert.is(during.code, 1, `with ${b.name}'s link cut the client should fail: ${during.stdout}${during.stderr}`);
    assert.match(during.stdout, '"error"');
    assert.ok(Date.now() - cutAt < 20_000, 'the failure came within the client\'s own timeout, not much later');

    cluster.restoreLink(b);
    const after = await fetch();
    assert.is(after.code, 0, `after restoreLink: ${after.stdout}${after.stderr}`);
    assert.match(after.stdout, '"received":1024');
  });
});

test('up refuses a prefix in use and leaves that cluster as it was', async () => {
  await withNamespaces(1, '20mbit', async (cluster) => {
    const again = await netnsScript(['up', '2', '100mbit', cluster.prefix]);
    assert.is.not(again.code, 0);
    assert.match(again.stderr, `prefix ${cluster.prefix} is in use`);
    assert.match(again.stderr, `down ${cluster.prefix}`, 'says how to free it');
    const status = await netnsScript(['status', cluster.prefix]);
    assert.is(status.code, 0);
    assert.match(status.stdout, new RegExp(`^namespace ${cluster.prefix}0 ${cluster.namespaces[0]!.address.replaceAll('.', '\\.')} rate 20Mbit$`, 'm'));
    assert.not.match(status.stdout, `${cluster.prefix}1`, 'the refused up made nothing');
  });
});

test('an up that fails half-way (here: tc refuses the qdisc) says why and removes what it had made', async () => {
  const prefix = `nsh${process.pid}x`;
  // A tc that fails the way a kernel without sch_tbf does, first on PATH; everything else is real.
  const bin = mkdtempSync(join(tmpdir(), 'netns-path-'));
  try {
    writeFileSync(join(bin, 'tc'), '#!/bin/sh\necho "Error: Specified qdisc kind is unknown." >&2\nexit 2\n', { mode: 0o755 });
    const result = await netnsScript(['up', '2', '100mbit', prefix], 30_000, { PATH: `${bin}:${process.env.PATH}` });
    assert.is(result.code, 1, result.stdout);
    assert.match(result.stderr, 'Specified qdisc kind is unknown');
    assert.match(result.stderr, 'tbf');
    assert.match(result.stderr, 'removing what it made');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  assert.equal(leftovers(prefix), [], 'the bridge, namespace and veth made before tc failed');
});

test('up refuses bad arguments, naming the value and an example, and makes nothing', async () => {
  const prefix = `nsb${process.pid}x`;
  const cases: Array<[string[], string]> = [
    [['up', '2', '100', prefix], '"100"'], [['up', '2', 'fast', prefix], '"fast"'], [['up', '2', '10GB', prefix], '"10GB"'],
    [['up', '0', '100mbit', prefix], '"0"'], [['up', '101', '100mbit', prefix], '"101"'], [['up', 'two', '100mbit', prefix], '"two"'],
    [['up', '2', '100mbit', 'Caps'], '"Caps"'], [['up', '2', '100mbit', 'ends1'], '"ends1"'], [['up', '2', '100mbit', 'abcdefghijklm'], '"abcdefghijklm"'],
  ];
  for (const [args, named] of cases) {
    const result = await netnsScript(args);
    assert.is.not(result.code, 0, args.join(' '));
    assert.ok(result.stderr.includes(named) && /e\.g\./.test(result.stderr), `${args.join(' ')}: ${result.stderr}`);
  }
  assert.equal(leftovers(prefix), []);
});

test('without root, or without iproute2, up fails saying what is missing and how to get it', async () => {
  // setpriv drops to nobody for the script alone; the namespace it would make needs root.
  const noRoot = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', NETNS_SCRIPT, 'up', '1', '10mbit', 'nstnoroot'], { encoding: 'utf8', timeout: 30_000 });
  assert.is(noRoot.status, 1, `as nobody: ${noRoot.stdout}${noRoot.stderr}`);
  assert.match(noRoot.stderr, 'need root');

  // A PATH with everything the script uses except iproute2's ip and tc.
  const bin = mkdtempSync(join(tmpdir(), 'netns-path-'));
  try {
    for (const tool of ['bash', 'id', 'awk', 'grep', 'sed', 'sort', 'seq', 'cut', 'tr', 'sleep', 'flock', 'nsenter']) {
      symlinkSync(execFileSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    }
    const result = await netnsScript(['up', '1', '10mbit', 'nstnoip'], 30_000, { PATH: bin });
    assert.is(result.code, 1);
    assert.match(result.stderr, 'missing ip tc');
    assert.match(result.stderr, 'apt-get install -y iproute2');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  assert.equal(leftovers('nstnoroot'), []);
  assert.equal(leftovers('nstnoip'), []);
});

test.run();
