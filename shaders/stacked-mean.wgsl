// stacked-mean.wgsl: the mean of n stacked vectors. The GPU alternative to the coordinator's float64
// CPU average (comm/reduce.ts), measured by bench:kernels; training does not use it.
//
//   inputs [n, count] row-major f32 (rank r's vector at inputs[r*count ..]); output [count] f32.
//   output[j] = (Σ_r inputs[r*count + j]) / n
//   Summed in f32 in rank order 0, 1, ..., n−1, then divided by n (not multiplied by 1/n, which is
//   inexact for n = 3): the result depends only on the inputs, so every worker that receives it
//   holds the same bits.
//   output must be a different buffer from inputs: WebGPU forbids binding one buffer both
//   read-only and writable in a dispatch.
//
// Bindings (group 0): 0 uniform Params, 1 inputs (read), 2 averaged, the output (read_write).
// Workgroup: WG invocations (override, default 256), one element each; grids past 65535
//   workgroups fold into y (grid1d).
// Precision: f32 accumulation in rank order.

struct Params {
  count: u32,
  n: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inputs: array<f32>;
@group(0) @binding(2) var<storage, read_write> averaged: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let j = gid.x + gid.y * groups.x * WG;
  if (j >= p.count) { return; }
  var sum = 0.0;
  for (var r = 0u; r < p.n; r += 1u) {
    sum += inputs[r * p.count + j];
  }
  averaged[j] = sum / f32(p.n);
}
