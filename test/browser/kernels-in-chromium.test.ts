// Every kernel test file (test/kernels/) runs in headless Chromium as well as in Node, against the
// same float64 references and bounds, so each kernel is proven on a second WebGPU implementation.
// The page (harness.ts) loads the browser build of each file (dist/browser/, scripts/build-browser.mjs)
// from a loopback server, runs it, and returns every test's result; this file fails listing each
// in-page failure. TEST_BROWSER_ADAPTER=swiftshader runs on SwiftShader instead of GL ES on lavapipe.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { BROWSER_ADAPTERS, browserAdapterFromEnv, launchChromium } from '../helpers/chromium.js';
import { serveStatic } from '../helpers/static-server.js';
import { BASE_SEED } from '../helpers/random.js';
import { countNodeKernelTests } from './node-kernel-count.js';
import type { FileResult, KernelTestsApi } from './harness.js';

const test = suite('kernel tests in headless Chromium');

/** dist/, from this bundle at dist/test/browser/. */
const DIST = fileURLToPath(new URL('../../', import.meta.url));
/** The slowest file (matmul) took 4–26 s in the page on this busy 2-core machine. */
const FILE_TIMEOUT_MS = 180_000;

type Api = { kernelTests: KernelTestsApi };

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('every kernel test passes in the page too, and none is dropped on the way', async () => {
  const adapter = browserAdapterFromEnv();
  const files = readdirSync(join(DIST, 'test/kernels')).filter((f) => f.endsWith('.test.js')).map((f) => f.replace(/\.test\.js$/, '')).sort();
  assert.ok(files.length > 0, `no kernel tests in ${join(DIST, 'test/kernels')}: run node build.mjs`);
  const server = await serveStatic(join(DIST, 'browser'));
  const browser = await launchChromium(adapter);
  const pageErrors: string[] = [];
  try {
    const page: Page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    const { featureLevel, expect } = BROWSER_ADAPTERS[adapter];
    await page.goto(`${server.url}harness.html?featureLevel=${featureLevel}&seed=${BASE_SEED}&quiet=1`);
    await page.waitForFunction(() => 'kernelTests' in globalThis, null, { timeout: 30_000 });
    const name = await within(page.evaluate(() => (globalThis as unknown as Api).kernelTests.adapter()), 60_000, 'opening the page\'s GPU device');
    console.log(`  Chromium adapter: ${name} (${adapter})`);
    assert.match(name, expect, `Chromium gave "${name}", not the ${adapter} adapter asked for`);

    const failures: string[] = [];
    let recorded = 0;
    let passed = 0;
    for (const file of files) {
      const start = Date.now();
      const result: FileResult = await within(
        page.evaluate((f) => (globalThis as unknown as Api).kernelTests.runFile(f), file), FILE_TIMEOUT_MS, `kernels/${file} in the page`);
      recorded += result.recorded;
      assert.ok(result.recorded > 0, `kernels/${file} recorded no tests in the page`);
      assert.is(result.results.length, result.recorded, `kernels/${file}: ${result.recorded} tests recorded but ${result.results.length} ran`);
      for (const r of result.results) {
        if (r.passed) passed++;
        else failures.push(`${file} › ${r.suite} › ${r.name}\n      ${r.error}`);
      }
      if (process.env.TEST_QUIET !== '1') console.log(`  ${file}: ${result.results.filter((r) => r.passed).length}/${result.recorded} in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
    // Every problem in one message: a count mismatch must not hide which tests failed.
    const problems: string[] = [];
    const inNode = await countNodeKernelTests(DIST, files);
    if (recorded !== inNode) problems.push(`the page recorded ${recorded} kernel tests but Node's build of the same files holds ${inNode}`);
    if (failures.length) problems.push(`${failures.length} of ${recorded} kernel tests failed in Chromium on ${name}:\n    ${failures.join('\n    ')}`);
    if (pageErrors.length) problems.push(`the page reported errors:\n    ${pageErrors.join('\n    ')}`);
    if (problems.length) assert.unreachable(`${problems.join('\n  ')}\n  (TEST_SEED=${BASE_SEED})`);
    assert.is(passed, inNode);
  } finally {
    await browser.close();
    await server.close();
  }
});

test.run();
