// The browser twin of device.ts (build-browser.mjs swaps it in for a page): the same names, with
// the device from navigator.gpu (browser-device.ts) instead of Node's Dawn, which a page lacks.
// A page chooses its adapter itself, so Dawn's adapter and backend options mean nothing here.
import { openBrowserGpu } from './browser-device.js';
import type { GpuContext } from './context.js';
import type { GpuOptions } from './device.js';

export { GpuContext, describeAdapter, formatAdapter, type AdapterDescription } from './context.js';
export type { GpuOptions } from './device.js';

export function openGpu(options: GpuOptions = {}): Promise<GpuContext> {
  return openBrowserGpu(options.powerPreference ? { powerPreference: options.powerPreference } : {});
}
