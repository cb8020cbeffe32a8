// The browser workers' page beyond loopback: only with a join token the user keeps and over https
// (browsers give WebGPU and Web Crypto only to secure pages); then a tab that reaches the server by
// another name than the one it listens on still joins, and a run with a token file works.
import { chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { selfSignedCertificate } from '../../bench/lib/self-signed-certificate.js';
import { within } from '../comm/fixtures/procs.js';
import { BROWSER_ADAPTERS, browserAdapterFromEnv, launchChromium } from '../helpers/chromium.js';
import { runTrain } from '../helpers/processes.js';
import { startTabRun, tabStatus, waitForTabState } from '../helpers/tab-run.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('browser workers beyond loopback');
const dir = tempDir();
const token = randomBytes(32).toString('hex');
const tokenFile = dir.file('join.token');
writeFileSync(tokenFile, `${token}\n`);
chmodSync(tokenFile, 0o600);
const SHORT = ['--procs', '1', '--browser-workers', '1', '--data', 'synthetic', '--synthetic-samples', '800', '--synthetic-features', '16',
  '--batch-size', '16', '--max-steps', '20', '--local-sgd-steps', '4'];
let browser: Browser;

test.before(async () => {
  browser = await launchChromium(browserAdapterFromEnv());
});
test.after(async () => {
  await browser?.close();
  dir.remove();
});

test('every interface without a token file, or without TLS, is refused before anything starts, saying what to give', async () => {
  const noToken = await runTrain([...SHORT, '--browser-host', '0.0.0.0']);
  assert.is(noToken.code, 2);
  assert.match(noToken.stderr, /--browser-host 0\.0\.0\.0 serves the join page beyond this machine, so the run needs a join token that you chose and keep: .*--join-token-file join\.token/);
  const noTls = await runTrain([...SHORT, '--browser-host', '0.0.0.0', '--join-token-file', tokenFile]);
  assert.is(noTls.code, 2);
  assert.match(noTls.stderr, /--browser-host 0\.0\.0\.0 needs --tls-cert and --tls-key: browsers give WebGPU and Web Crypto only to https:\/\/ pages/);
  assert.not.match(noTls.stderr, /waiting for/, 'nothing was served');
});

test('on every interface with a token file and TLS, a tab that opens the https page by another name joins and the run finishes', async () => {
  const { cert, key } = selfSignedCertificate();
  writeFileSync(dir.file('cert.pem'), cert);
  writeFileSync(dir.file('key.pem'), key);
  const run = startTabRun([...SHORT, '--browser-host', '0.0.0.0', '--join-token-file', tokenFile, '--tls-cert', dir.file('cert.pem'), '--tls-key', dir.file('key.pem')]);
  const link = await within(60_000, run.link, 'the join link');
  assert.match(link, new RegExp(`^https://[^/]+:\\d+/#token=${token}$`), 'the link carries the token file\'s token');
  // The page as a volunteer would reach it: the machine's address, not the name the link shows.
  const port = new URL(link).port;
  const context = await browser.newContext({ ignoreHTTPSErrors: true }); // the certificate is self-signed
  const page = await context.newPage();
  const featureLevel = BROWSER_ADAPTERS[browserAdapterFromEnv()].featureLevel;
  await page.goto(`https://127.0.0.1:${port}/${featureLevel === 'compatibility' ? '?featureLevel=compatibility' : ''}#token=${token}`);
  const finished = await within(120_000, run.done, 'the run over https');
  assert.is(finished.code, 0, finished.stderr);
  assert.is(await waitForTabState(page, ['done', 'failed'], 30_000), 'done', await tabStatus(page));
  await context.close();
});

test.run();
