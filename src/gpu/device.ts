// One place that opens a WebGPU device through Dawn (npm `webgpu`) in Node. The device lives in a
// GpuContext (context.ts), re-exported here so that Node code keeps one import for both.
import { create } from 'webgpu';
import './globals.js';
import { GpuError, installErrorHandlers } from './errors.js';
import { DEFAULT_FEATURES, GpuContext, describeAdapter, requiredLimitsFor } from './context.js';

export { GpuContext, describeAdapter, formatAdapter, type AdapterDescription } from './context.js';

export interface GpuOptions {
  /** Substring of the adapter name, passed to Dawn's `adapter=` option. */
  adapter?: string | undefined;
  /** Dawn backend: vulkan, metal, d3d12, null, ... */
  backend?: string | undefined;
  powerPreference?: GPUPowerPreference | undefined;
  /**
   * Optional features to ask for beyond DEFAULT_FEATURES, each only where the adapter offers it (the
   * profiler's 'timestamp-query').
   */
  features?: readonly GPUFeatureName[] | undefined;
  /**
   * Timestamp queries at the driver's resolution: Dawn rounds them to 2^16 ns by default (its
   * timestamp_quantization toggle, a browser's guard against timing attacks), which hides any kernel
   * under ~0.1 ms. For the profiler only; it gets its own Dawn instance.
   */
  exactTimestamps?: boolean | undefined;
}

export const SETUP_HINT =
  'No WebGPU adapter was found. Dawn needs a Vulkan driver: on Debian, Mesa >= 24 lavapipe ' +
  '(packages mesa-vulkan-drivers and libvulkan1 from bookworm-backports). ' +
  'Install it with: sudo bash scripts/setup-vulkan.sh';

/** Options from the environment: WEBGPU_ADAPTER, WEBGPU_BACKEND, WEBGPU_POWER. */
export function gpuOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): GpuOptions {
  const power = env.WEBGPU_POWER;
  return {
    adapter: env.WEBGPU_ADAPTER || undefined,
    backend: env.WEBGPU_BACKEND || undefined,
    powerPreference: power === 'low-power' || power === 'high-performance' ? power : undefined,
  };
}

/**
 * One Dawn instance per process and set of Dawn options. Dawn discovers the adapters of an instance
 * in its first requestAdapter call, and that discovery prints notices itself, with fprintf to the C
 * library's stderr where Node cannot filter them (on lavapipe, two limits "artificially reduced";
 * Dawn's Limits.cpp, `NormalizeLimits`). A process that opens several devices (bench/train.ts's
 * runs, a test file's in-process trainings) thus prints them once, not once per device. Held for the
 * life of the process, the instance also outlives every device made from it.
 */
const dawnInstances = new Map<string, GPU>();

function dawnInstance(dawnOptions: string[]): GPU {
  const key = dawnOptions.join('\n');
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    gpu = create(dawnOptions) as GPU;
    dawnInstances.set(key, gpu);
  }
  return gpu;
}

/** Opens the adapter `requested` asks for; what it leaves unset comes from the environment (gpuOptionsFromEnv). */
export async function openGpu(requested: GpuOptions = {}): Promise<GpuContext> {
  const fromEnv = gpuOptionsFromEnv();
  const options: GpuOptions = {
    adapter: requested.adapter ?? fromEnv.adapter,
    backend: requested.backend ?? fromEnv.backend,
    powerPreference: requested.powerPreference ?? fromEnv.powerPreference,
  };
  const dawnOptions: string[] = [];
  if (options.adapter) dawnOptions.push(`adapter=${options.adapter}`);
  if (options.backend) dawnOptions.push(`backend=${options.backend}`);
  if (requested.exactTimestamps) dawnOptions.push('disable-dawn-features=timestamp_quantization');
  const gpu = dawnInstance(dawnOptions);
  const wanted = [options.adapter && `adapter "${options.adapter}"`, options.backend && `backend "${options.backend}"`]
    .filter(Boolean).join(', ');
  const notFound = (dawnSaid?: string) => new GpuError(wanted
    ? `No WebGPU adapter matches ${wanted}; leave it unset to take the default.${dawnSaid ? `\n(Dawn said: ${dawnSaid})` : ''}\nIf no adapter is listed at all: ${SETUP_HINT}`
    : `${SETUP_HINT}${dawnSaid ? `\n(Dawn said: ${dawnSaid})` : ''}`);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(
      options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
    );
  } catch (e) {
    // Dawn throws (listing the adapters it has) when the adapter= or backend= option matches none.
    throw notFound((e as Error).message);
  }
  if (!adapter) throw notFound();
  const info = describeAdapter(adapter);
  const requiredLimits = requiredLimitsFor(adapter);
  const requiredFeatures = [...DEFAULT_FEATURES, ...(requested.features ?? [])].filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgpu-local-sgd' });
  const errors = installErrorHandlers(device);
  return new GpuContext(gpu, adapter, device, info, errors);
}
