// gelu-erf.wgsl: the exact GELU, x·Φ(x) with Φ the standard normal CDF (PyTorch's nn.GELU()
// default, approximate='none'; nanoGPT's MLP), forward and backward. The tanh approximation stays in
// activation.wgsl.
//
//   forward  (entry `forward`):  h[i]  = gelu(z[i]) = z·Φ(z),  Φ(z) = ½·erfc(−z/√2)
//   backward (entry `backward`): dz[i] (+)= dh[i]·gelu'(z[i]),  gelu'(z) = Φ(z) + z·φ(z),
//                                φ(z) = e^(−z²/2)/√(2π); z is the saved pre-activation.
//   Tensors are flat f32 arrays: any row-major shape, only the element count matters.
//   FLAG_ACCUMULATE (backward) adds into dz (the first micro-batch overwrites, later ones add).
//
// Bindings (group 0):
//   forward:  0 uniform Params, 1 z (read), 2 h (read_write)
//   backward: 0 uniform Params, 1 z (read), 2 dh (read), 3 dz (read_write)
// Workgroup: WG invocations (override, default 256), each taking 4 adjacent elements (on lavapipe
//   four adjacent loads are one pass of its per-lane load loop, not four); the count % 4 tail goes
//   one at a time in the last invocation, same operations, same bits. Grids past 65535 workgroups
//   fold into y (grid1d); the flat index is rebuilt from num_workgroups.
//
// Precision: f32, within a few ulp of the exact value over the whole range (the test measures the
// worst case on a dense sweep of [−14, 14]). WGSL has no erf, so erfc is W. J. Cody's rational
// Chebyshev approximations (Math. Comp. 23, 1969; the CALERF coefficients, accurate to ~1e-18, far
// below f32's 6e-8), in his three intervals of |t| = |z|/√2: ≤ 0.46875 erf(t) = t·P(t²)/Q(t²);
// ≤ 4 erfc(t) = e^(−t²)·P(t)/Q(t); > 4 erfc(t) = e^(−t²)/t·(1/√π − t⁻²·P(t⁻²)/Q(t⁻²)).
// Three things keep the tails at a few ulp where a textbook form loses everything:
//   * Φ(z) for z < 0 is ½·erfc(|t|) directly, never 1 + erf (which cancels: gelu(−4.5) would
//     keep about 2 of 24 bits);
//   * e^(−z²/2) is computed from z itself, not from t = z/√2 (rounding t costs 2t² ulp in the tail,
//     ~100 ulp at z = −10): |z| = s + d with s = trunc(256|z|)/256, so s²/2 is exact in f32 and
//     z²/2 = s²/2 + d·(|z| + s)/2 with the second term below 0.06;
//   * exp is our own (expSum): WGSL's exp may err by 3 + 2|x| ulp, ~200 ulp at x = −100.
//     Cody–Waite reduction of the exact s²/2 with a 9-bit ln2_hi (k·ln2_hi exact), the small term
//     added to the reduced argument (|r| < 0.41), a degree-8 Taylor polynomial (truncation below
//     0.02 ulp), then ldexp.
// For |z| > 14, Φ(z) is 0 or 1 and φ(z) is 0 in f32 (e^(−98) < 2^-141), so they are set directly
// (no huge arguments reach exp). Results below 2^-126 may be flushed to zero by the device.

struct Params {
  count: u32,
  flags: u32,
  _pad0: u32,
  _pad1: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
// Entries use disjoint binding sets, so binding 2 may be declared twice.
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<storage, read> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;

const FRAC_1_SQRT_2: f32 = 0.70710678118654752;
const FRAC_1_SQRT_PI: f32 = 0.56418958354775629;
const FRAC_1_SQRT_2PI: f32 = 0.39894228040143268;
const LOG2_E: f32 = 1.4426950408889634;
// ln 2 = LN2_HI + LN2_LO, LN2_HI = 355/512 has 9 significant bits: k·LN2_HI is exact for |k| < 2^15.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440054690583e-4;
const TAIL: f32 = 14.0;

/**
 * e^(a + b) for an exact a in [−100, 0] and a small correction |b| ≤ 0.06: Cody–Waite, with k from a
 * alone, so a − k·LN2_HI is exact and b only enters the reduced argument (|r| < 0.41).
 */
fn expSum(a: f32, b: f32) -> f32 {
  let k = floor(a * LOG2_E + 0.5);
  let r = ((a - k * LN2_HI) + b) - k * LN2_LO;
  let poly = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0
    + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0))))))));
  return ldexp(poly, i32(k));
}

/**
 * e^(−x²/2) for 0 ≤ x ≤ TAIL without rounding x²: x = s + d, s = trunc(256x)/256 has at most 12
 * significant bits, so −s²/2 is exact, and x²/2 − s²/2 = d·(x + s)/2 is small.
 */
fn expHalfSquareNeg(x: f32) -> f32 {
  let s = trunc(x * 256.0) / 256.0;
  let d = x - s;
  return expSum(-0.5 * (s * s), -0.5 * (d * (x + s)));
}

/** Φ(z) and φ(z) for one z. */
struct Normal { cdf: f32, pdf: f32 }

/** Φ(z), and φ(z) when `wantPdf` (the forward skips the exp that only the small |z| branch would need for it). */
fn normal(zv: f32, wantPdf: bool) -> Normal {
  let x = abs(zv);
  if (x > TAIL) {
    return Normal(select(0.0, 1.0, zv > 0.0), 0.0);
  }
  let t = x * FRAC_1_SQRT_2;
  if (t <= 0.46875) {
    // erf(t) = t·P(t²)/Q(t²); Φ(z) = ½ + ½·erf(z/√2) loses at most one bit here (Φ ≥ 0.26).
    let y = t * t;
    let num = (((0.185777706184603153 * y + 3.16112374387056560) * y + 113.864154151050156) * y
      + 377.485237685302021) * y + 3209.37758913846947;
    let den = (((y + 23.6012909523441209) * y + 244.024637934444173) * y + 1282.61652607737228) * y
      + 2844.23683343917062;
    let erfSigned = (zv * FRAC_1_SQRT_2) * num / den;
    var pdf = 0.0;
    if (wantPdf) { pdf = FRAC_1_SQRT_2PI * expHalfSquareNeg(x); }
    return Normal(0.5 + 0.5 * erfSigned, pdf);
  }
  // e^(−t²) = e^(−z²/2) = √(2π)·φ(z), computed without rounding t.
  let expNegT2 = expHalfSquareNeg(x);
  let pdf = FRAC_1_SQRT_2PI * expNegT2;
  var erfcT: f32;
  if (t <= 4.0) {
    let num = (((((((2.15311535474403846e-8 * t + 0.564188496988670089) * t + 8.88314979438837594) * t
      + 66.1191906371416295) * t + 298.635138197400131) * t + 881.952221241769090) * t
      + 1712.04761263407058) * t + 2051.07837782607147) * t + 1230.33935479799725;
    let den = (((((((t + 15.7449261107098347) * t + 117.693950891312499) * t + 537.181101862009858) * t
      + 1621.38957456669019) * t + 3290.79923573345963) * t + 4362.61909014324716) * t
      + 3439.36767414372164) * t + 1230.33935480374942;
    erfcT = expNegT2 * (num / den);
  } else {
    let y = 1.0 / (t * t);
    let num = ((((0.0163153871373020978 * y + 0.305326634961232344) * y + 0.360344899949804439) * y
      + 0.125781726111229246) * y + 0.0160837851487422766) * y + 6.58749161529837803e-4;
    let den = ((((y + 2.56852019228982242) * y + 1.87295284992346047) * y + 0.527905102951428412) * y
      + 0.0605183413124413191) * y + 2.33520497626869185e-3;
    erfcT = expNegT2 * ((FRAC_1_SQRT_PI - y * num / den) / t);
  }
  // Φ(z) = ½·erfc(−z/√2): for z < 0 that is ½·erfc(|t|), relative precision kept; for z > 0,
  // 1 − ½·erfc(t) ≥ ½, where erfc's error shrinks.
  return Normal(select(1.0 - 0.5 * erfcT, 0.5 * erfcT, zv < 0.0), pdf);
}

/** Element i + t of a run of n ≤ 4 starting at i, clamped to the run: loads stay in range, stores are guarded. */
fn at(i: u32, t: u32, n: u32) -> u32 { return i + min(t, n - 1u); }
fn zAt(i: u32, n: u32) -> vec4f { return vec4f(z[at(i, 0u, n)], z[at(i, 1u, n)], z[at(i, 2u, n)], z[at(i, 3u, n)]); }
fn dhAt(i: u32, n: u32) -> vec4f { return vec4f(dh[at(i, 0u, n)], dh[at(i, 1u, n)], dh[at(i, 2u, n)], dh[at(i, 3u, n)]); }
fn dzAt(i: u32, n: u32) -> vec4f { return vec4f(dz[at(i, 0u, n)], dz[at(i, 1u, n)], dz[at(i, 2u, n)], dz[at(i, 3u, n)]); }
fn storeH(i: u32, n: u32, x: vec4f) {
  h[i] = x.x; if (n > 1u) { h[i + 1u] = x.y; } if (n > 2u) { h[i + 2u] = x.z; } if (n > 3u) { h[i + 3u] = x.w; }
}
fn storeDz(i: u32, n: u32, x: vec4f) {
  dz[i] = x.x; if (n > 1u) { dz[i + 1u] = x.y; } if (n > 2u) { dz[i + 2u] = x.z; } if (n > 3u) { dz[i + 3u] = x.w; }
}
fn firstElement(gid: vec3u, groups: vec3u) -> u32 { return 4u * (gid.x + gid.y * groups.x * WG); }

fn gelu(x: f32) -> f32 { return x * normal(x, false).cdf; }
/** gelu'(x) = Φ(x) + x·φ(x). */
fn geluSlope(x: f32) -> f32 {
  let n = normal(x, true);
  return n.cdf + x * n.pdf;
}

fn forwardRun(i: u32, n: u32) {
  let x = zAt(i, n);
  storeH(i, n, vec4f(gelu(x.x), gelu(x.y), gelu(x.z), gelu(x.w)));
}

fn backwardRun(i: u32, n: u32) {
  let x = zAt(i, n);
  var g = dhAt(i, n) * vec4f(geluSlope(x.x), geluSlope(x.y), geluSlope(x.z), geluSlope(x.w));
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { g += dzAt(i, n); }
  storeDz(i, n, g);
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
