// openBrowserGpu (src/gpu/browser-device.ts) in a real headless Chromium: without the WebGPU flags
// it fails naming the flags that work, and with them it opens the adapter asked for.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROWSER_ADAPTERS, launchChromium, type BrowserAdapter } from '../helpers/chromium.js';
import { serveStatic } from '../helpers/static-server.js';
import type { KernelTestsApi } from './harness.js';

const test = suite('openBrowserGpu in Chromium');

/** dist/browser/, from this bundle at dist/test/browser/. */
const PAGE_ROOT = fileURLToPath(new URL('../../browser/', import.meta.url));

/** What the page's test device says it is, or the message it failed with. */
async function openInPage(adapter: BrowserAdapter, webgpu: boolean, featureLevel: string): Promise<{ name?: string; error?: string }> {
  const server = await serveStatic(PAGE_ROOT);
  const browser = await launchChromium(adapter, { webgpu });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}harness.html?featureLevel=${featureLevel}&quiet=1`);
    await page.waitForFunction(() => 'kernelTests' in globalThis, null, { timeout: 30_000 });
    return await page.evaluate(async () => {
      try {
        return { name: await (globalThis as unknown as { kernelTests: KernelTestsApi }).kernelTests.adapter() };
      } catch (e) {
        return { error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    });
  } finally {
    await browser.close();
    await server.close();
  }
}

test('a missing Chromium fails naming the script that installs it', async () => {
  try {
    await launchChromium('gles-lavapipe', { executablePath: '/nonexistent/chromium' });
  } catch (e) {
    assert.match((e as Error).message, /^\/nonexistent\/chromium is missing: .*sudo bash scripts\/setup-browser\.sh/);
    return;
  }
  assert.unreachable('launched a Chromium that does not exist');
});

test('without the WebGPU flags it throws a GpuError that names the flags', async () => {
  const { name, error } = await openInPage('gles-lavapipe', false, 'core');
  assert.is(name, undefined, `opened "${name}" although WebGPU was off`);
  assert.match(error ?? '', /^GpuError: navigator\.gpu returned no adapter/);
  assert.match(error ?? '', /--enable-unsafe-webgpu/);
  assert.match(error ?? '', /--use-webgpu-adapter=opengles/);
});

test('the GL ES flags and featureLevel compatibility give lavapipe; featureLevel core there gives SwiftShader', async () => {
  const gles = await openInPage('gles-lavapipe', true, 'compatibility');
  assert.match(gles.name ?? gles.error ?? '', BROWSER_ADAPTERS['gles-lavapipe'].expect);
  // Why the page must ask for compatibility: the core request succeeds too, with another adapter.
  const core = await openInPage('gles-lavapipe', true, 'core');
  assert.match(core.name ?? core.error ?? '', BROWSER_ADAPTERS.swiftshader.expect);
});

test.run();
