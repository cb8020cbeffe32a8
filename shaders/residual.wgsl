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
// Workgroup: WG invocations (override, default 256), each taking 4 adjacent elements (one pass of
//   lavapipe's per-lane load loop instead of four), the count % 4 tail one at a time in the last
//   invocation; grids past 65535 workgroups fold into y.
// Precision: f32, one rounding (forward) or one per accumulation.

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

/** Element i + t of a run of n ≤ 4 starting at i, clamped to the run: loads stay in range, stores are guarded. */
fn at(i: u32, t: u32, n: u32) -> u32 { return i + min(t, n - 1u); }
fn firstElement(gid: vec3u, groups: vec3u) -> u32 { return 4u * (gid.x + gid.y * groups.x * WG); }

fn forwardRun(i: u32, n: u32) {
  let s = vec4f(a[at(i, 0u, n)], a[at(i, 1u, n)], a[at(i, 2u, n)], a[at(i, 3u, n)])
        + vec4f(b[at(i, 0u, n)], b[at(i, 1u, n)], b[at(i, 2u, n)], b[at(i, 3u, n)]);
  y[i] = s.x; if (n > 1u) { y[i + 1u] = s.y; } if (n > 2u) { y[i + 2u] = s.z; } if (n > 3u) { y[i + 3u] = s.w; }
}

fn backwardRun(i: u32, n: u32) {
  let g = vec4f(dy[at(i, 0u, n)], dy[at(i, 1u, n)], dy[at(i, 2u, n)], dy[at(i, 3u, n)]);
  var ga = g;
  var gb = g;
  if ((p.flags & FLAG_ACCUMULATE_A) != 0u) { ga += vec4f(da[at(i, 0u, n)], da[at(i, 1u, n)], da[at(i, 2u, n)], da[at(i, 3u, n)]); }
  if ((p.flags & FLAG_ACCUMULATE_B) != 0u) { gb += vec4f(db[at(i, 0u, n)], db[at(i, 1u, n)], db[at(i, 2u, n)], db[at(i, 3u, n)]); }
  da[i] = ga.x; if (n > 1u) { da[i + 1u] = ga.y; } if (n > 2u) { da[i + 2u] = ga.z; } if (n > 3u) { da[i + 3u] = ga.w; }
  db[i] = gb.x; if (n > 1u) { db[i + 1u] = gb.y; } if (n > 2u) { db[i + 2u] = gb.z; } if (n > 3u) { db[i + 3u] = gb.w; }
}

// A literal 4 lets the compiler drop the clamps and guards for every full quad.
@compute @workgroup_size(WG, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = firstElement(gid, groups);
  if (i + 3u < p.count) { forwardRun(i, 4u); } else if (i < p.count) { forwardRun(i, p.count - i); }
}

@compute @workgroup_size(WG, 1, 1)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = firstElement(gid, groups);
  if (i + 3u < p.count) { backwardRun(i, 4u); } else if (i < p.count) { backwardRun(i, p.count - i); }
}
