// Opens the test device in Node, through Dawn with the WEBGPU_* settings. Its browser twin,
// open-test-gpu.browser.ts, opens navigator.gpu's instead; test/helpers/gpu.ts serves both.
import { openGpu } from '../../src/gpu/device.js';
import type { GpuContext } from '../../src/gpu/context.js';

export function openTestGpu(): Promise<GpuContext> {
  return openGpu();
}
