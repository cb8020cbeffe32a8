// A browser tab closed mid-run is a lost worker, and --on-worker-failure says what follows: abort
// stops the run naming the tab, continue finishes without it, respawn seats the next tab that opens
// the link in the lost rank, from the last average.
import type { Browser } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { within } from '../comm/fixtures/procs.js';
import { browserAdapterFromEnv, launchChromium } from '../helpers/chromium.js';
import { childPids, isAlive } from '../helpers/processes.js';
import { openTab, startTabRun, tabFact, tabStatus, waitForTabState, waitForTabStep } from '../helpers/tab-run.js';

const test = suite('browser tabs lost mid-run, never coming, or alone');
let browser: Browser;
test.before(async () => {
  browser = await launchChromium(browserAdapterFromEnv());
});
test.after(async () => {
  await browser?.close();
});

/** One process and two tabs on a small synthetic task: short, and the tabs are ranks 1 and 2. */
const SMALL = ['--procs', '1', '--browser-workers', '2', '--data', 'synthetic', '--synthetic-samples', '3000', '--synthetic-features', '32',
  '--batch-size', '16', '--max-steps', '120', '--local-sgd-steps', '4', '--log-every', '5', '--worker-timeout', '20'];

/**
 * Starts the run, seats two tabs, and closes the one holding rank 2 when it has shown step 20. Which
 * tab that is comes from the page: the tabs race to join, so the one opened second may be rank 1.
 */
async function closeATab(policy: string) {
  const run = startTabRun([...SMALL, '--on-worker-failure', policy]);
  const link = await within(60_000, run.link, 'the join link');
  const tabs = [await openTab(browser, link), await openTab(browser, link)];
  for (const tab of tabs) await waitForTabState(tab, ['training'], 90_000);
  const ranks = await Promise.all(tabs.map((tab) => tabFact(tab, 'Rank')));
  const leaving = ranks.indexOf('2 of 3');
  assert.ok(leaving >= 0 && ranks.includes('1 of 3'), `the tabs' ranks: ${ranks.join(', ')}`);
  await waitForTabStep(tabs[leaving]!, 20, 60_000);
  await tabs[leaving]!.context().close();
  return { run, link, survivor: tabs[1 - leaving]! };
}

test('abort: the run stops with an error that names the tab that left', async () => {
  const { run, survivor } = await closeATab('abort');
  const finished = await within(60_000, run.done, 'the aborted run');
  assert.is.not(finished.code, 0);
  assert.ok(/worker rank 2 left before sending done: it was the browser tab at 127\.0\.0\.1 port \d+ \(/.test(finished.stderr), finished.stderr);
  assert.is(await waitForTabState(survivor, ['failed', 'left', 'done'], 30_000) === 'done', false, 'the other tab must not claim the run finished');
});

test('continue: the run finishes with the process and the remaining tab', async () => {
  const { run, survivor } = await closeATab('continue');
  const finished = await within(120_000, run.done, 'the run that continued');
  assert.is(finished.code, 0, finished.stderr);
  assert.match(finished.stderr, /worker rank 2 lost after step \d+ \(left before sending done: it was the browser tab at 127\.0\.0\.1.*continuing with 2 of 3 workers/);
  assert.is(await waitForTabState(survivor, ['done', 'failed'], 30_000), 'done', await tabStatus(survivor));
});

test('respawn: the next tab to open the link takes over the lost rank and the run finishes', async () => {
  const { run, link, survivor } = await closeATab('respawn');
  await within(30_000, (async () => {
    while (!/waits for a new browser tab/.test(run.stderr())) await new Promise((resolve) => setTimeout(resolve, 100));
  })(), 'the run asking for a new tab');
  const newcomer = await openTab(browser, link);
  assert.is(await waitForTabState(newcomer, ['training', 'done'], 90_000) !== undefined, true);
  const finished = await within(120_000, run.done, 'the respawned run');
  assert.is(finished.code, 0, finished.stderr);
  assert.match(finished.stderr, /the next browser tab to open the join link takes it over from the parameters averaged at step \d+/);
  for (const tab of [survivor, newcomer]) assert.is(await waitForTabState(tab, ['done', 'failed'], 30_000), 'done', await tabStatus(tab));
});

test('a tab whose GPU process crashes reports its lost device and is dropped (continue)', async () => {
  // A browser of its own: crashing the GPU process takes every tab of that browser with it.
  const own = await launchChromium(browserAdapterFromEnv());
  try {
    const run = startTabRun(['--procs', '1', '--browser-workers', '1', ...SMALL.slice(4), '--on-worker-failure', 'continue']);
    const tab = await openTab(own, await within(60_000, run.link, 'the join link'));
    await waitForTabState(tab, ['training'], 90_000);
    await waitForTabStep(tab, 20, 60_000);
    await (await own.newBrowserCDPSession()).send('Browser.crashGpuProcess');
    const finished = await within(120_000, run.done, 'the run that lost a tab\'s device');
    assert.is(finished.code, 0, finished.stderr);
    assert.match(finished.stderr, /worker rank 1 lost after step \d+ \(.*it reported: this tab lost its WebGPU device/);
    assert.is(await waitForTabState(tab, ['failed'], 30_000), 'failed');
    assert.match(await tabStatus(tab), /This tab lost its GPU device/);
  } finally {
    await own.close();
  }
});

test('--procs 0: two tabs alone train the run to its end (rank 0 is a tab) and agree on the final weights', async () => {
  const run = startTabRun(['--procs', '0', ...SMALL.slice(2)]);
  const link = await within(60_000, run.link, 'the join link');
  const tabs = [await openTab(browser, link), await openTab(browser, link)];
  const finished = await within(120_000, run.done, 'the run of tabs only');
  assert.is(finished.code, 0, finished.stderr);
  assert.match(finished.stdout, /done: 120 optimizer steps \(Local SGD, K=4, 2 workers\)/);
  const digests = await Promise.all(tabs.map(async (tab) => {
    assert.is(await waitForTabState(tab, ['done', 'failed'], 30_000), 'done', await tabStatus(tab));
    return tabFact(tab, 'Final weights (SHA-256)');
  }));
  assert.ok(digests[0] && digests[0] === digests[1], `final weights: ${digests.join(' vs ')}`);
});

test('no tab within --rendezvous-timeout: the run stops, naming the ranks nobody took, and leaves no worker process behind', async () => {
  const run = startTabRun([...SMALL, '--rendezvous-timeout', '3']);
  // The worker process the run starts for rank 0, seen while it lives.
  const workers = new Set<number>();
  const poll = setInterval(() => childPids(run.pid).forEach((pid) => workers.add(pid)), 100);
  await within(60_000, run.link, 'the join link');
  const finished = await within(60_000, run.done, 'the run nobody joined').finally(() => clearInterval(poll));
  assert.is.not(finished.code, 0);
  assert.match(finished.stderr, /no browser tab took ranks 1, 2 within 3 s \(--rendezvous-timeout\): open the join link in a browser with WebGPU/);
  assert.ok(workers.size > 0, 'the rank 0 worker process was never seen');
  assert.equal([...workers].filter(isAlive), [], 'worker processes left behind');
});

test.run();
