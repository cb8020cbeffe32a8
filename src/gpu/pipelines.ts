// Compute pipelines, created once and cached by an explicit key (`file:entry:overrides`), never by
// shape: shapes travel in uniforms, so one compiled pipeline serves every shape.
import { GpuError, withErrorScope } from './errors.js';

export interface ShaderSource {
  /** File name under shaders/, used in keys and error messages. */
  file: string;
  code: string;
}

export interface PipelineSpec {
  shader: ShaderSource;
  entry: string;
  /** WGSL `override` constants (tile and workgroup sizes, transposes). */
  constants?: Record<string, number | boolean>;
}

export function pipelineKey(spec: PipelineSpec): string {
  const overrides = Object.entries(spec.constants ?? {})
    .sort(([x], [y]) => (x < y ? -1 : 1))
    .map(([k, v]) => `${k}=${Number(v)}`)
    .join(',');
  return `${spec.shader.file}:${spec.entry}:${overrides}`;
}

export class PipelineCache {
  private readonly modules = new Map<string, Promise<GPUShaderModule>>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();

  constructor(private readonly device: GPUDevice) {}

  get(spec: PipelineSpec): Promise<GPUComputePipeline> {
    const key = pipelineKey(spec);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      pipeline = this.create(spec, key);
      this.pipelines.set(key, pipeline);
      // A failed creation must not poison the cache for a later, corrected attempt.
      pipeline.catch(() => this.pipelines.delete(key));
    }
    return pipeline;
  }

  private module(shader: ShaderSource): Promise<GPUShaderModule> {
    let module = this.modules.get(shader.file);
    if (!module) {
      module = this.compile(shader);
      this.modules.set(shader.file, module);
      module.catch(() => this.modules.delete(shader.file));
    }
    return module;
  }

  private async compile(shader: ShaderSource): Promise<GPUShaderModule> {
    const module = await withErrorScope(this.device, `compiling shaders/${shader.file}`, () =>
      this.device.createShaderModule({ label: shader.file, code: shader.code }),
    );
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      const text = errors.map((m) => `  shaders/${shader.file}:${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
      throw new GpuError(`WGSL compilation failed:\n${text}`);
    }
    return module;
  }

  private async create(spec: PipelineSpec, key: string): Promise<GPUComputePipeline> {
    const module = await this.module(spec.shader);
    const compute: GPUProgrammableStage = { module, entryPoint: spec.entry };
    if (spec.constants) {
      compute.constants = Object.fromEntries(Object.entries(spec.constants).map(([k, v]) => [k, Number(v)]));
    }
    return withErrorScope(this.device, `creating pipeline shaders/${spec.shader.file} entry "${spec.entry}" (${key})`, () =>
      this.device.createComputePipeline({ label: key, layout: 'auto', compute }),
    );
  }
}
