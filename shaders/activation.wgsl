// activation.wgsl: the hidden layers' element-wise activation, forward and backward.
//
//   forward  (entry `forward`):  h[i]  = act(z[i])             for i < count
//   backward (entry `backward`): dz[i] = dh[i] · act'(z[i])    (z is the saved pre-activation)
//   Tensors are flat f32 arrays: any row-major shape, only the element count matters.
//   ACTIVATION (override constant): 0 none (identity), 1 relu, 2 gelu.
//     relu'(0) = 0, as in PyTorch.
//     gelu is the tanh approximation, PyTorch's GELU(approximate='tanh'):
//       gelu(z) = 0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³)))
//
// Bindings (group 0):
//   forward:  0 uniform Params, 1 z (read), 2 h (read_write)
//   backward: 0 uniform Params, 1 z (read), 2 dh (read), 3 dz (read_write)
// Workgroup: WG invocations (override, default 256), one element each. Grids past 65535
//   workgroups fold into y (grid1d); the flat index is rebuilt from num_workgroups.
// Precision: f32. gelu is evaluated as z·σ(2u), σ(y) = 1/(1 + e^(−y)), u = √(2/π)·(z + 0.044715·z³):
//   the same function, since 0.5·(1 + tanh(u)) = σ(2u), but 1 + tanh(u) cancels for z below about −3
//   (f32 gave gelu(−4.5) 16 % off), and σ does not. 2u is clamped to ±80, where σ is 0 or 1 to f32
//   precision and e^80 is still finite (no inf/inf = NaN); the derivative's polynomial uses z
//   clamped to ±10, which σ's clamp already covers, so huge |z| cannot overflow it.

struct Params {
  count: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override ACTIVATION: u32 = 0u;
override WG: u32 = 256u;

const ACT_NONE: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_GELU: u32 = 2u;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_KAPPA: f32 = 0.044715;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
// Entries use disjoint binding sets, so binding 2 may be declared twice.
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<storage, read> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;

// For gelu at x: s = σ(2u), sNeg = σ(−2u) = 1 − s without cancellation, and d(2u)/dx.
struct GeluSigmoid { s: f32, sNeg: f32, dTwoU: f32 }

fn geluSigmoid(x: f32) -> GeluSigmoid {
  let xc = clamp(x, -10.0, 10.0);
  let twoU = clamp(2.0 * SQRT_2_OVER_PI * (xc + GELU_KAPPA * xc * xc * xc), -80.0, 80.0);
  let e = exp(-twoU);
  let s = 1.0 / (1.0 + e);
  return GeluSigmoid(s, e * s, 2.0 * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_KAPPA * xc * xc));
}

fn act(x: f32) -> f32 {
  if (ACTIVATION == ACT_RELU) { return max(x, 0.0); }
  if (ACTIVATION == ACT_GELU) { return x * geluSigmoid(x).s; }
  return x;
}

fn actGrad(x: f32) -> f32 {
  if (ACTIVATION == ACT_RELU) { return select(0.0, 1.0, x > 0.0); }
  if (ACTIVATION == ACT_GELU) {
    // d/dx of x·σ(2u) = σ(2u) + x·σ(2u)·σ(−2u)·d(2u)/dx. Past |x| = 10 the second term is below
    // 1e-30 either way, so the clamped x there changes nothing visible.
    let g = geluSigmoid(x);
    return g.s + clamp(x, -10.0, 10.0) * g.s * g.sNeg * g.dTwoU;
  }
  return 1.0;
}

@compute @workgroup_size(WG, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= p.count) { return; }
  h[i] = act(z[i]);
}

@compute @workgroup_size(WG, 1, 1)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= p.count) { return; }
  dz[i] = dh[i] * actGrad(z[i]);
}
