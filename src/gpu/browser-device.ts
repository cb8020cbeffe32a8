// Opens a WebGPU device from a browser page's navigator.gpu, the counterpart of device.ts's openGpu
// (Node's Dawn). Both hand back a GpuContext, so every kernel runs on either unchanged.
import { GpuError, installErrorHandlers } from './errors.js';
import { DEFAULT_FEATURES, GpuContext, describeAdapter, requiredLimitsFor } from './context.js';

export interface BrowserGpuOptions {
  /**
   * 'core' asks for a full WebGPU adapter first and falls back to a compatibility one when there is
   * none; 'compatibility' asks for a compatibility adapter only. Chromium reaches lavapipe (and
   * other OpenGL ES-only drivers) only through compatibility mode, and there the core request
   * succeeds too, with SwiftShader, so a page that wants the GL ES adapter must say so.
   */
  featureLevel?: 'core' | 'compatibility' | undefined;
  powerPreference?: GPUPowerPreference | undefined;
}

export const BROWSER_HINT =
  'WebGPU needs a secure context (https:, or http://localhost / 127.0.0.1) in a browser that ships it ' +
  '(Chrome or Edge 113+, Firefox 141+ on Windows, Safari 26). Headless Chromium on Linux needs ' +
  '--enable-unsafe-webgpu --ignore-gpu-blocklist; for Mesa lavapipe add --use-angle=vulkan ' +
  "--use-webgpu-adapter=opengles and featureLevel 'compatibility'.";

export async function openBrowserGpu(options: BrowserGpuOptions = {}): Promise<GpuContext> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new GpuError(`This page has no navigator.gpu. ${BROWSER_HINT}`);
  const power = options.powerPreference ? { powerPreference: options.powerPreference } : {};
  let adapter: GPUAdapter | null = null;
  if (options.featureLevel !== 'compatibility') adapter = await gpu.requestAdapter(power);
  adapter ??= await gpu.requestAdapter({ ...power, featureLevel: 'compatibility' });
  if (!adapter) {
    throw new GpuError(`navigator.gpu returned no adapter (featureLevel ${options.featureLevel ?? 'core'}, ` +
      `then compatibility): the browser has WebGPU but no driver it accepts, or blocks this one. ${BROWSER_HINT}`);
  }
  const info = describeAdapter(adapter);
  const requiredFeatures = DEFAULT_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: requiredLimitsFor(adapter), requiredFeatures, label: 'webgpu-local-sgd' });
  const errors = installErrorHandlers(device);
  return new GpuContext(gpu, adapter, device, info, errors);
}
