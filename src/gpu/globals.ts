// Installs WebGPU's global constants (GPUBufferUsage, GPUMapMode, ...) from Dawn. Every module that
// uses them at load time imports this first.
import { globals } from 'webgpu';

Object.assign(globalThis, globals);
