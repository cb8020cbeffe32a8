// residual.wgsl: the residual connection y = a + b (a transformer block's x + attn(ln(x))) and its
// backward, where the gradient flows unchanged to both inputs.
//
//   forward  (entry `forward`):  y[i] = a[i] + b[i]
//   backward (entry `backward`): da[i] (+)= dy[i],  db[i] (+)= dy[i]
//   Tensors are flat f32 arrays: any row-major shape, only the element count matters.
//   FLAG_ACCUMULATE_A / FLAG_ACCUMULATE_B add into da / db instead of overwriting it (the residual
//   stream's gradient already holds the other branch's share; gradient accumulation).
//   WebGPU forbids a buffer written by a dispatch to be bound in it again read-only (even at a
//   disjoint range), so y cannot live in a's or b's buffer, nor da or db in dy's; da and db may
//   share one buffer at disjoint ranges. src/kernels/overlap.ts checks this with a clear error.
//
// Bindings (group 0):
//   forward:  0 uniform Params, 1 a (read), 2 b (read), 3 y (read_write)
//   backward: 0 uniform Params, 1 dy (read), 2 da (read_write), 3 db (read_write)
// Workgroup: WG invocations (override, default 256), one element each; grids past 65535
//   workgroups fold into y. Precision: f32, one rounding (forward) or one per accumulation.

struct Params {
  count: u32,
  flags: u32,
  _pad0: u32,
  _pad1: u32,
}

const FLAG_ACCUMULATE_A: u32 = 1u;
const FLAG_ACCUMULATE_B: u32 = 2u;
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
// Entries use disjoint binding sets, so a binding number may be declared twice.
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> da: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= p.count) { return; }
  y[i] = a[i] + b[i];
}

@compute @workgroup_size(WG, 1, 1)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= p.count) { return; }
  let g = dy[i];
  var ga = g;
  var gb = g;
  if ((p.flags & FLAG_ACCUMULATE_A) != 0u) { ga += da[i]; }
  if ((p.flags & FLAG_ACCUMULATE_B) != 0u) { gb += db[i]; }
  da[i] = ga;
  db[i] = gb;
}
