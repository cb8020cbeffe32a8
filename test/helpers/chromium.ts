// Launches Debian's Chromium (/usr/bin/chromium, from scripts/setup-browser.sh) headless with
// WebGPU, through playwright-core: no browser can be downloaded here.
//
// Two adapters are on offer on a machine without a GPU. 'gles-lavapipe' is Mesa's lavapipe reached
// through ANGLE's OpenGL ES on Vulkan, which Chromium serves only as a WebGPU compatibility-mode
// adapter (its Vulkan backend needs VK_EXT_image_drm_format_modifier and
// VK_KHR_external_semaphore_fd, which lavapipe lacks). 'swiftshader' is Chromium's own CPU
// renderer. GL ES on lavapipe is the default: 2–3× SwiftShader's speed, and SwiftShader flushes f32
// subnormals to zero (WGSL allows it), which two kernel tests notice.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export type BrowserAdapter = 'gles-lavapipe' | 'swiftshader';

export const BROWSER_ADAPTERS: Record<BrowserAdapter, {
  flags: string[];
  /** What the page passes to openBrowserGpu (as ?featureLevel=). */
  featureLevel: 'core' | 'compatibility';
  /** The adapter description the page must get, so that a silent fallback fails the test. */
  expect: RegExp;
}> = {
  'gles-lavapipe': {
    flags: ['--use-angle=vulkan', '--use-webgpu-adapter=opengles'],
    featureLevel: 'compatibility',
    expect: /llvmpipe/i,
  },
  swiftshader: { flags: [], featureLevel: 'core', expect: /swiftshader/i },
};

/** TEST_BROWSER_ADAPTER picks the adapter; the default is 'gles-lavapipe'. */
export function browserAdapterFromEnv(value = process.env.TEST_BROWSER_ADAPTER): BrowserAdapter {
  if (!value) return 'gles-lavapipe';
  if (value in BROWSER_ADAPTERS) return value as BrowserAdapter;
  throw new Error(`TEST_BROWSER_ADAPTER must be one of ${Object.keys(BROWSER_ADAPTERS).join(', ')} (got "${value}")`);
}

export interface LaunchOptions {
  /** false leaves WebGPU off, as a browser without the flags has it (for the error paths). */
  webgpu?: boolean;
  /** Another Chromium binary than Debian's. */
  executablePath?: string;
}

export async function launchChromium(adapter: BrowserAdapter, options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: the browser tests drive Debian's Chromium. Install it with: sudo bash scripts/setup-browser.sh`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 60_000,
    args: [
      // Chromium's sandbox needs user namespaces that CI containers and root lack; the page only
      // ever loads this project's own bundle from loopback.
      '--no-sandbox',
      ...(options.webgpu === false ? [] : [
        '--enable-unsafe-webgpu',
        '--ignore-gpu-blocklist',
        // Fills in GPUAdapterInfo (ANGLE's GL ES adapter otherwise reports only empty strings), so
        // the test can check which adapter it got.
        '--enable-webgpu-developer-features',
        ...BROWSER_ADAPTERS[adapter].flags,
      ]),
    ],
  });
}
