// The browser twin of globals.ts: a browser defines GPUBufferUsage, GPUMapMode, ... itself, so
// there is nothing to install (and no `webgpu` package to import).
export {};
