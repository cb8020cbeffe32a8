import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tabPlatform } from '../../src/browser/tab-platform.js';
import { DATA_TICKET_HEADER, dataTicket, ticketMatches } from '../../src/comm/data-ticket.js';
import { newSecret } from '../../src/comm/handshake.js';
import { isFeatureBatch, type Batch } from '../../src/data/batch.js';
import { encodeDataSplit } from '../../src/data/split-codec.js';
import { TabSite } from '../../src/tabs/tab-site.js';
import { trainConfigSchema } from '../../src/train/config.js';
import { loadTrainingData } from '../../src/train/data.js';
import { shardedTrainingData } from '../../src/train/training-data.js';
import { assertBitwiseEqual } from '../helpers/assert.js';

const test = suite('tab site');

function assertSameBatch(a: Batch, b: Batch, what: string): void {
  if (!isFeatureBatch(a) || !isFeatureBatch(b)) throw new Error(`${what}: expected feature batches`);
  assert.is(a.size, b.size, `${what}: size`);
  assertBitwiseEqual(a.x, b.x, `${what}: features`);
  assert.equal(Array.from(a.y), Array.from(b.y), `${what}: labels`);
}
const pageDir = mkdtempSync(join(tmpdir(), 'tab-site-test-'));
writeFileSync(join(pageDir, 'tab.html'), '<!doctype html><title>the page</title>');
writeFileSync(join(pageDir, 'tab.js'), 'console.log("the bundle")');
const secret = newSecret();
const config = trainConfigSchema.parse({ data: 'synthetic', syntheticSamples: 500, syntheticFeatures: 9, syntheticClasses: 3, batchSize: 16, procs: 3 });
let site: TabSite;
let origin: string;
let ticket: string;

test.before(async () => {
  ticket = await dataTicket(secret);
  site = new TabSite({ listen: { host: '127.0.0.1', port: 0 }, pageDir, dataTicket: ticket, data: async () => encodeDataSplit(await loadTrainingData(config)) });
  origin = `http://127.0.0.1:${await site.listen()}`;
});
test.after(async () => {
  await site.close();
  rmSync(pageDir, { recursive: true, force: true });
});

test('a tab gets exactly the batches and held-out set a Node worker of its rank loads from the disk', async () => {
  const fromSite = await tabPlatform(new URL(`${origin}/`), ticket).loadData(config, 2, 3);
  const fromDisk = shardedTrainingData(await loadTrainingData(config), config, 2, 3);
  assert.equal([fromSite.trainSamples, fromSite.testSamples, fromSite.batchesPerEpoch], [fromDisk.trainSamples, fromDisk.testSamples, fromDisk.batchesPerEpoch]);
  for (const position of [0, 1, fromDisk.batchesPerEpoch + 3]) {
    const [a, b] = [fromSite.batchAt(position), fromDisk.batchAt(position)];
    assert.is(a.epoch, b.epoch);
    assertSameBatch(a.batch, b.batch, `batch ${position}`);
  }
  const [evalA, evalB] = [fromSite.evalBatches()[Symbol.iterator](), fromDisk.evalBatches()[Symbol.iterator]()];
  for (let i = 0; ; i++) {
    const [a, b] = [evalA.next(), evalB.next()];
    assert.is(a.done, b.done, `held-out batch ${i}: one set ended first`);
    if (a.done || b.done) break;
    assertSameBatch(a.value, b.value, `held-out batch ${i}`);
  }
});

test('the data goes only to a request that shows the run\'s ticket', async () => {
  const plain = await fetch(`${origin}/data/split.safetensors`);
  assert.is(plain.status, 403);
  assert.match(await plain.text(), /only to tabs that hold its join token/);
  const otherRun = await fetch(`${origin}/data/split.safetensors`, { headers: { [DATA_TICKET_HEADER]: await dataTicket(newSecret()) } });
  assert.is(otherRun.status, 403);
  assert.not.ok(ticketMatches(ticket, ticket.slice(1)), 'a shorter ticket matches');
  const other = tabPlatform(new URL(`${origin}/`), 'f'.repeat(64));
  try {
    await other.loadData(config, 0, 3);
    assert.unreachable('a tab with the wrong ticket got the data');
  } catch (error) {
    assert.match((error as Error).message, /the master refused the run's data at \/data\/split.safetensors: HTTP 403/);
  }
});

test('the page and its bundle are served with a policy that allows only their own script and this server', async () => {
  const page = await fetch(`${origin}/`);
  assert.is(page.status, 200);
  assert.is(await page.text(), '<!doctype html><title>the page</title>');
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'.*connect-src 'self'/);
  const script = await fetch(`${origin}/tab.js`);
  assert.is(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
});

test('anything else is refused: other paths (traversal included), other methods', async () => {
  for (const path of ['/index.js', '/../package.json', '/%2e%2e/package.json', '/data/', '/tab.js/x']) {
    assert.is((await fetch(`${origin}${path}`)).status, 404, path);
  }
  const post = await fetch(`${origin}/`, { method: 'POST', body: 'x' });
  assert.is(post.status, 405);
  assert.is(post.headers.get('allow'), 'GET, HEAD');
});

test('a missing page says how to build it', () => {
  assert.throws(() => new TabSite({ listen: { host: '127.0.0.1', port: 0 }, pageDir: join(pageDir, 'nowhere'), dataTicket: ticket, data: async () => new Uint8Array() }),
    /the browser workers' page .*nowhere\/tab.html is missing \(ENOENT\); build it with: node build.mjs/);
});

test.run();
