// softmax.wgsl: the causal, scaled row softmax of attention and its backward, in place, for the
// batched-matmul form of attention (src/kernels/attention.ts, variant 'batched').
//
//   x [Z, T, T] row-major f32 (Z = batch·heads); row r = z·T + t sees columns s ≤ t (t = r % T).
//   causal_forward:  x holds scores S; overwritten with P = softmax_s(scale·S[t, s]) over s ≤ t and
//                    0 for s > t. lse [Z·T] = log Σ_{s≤t} exp(scale·S[t, s]) (written).
//   causal_backward: x holds dP = ∂L/∂P; att holds P. Overwritten with
//                    dS = scale · P ∘ (dP − Σ_s P·dP) (0 for s > t), the gradient with respect to
//                    the unscaled scores, so dq = dS·k and dk = dSᵀ·q need no further scaling.
//
// Bindings (group 0): 0 uniform Params, 1 x (read_write), 2 lse (read_write, forward), 3 att (read,
//   backward). One invocation per row, workgroup WG (override; 8 lanes on lavapipe), rows past
//   65535 workgroups fold into y. No workgroup memory, no atomics; every sum runs over s in order,
//   so reruns are bit-identical.
// Precision: f32; the row maximum is subtracted before exp, so no score overflows.

struct Params {
  rows: u32,
  T: u32,
  scale: f32,
  _pad: u32,
}

override WG: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> att: array<f32>;

fn rowIndex(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(WG, 1, 1)
fn causal_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let r = rowIndex(gid, groups);
  if (r >= p.rows) { return; }
  let t = r % p.T;
  let base = r * p.T;
  var m = x[base] * p.scale;
  for (var s = 1u; s <= t; s += 1u) { m = max(m, x[base + s] * p.scale); }
  var l = 0.0;
  for (var s = 0u; s <= t; s += 1u) {
    let e = exp(x[base + s] * p.scale - m);
    x[base + s] = e;
    l += e;
  }
  let inv = 1.0 / l;
  for (var s = 0u; s <= t; s += 1u) { x[base + s] *= inv; }
  for (var s = t + 1u; s < p.T; s += 1u) { x[base + s] = 0.0; }
  lse[r] = m + log(l);
}

@compute @workgroup_size(WG, 1, 1)
fn causal_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let r = rowIndex(gid, groups);
  if (r >= p.rows) { return; }
  let t = r % p.T;
  let base = r * p.T;
  var d = 0.0;
  for (var s = 0u; s <= t; s += 1u) { d += att[base + s] * x[base + s]; }
  for (var s = 0u; s <= t; s += 1u) { x[base + s] = p.scale * att[base + s] * (x[base + s] - d); }
  for (var s = t + 1u; s < p.T; s += 1u) { x[base + s] = 0.0; }
}
