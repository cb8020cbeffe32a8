// Runs of dist/train.js with browser workers: the run as a child process, its join link read from
// its stderr, and tabs opened in a real headless Chromium (chromium.ts) that join it.
import type { Browser, Page } from 'playwright-core';
import type { TabState } from '../../src/browser/tab-view.js';
import { BROWSER_ADAPTERS, browserAdapterFromEnv } from './chromium.js';
import { startTrain, type Finished } from './processes.js';

export interface TabRun {
  /** The link the run printed (http://127.0.0.1:PORT/#token=…). */
  link: Promise<string>;
  done: Promise<Finished>;
  /** Everything the run has written to stderr so far. */
  stderr(): string;
  kill(): void;
  pid: number;
}

/** The link line's pattern (browser-workers.ts prints it). */
const LINK = /open this link in a browser with WebGPU\n\s+(https?:\/\/\S+#token=[0-9a-f]+)/;

export function startTabRun(args: string[], env: Record<string, string> = {}): TabRun {
  const { child, done } = startTrain(args, env);
  let stderr = '';
  const link = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      stderr += d;
      const found = LINK.exec(stderr);
      if (found) resolve(found[1]!);
    });
    void done.then((f) => reject(new Error(`the run ended (code ${f.code}) before printing a join link:\n${f.stderr}`)));
  });
  link.catch(() => {}); // a caller that never asks for it is told by `done`
  return { link, done, stderr: () => stderr, kill: () => child.kill('SIGKILL'), pid: child.pid! };
}

/**
 * Opens the join link in a fresh context (its own storage, like another person's browser), asking
 * for the adapter the tests use (TEST_BROWSER_ADAPTER, chromium.ts): the page takes a full adapter
 * by default, which headless Chromium serves with SwiftShader even where GL ES on lavapipe is there.
 */
export async function openTab(browser: Browser, link: string, adapter = browserAdapterFromEnv()): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  const page = await context.newPage();
  const featureLevel = BROWSER_ADAPTERS[adapter].featureLevel;
  await page.goto(featureLevel === 'compatibility' ? link.replace('/#', '/?featureLevel=compatibility#') : link);
  return page;
}

export async function tabState(page: Page): Promise<TabState> {
  return (await page.evaluate(() => document.body.dataset.state)) as TabState;
}

/** Waits (up to `ms`) until the page's state is one of `states`; fails naming what the page says. */
export async function waitForTabState(page: Page, states: TabState[], ms: number): Promise<TabState> {
  const selector = states.map((s) => `body[data-state="${s}"]`).join(', ');
  try {
    await page.waitForSelector(selector, { timeout: ms, state: 'attached' });
  } catch {
    throw new Error(`the tab did not reach ${states.join(' or ')} within ${ms / 1000} s: it is ${await tabState(page)}, saying "${await tabStatus(page)}"`);
  }
  return tabState(page);
}

export async function tabStatus(page: Page): Promise<string> {
  return page.evaluate(() => document.getElementById('status')?.textContent ?? '');
}

/** The value of one line of the page's facts table ("Step", "Final weights (SHA-256)", …). */
export async function tabFact(page: Page, name: string): Promise<string | undefined> {
  return page.evaluate((wanted) => {
    const terms = Array.from(document.querySelectorAll('#facts dt'));
    const term = terms.find((t) => t.textContent === wanted);
    return term?.nextElementSibling?.textContent ?? undefined;
  }, name);
}

/** The optimizer step the page last showed (0 before its first log line). */
export async function tabStep(page: Page): Promise<number> {
  const text = await tabFact(page, 'Step');
  return text ? Number(text.split(' ')[0]) : 0;
}

/** Waits until the page has shown step `step` or later. */
export async function waitForTabStep(page: Page, step: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while ((await tabStep(page)) < step) {
    if (performance.now() > deadline) throw new Error(`the tab did not reach step ${step} within ${ms / 1000} s: it is ${await tabState(page)}, saying "${await tabStatus(page)}"`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
