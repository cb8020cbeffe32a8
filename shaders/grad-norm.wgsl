// grad-norm.wgsl: the global L2 norm of several gradient tensors and clipping by it, as PyTorch's
// torch.nn.utils.clip_grad_norm_(max_norm, norm_type=2) with its defaults, on the GPU with no read-back.
//
// Entry `partial_sumsq` (pass 1, one dispatch per tensor):
//   partials[partialOffset + g] = Σ grads[i]² over the PER elements g·PER .. g·PER + PER − 1 of
//   invocation g (those below count). The invocation reads them 4 adjacent at a time, keeps 4
//   running sums (element 4m + t goes to sum t, m ascending) and adds them as (s0 + s1) + (s2 + s3).
//   No workgroup memory and no barrier: on lavapipe a workgroup's barrier tree cost more than its
//   loads (5.6 ms for the baby GPT's 0.84 M gradients); tensors write disjoint ranges of one buffer.
//   Bindings: 0 uniform PartialParams, 1 grads (read), 2 partials (read_write).
// Entry `finish` (pass 2, one workgroup):
//   total = Σ partials[0 .. partialCount) (invocation l sums l, l+WG, … in order, then the tree)
//   clip[0] = norm = sqrt(total)
//   clip[1] = scale = min(1, maxNorm / (norm + 1e-6))          (PyTorch's clip_coef, clamped)
//   A non-finite norm (an Inf or NaN gradient) makes scale NaN, so the step poisons the parameters
//   visibly (PyTorch would scale by 0 or NaN; neither is a step worth taking silently).
//   Bindings: 0 uniform FinishParams, 1 partials (read), 2 clip (read_write).
// Entry `clip` (pass 3, one dispatch per tensor): grads[i] *= clip[1]. Like PyTorch, it always
//   multiplies (by exactly 1 when the norm is under maxNorm, which changes no bit).
//   Bindings: 0 uniform ClipParams, 1 clip (read), 2 grads (read_write).
//
// Every sum runs in a fixed order, so the same gradients give the same bits on every run.
// Workgroup: WG invocations (override, default 256, a power of two); PER = 64 elements each in pass 1;
//   grids past 65535 workgroups fold into y.
// Precision: f32 sums of squares (an element above ~1.8e19 overflows to Inf: its norm is Inf).

struct PartialParams {
  count: u32,
  partialOffset: u32,
  _pad0: u32,
  _pad1: u32,
}

struct FinishParams {
  partialCount: u32,
  maxNorm: f32,
  _pad0: u32,
  _pad1: u32,
}

struct ClipParams {
  count: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

const PER: u32 = 64u;
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> partialParams: PartialParams;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
// Entries use disjoint binding sets, so bindings are declared again under other names.
@group(0) @binding(0) var<uniform> finishParams: FinishParams;
@group(0) @binding(1) var<storage, read> partialsIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> clipOut: array<f32>;
@group(0) @binding(0) var<uniform> clipParams: ClipParams;
@group(0) @binding(1) var<storage, read> clipIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradsOut: array<f32>;

var<workgroup> scratch: array<f32, WG>;

fn treeSum(lid: u32, value: f32) -> f32 {
  scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] = scratch[lid] + scratch[lid + stride]; }
    workgroupBarrier();
  }
  return scratch[0];
}

@compute @workgroup_size(WG, 1, 1)
fn partial_sumsq(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let g = gid.x + gid.y * groups.x * WG;
  let count = partialParams.count;
  let first = g * PER;
  if (first >= count) { return; }
  // Loads are clamped into range and the elements past count zeroed, so every quad is one load pass.
  let last = count - 1u;
  var s = vec4f(0.0);
  for (var k = 0u; k < PER; k += 4u) {
    let i = vec4u(first + k) + vec4u(0u, 1u, 2u, 3u);
    let j = min(i, vec4u(last));
    let q = select(vec4f(0.0), vec4f(grads[j.x], grads[j.y], grads[j.z], grads[j.w]), i <= vec4u(last));
    s = fma(q, q, s);
  }
  partials[partialParams.partialOffset + g] = (s.x + s.y) + (s.z + s.w);
}

@compute @workgroup_size(WG, 1, 1)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < finishParams.partialCount; i += WG) { s += partialsIn[i]; }
  let total = treeSum(lid, s);
  if (lid == 0u) {
    let norm = sqrt(total);
    var scale = min(1.0, finishParams.maxNorm / (norm + 1e-6));
    // Inf or NaN: exponent bits all ones (tested on the bits; fast-math may fold isnan-style compares).
    if ((bitcast<u32>(norm) & 0x7f800000u) == 0x7f800000u) {
      scale = bitcast<f32>(0x7fc00000u | (finishParams.partialCount & 0u));
    }
    clipOut[0] = norm;
    clipOut[1] = scale;
  }
}

@compute @workgroup_size(WG, 1, 1)
fn clip(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= clipParams.count) { return; }
  gradsOut[i] = gradsOut[i] * clipIn[1];
}
