// The browser twin of open-test-gpu.ts: the page's URL says which adapter to ask for
// (?featureLevel=compatibility for Chromium's GL ES adapter on lavapipe; see test/helpers/chromium.ts).
import { openBrowserGpu } from '../../src/gpu/browser-device.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { pageParams } from './page-params.js';

export function openTestGpu(): Promise<GpuContext> {
  const level = pageParams().get('featureLevel');
  if (level !== null && level !== 'core' && level !== 'compatibility') {
    throw new Error(`the page's featureLevel must be core or compatibility (got "${level}")`);
  }
  return openBrowserGpu({ featureLevel: level ?? undefined });
}
