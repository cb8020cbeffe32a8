// One place that opens a WebGPU device through Dawn (npm `webgpu`) and keeps it alive.
//
// Why one long-lived object: the value returned by `create()` owns the Dawn instance. If V8
// collects it while the device is in use, the process dies later with a random native error
// (the `webgpu` package README, "Lifetime"), so `GpuContext` holds gpu, adapter and device together.
import { create } from 'webgpu';
import './globals.js';
import { GpuError, installErrorHandlers, type ErrorSink } from './errors.js';
import { PipelineCache } from './pipelines.js';


export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
}

export interface GpuOptions {
  /** Substring of the adapter name, passed to Dawn's `adapter=` option. */
  adapter?: string | undefined;
  /** Dawn backend: vulkan, metal, d3d12, null, ... */
  backend?: string | undefined;
  powerPreference?: GPUPowerPreference | undefined;
}

export const SETUP_HINT =
  'No WebGPU adapter was found. Dawn needs a Vulkan driver: on Debian, Mesa >= 24 lavapipe ' +
  '(packages mesa-vulkan-drivers and libvulkan1 from bookworm-backports). ' +
  'Install it with: sudo bash scripts/setup-vulkan.sh';

export class GpuContext {
  private closed = false;
  readonly pipelines: PipelineCache;

  constructor(
    /** Kept only so that the Dawn instance lives as long as the device. */
    readonly gpu: GPU,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly info: AdapterDescription,
    readonly errors: ErrorSink,
  ) {
    this.pipelines = new PipelineCache(device);
  }

  get isCpuAdapter(): boolean {
    return /llvmpipe|lavapipe|swiftshader|cpu/i.test(`${this.info.description} ${this.info.device}`) ||
      this.info.isFallbackAdapter;
  }

  /** Throws the first GPU error seen since the last check (validation, out-of-memory, internal). */
  check(where: string): void {
    this.errors.throwIfAny(where);
  }

  /** Destroys the device and drops the Dawn instance so that Node can exit. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.device.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

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
  // Ask for what the adapter offers on the limits kernels care about; defaults are conservative.
  const wantLimits = [
    'maxComputeWorkgroupStorageSize',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const name of wantLimits) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits, label: 'webgpu-local-sgd' });
  const errors = installErrorHandlers(device);
  return new GpuContext(gpu, adapter, device, info, errors);
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const i = adapter.info as GPUAdapterInfo & { backendType?: string; isFallbackAdapter?: boolean };
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    backend: i.backendType ?? 'unknown',
    isFallbackAdapter: Boolean(i.isFallbackAdapter),
  };
}

export function formatAdapter(info: AdapterDescription): string {
  const name = info.description || info.device || 'unnamed adapter';
  const parts = [info.vendor, info.architecture, info.backend].filter((s) => s && s !== 'unknown');
  return parts.length ? `${name} (${parts.join(', ')})` : name;
}
