// delta-codec.wgsl: compressed parameter averaging (--comm-dtype f16|bf16) on the worker's device.
// A worker sends the difference of its weights from the anchor (the last averaged weights, which
// every worker and the coordinator hold bit for bit) in 16 bits, and applies the coordinator's
// 16-bit update to the anchor with the same f32 add the coordinator uses, so anchors never drift.
//
//   encode_delta: packed half j = to16(params[j] − anchor[j])
//   apply_update: anchor[j] = anchor[j] + from16(packed half j); params[j] = anchor[j]
//
// Layout: params and anchor are [count] f32; packed is [ceil(count/2)] u32 holding element j in
//   bits 16·(j%2) .. 16·(j%2)+15 of word j/2, so its little-endian bytes are a plain f16 (or bf16)
//   array of count elements, the wire format. An odd count leaves the last word's high half 0.
// Rounding (to16): round to nearest, ties to even, computed from the f32 bits with integer ops.
//   WGSL's pack2x16float is not used: the spec lets an implementation round either way and makes
//   the result indeterminate outside f16's finite range.
//   f16: magnitudes ≥ 65520 (the midpoint above 65504) become ±Inf, as IEEE overflow does (a delta
//   that large means training has diverged, and Inf makes that visible instead of clamping it
//   away); below 2^-14 results are f16 subnormals, below 2^-25 ±0 (sign kept); NaN stays a quiet NaN.
//   bf16: the upper 16 bits of the f32, rounded; f32's exponent range, so only rounding past
//   3.39e38 overflows to ±Inf; NaN stays a quiet NaN.
// Decoding (from16) is exact: every f16 and bf16 value is an f32.
// Precision: the delta and the anchor update are single f32 operations (correctly rounded in
//   WGSL), so the coordinator reproduces the anchor with Math.fround of a JS add.
//
// Bindings (group 0, both entries): 0 uniform Params, 1 params (read_write), 2 anchor
//   (read_write), 3 packed (read_write). encode_delta writes only packed; apply_update writes
//   anchor and params.
// Workgroup: WG invocations (override, default 256), one u32 word (two elements) each; grids past
//   65535 workgroups fold into y (grid1d). BF16 (override bool) picks bf16 over f16.

struct Params {
  count: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 256u;
override BF16: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> anchor: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<u32>;

fn f32_to_f16_bits(x: u32) -> u32 {
  let sign = (x >> 16u) & 0x8000u;
  let a = x & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); } // NaN, quiet
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }                       // ≥ 65520: ±Inf
  if (a >= 0x38800000u) {                                                 // ≥ 2^-14: normal
    let r = a - 0x38000000u;                                              // rebias 127 → 15
    return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
  }
  let e = a >> 23u;
  if (e < 102u) { return sign; }                                          // < 2^-25: ±0
  // Subnormal: the value in units of 2^-24 is m·2^-shift, rounded to even.
  let m = (a & 0x7fffffu) | 0x800000u;
  let shift = 126u - e;                                                   // 14 ..= 24
  let q = m >> shift;
  let rest = m & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  let up = rest > half || (rest == half && (q & 1u) == 1u);
  return sign | (q + select(0u, 1u, up));                                 // q + 1 may be the smallest normal: right
}

fn f32_to_bf16_bits(x: u32) -> u32 {
  if ((x & 0x7fffffffu) > 0x7f800000u) { return (x >> 16u) | 0x40u; }    // NaN, quiet
  return (x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u;
}

fn to16(v: f32) -> u32 {
  let x = bitcast<u32>(v);
  if (BF16) { return f32_to_bf16_bits(x); }
  return f32_to_f16_bits(x);
}

fn from16(h: u32) -> f32 {
  if (BF16) { return bitcast<f32>(h << 16u); }
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    // ±0 or a subnormal m·2^-24: exact in f32 (built from bits, so no flush-to-zero applies).
    if (m == 0u) { return bitcast<f32>(sign); }
    let lead = firstLeadingBit(m);                                        // 0 ..= 9
    let frac = (m << (23u - lead)) & 0x7fffffu;
    return bitcast<f32>(sign | ((lead + 103u) << 23u) | frac);
  }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

fn word_index(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(WG, 1, 1)
fn encode_delta(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let w = word_index(gid, groups);
  let j = 2u * w;
  if (j >= p.count) { return; }
  var word = to16(params[j] - anchor[j]);
  if (j + 1u < p.count) { word |= to16(params[j + 1u] - anchor[j + 1u]) << 16u; }
  packed[w] = word;
}

@compute @workgroup_size(WG, 1, 1)
fn apply_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let w = word_index(gid, groups);
  let j = 2u * w;
  if (j >= p.count) { return; }
  let word = packed[w];
  let a0 = anchor[j] + from16(word & 0xffffu);
  anchor[j] = a0;
  params[j] = a0;
  if (j + 1u < p.count) {
    let a1 = anchor[j + 1u] + from16(word >> 16u);
    anchor[j + 1u] = a1;
    params[j + 1u] = a1;
  }
}
