// The opened device, whatever opened it: Node's Dawn (device.ts, openGpu) or a browser's
// navigator.gpu (browser-device.ts, openBrowserGpu). Kernels only ever see this, so they run in both.
//
// Why one long-lived object: in Node the value returned by `create()` owns the Dawn instance. If V8
// collects it while the device is in use, the process dies later with a random native error
// (the `webgpu` package README, "Lifetime"), so `GpuContext` holds gpu, adapter and device together.
import type { ErrorSink } from './errors.js';
import { PipelineCache } from './pipelines.js';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
}

/**
 * Asked for on every device where the adapter offers them: 'subgroups' lets matmul run its subgroup
 * entries (bit-identical to the others, so a run's numbers do not depend on whether it is there).
 */
export const DEFAULT_FEATURES: readonly GPUFeatureName[] = ['subgroups'];

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

  /** Lanes in the adapter's smallest subgroup (0 where it does not say). */
  get subgroupMinSize(): number {
    return (this.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize ?? 0;
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

/**
 * The limits to request: what the adapter offers on the limits kernels care about, since the
 * defaults are conservative (16 KiB of workgroup storage, for one).
 */
export function requiredLimitsFor(adapter: GPUAdapter): Record<string, number> {
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
  return requiredLimits;
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
