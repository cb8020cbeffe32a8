// layernorm.wgsl: LayerNorm over the last dimension (PyTorch's nn.LayerNorm(C), with weight and
// bias; nanoGPT's ln_1, ln_2, ln_f), forward and backward.
//
//   x, y, dy, dx are [rows, cols] row-major f32 (x[i*cols + j]); weight, bias, dweight, dbias are
//   [cols]; mean and rstd are [rows], saved by the forward for the backward.
//   forward (entry `forward`), one row per invocation:
//     mean[i] = Σ_j x[i,j] / C,  var = Σ_j (x[i,j] − mean[i])² / C  (biased, as PyTorch),
//     rstd[i] = 1/√(var + eps),  y[i,j] = (x[i,j] − mean[i])·rstd[i]·weight[j] + bias[j]
//   backward, data gradient (entry `backward_input`), one row per invocation, with
//     x̂ = (x − mean)·rstd and g = dy·weight:
//     dx[i,j] (+)= rstd[i]·(g[j] − mean_j(g) − x̂[i,j]·mean_j(g·x̂))
//     FLAG_ACCUMULATE adds into dx (in a transformer dx is the residual stream's gradient, which
//     already holds the skip connection's share).
//   backward, parameter gradients (entry `backward_params`), one column per invocation:
//     dweight[j] (+)= Σ_i dy[i,j]·x̂[i,j],  dbias[j] (+)= Σ_i dy[i,j]
//     FLAG_ACCUMULATE adds into both (gradient accumulation over micro-batches: the first
//     overwrites, later ones add).
//
// Bindings (group 0):
//   forward:         0 uniform Params, 1 x, 2 weight, 3 bias (read), 4 y, 5 mean, 6 rstd (read_write)
//   backward_input:  0 uniform Params, 1 x, 2 weight, 3 mean, 4 rstd, 5 dy (read), 6 dx (read_write)
//   backward_params: 0 uniform Params, 1 x, 2 mean, 3 rstd, 4 dy (read), 5 dweight, 6 dbias (read_write)
// Workgroup: WG invocations (override, default 64) in x; grids past 65535 workgroups fold into y.
//   One invocation owns a whole row (or 4 adjacent columns) and loops over it: no workgroup memory
//   and no barriers, which lavapipe runs slower than plain loops (WEBGPU-NOTES), and every sum runs
//   in index order, so results are bit-identical from run to run (no atomics anywhere).
//   Loads go 4 adjacent floats at a time (a row's next 4 columns; in the column kernel a row's 4
//   columns), which lavapipe does in one pass of its per-lane load loop instead of four; the sums
//   still take one element at a time in index order, so the arithmetic is the one-at-a-time loop's.
//   The column kernel runs WG_PARAMS (8) invocations per workgroup: a GPT's 128 columns are then 4
//   workgroups, enough for lavapipe's threads.
// Precision: f32. Mean and variance are the corrected two-pass form (Σ(x − m)² about a first
//   mean m, minus the correction (Σ(x − m))²/C, not E[x²] − mean²), so a large common offset
//   cancels neither the variance nor, through the mean's rounding, x − mean.

struct Params {
  rows: u32,
  cols: u32,
  flags: u32,
  eps: f32,
}

const FLAG_ACCUMULATE: u32 = 1u;
override WG: u32 = 64u;
override WG_PARAMS: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;

// forward
@group(0) @binding(2) var<storage, read> fw_weight: array<f32>;
@group(0) @binding(3) var<storage, read> fw_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> fw_y: array<f32>;
@group(0) @binding(5) var<storage, read_write> fw_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> fw_rstd: array<f32>;

// backward_input (entries use disjoint binding sets, so a binding number may be declared again)
@group(0) @binding(2) var<storage, read> bi_weight: array<f32>;
@group(0) @binding(3) var<storage, read> bi_mean: array<f32>;
@group(0) @binding(4) var<storage, read> bi_rstd: array<f32>;
@group(0) @binding(5) var<storage, read> bi_dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> bi_dx: array<f32>;

// backward_params
@group(0) @binding(2) var<storage, read> bp_mean: array<f32>;
@group(0) @binding(3) var<storage, read> bp_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> bp_dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> bp_dweight: array<f32>;
@group(0) @binding(6) var<storage, read_write> bp_dbias: array<f32>;

fn flatIndex(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

/** x[at .. at + 3], four adjacent floats. */
fn xq(at: u32) -> vec4f { return vec4f(x[at], x[at + 1u], x[at + 2u], x[at + 3u]); }

@compute @workgroup_size(WG, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flatIndex(gid, groups);
  if (i >= p.rows) { return; }
  let base = i * p.cols;
  let n = f32(p.cols);
  let c4 = p.cols & ~3u;
  var sum = 0.0;
  for (var j = 0u; j < c4; j += 4u) {
    let q = xq(base + j);
    sum += q.x; sum += q.y; sum += q.z; sum += q.w;
  }
  for (var j = c4; j < p.cols; j += 1u) { sum += x[base + j]; }
  let roughMean = sum / n;
  // Corrected two-pass (Chan, Golub & LeVeque): the f32 sum's rounding error, which grows with
  // the row's offset and length, comes back as Σ(x − roughMean) and is removed from both moments.
  var sumD = 0.0;
  var sq = 0.0;
  for (var j = 0u; j < c4; j += 4u) {
    let d = xq(base + j) - roughMean;
    sumD += d.x; sq += d.x * d.x;
    sumD += d.y; sq += d.y * d.y;
    sumD += d.z; sq += d.z * d.z;
    sumD += d.w; sq += d.w * d.w;
  }
  for (var j = c4; j < p.cols; j += 1u) {
    let d = x[base + j] - roughMean;
    sumD += d;
    sq += d * d;
  }
  let mean = roughMean + sumD / n;
  let rstd = inverseSqrt(max(sq - sumD * sumD / n, 0.0) / n + p.eps);
  for (var j = 0u; j < c4; j += 4u) {
    let w = vec4f(fw_weight[j], fw_weight[j + 1u], fw_weight[j + 2u], fw_weight[j + 3u]);
    let b = vec4f(fw_bias[j], fw_bias[j + 1u], fw_bias[j + 2u], fw_bias[j + 3u]);
    let y = (xq(base + j) - mean) * rstd * w + b;
    fw_y[base + j] = y.x; fw_y[base + j + 1u] = y.y; fw_y[base + j + 2u] = y.z; fw_y[base + j + 3u] = y.w;
  }
  for (var j = c4; j < p.cols; j += 1u) {
    fw_y[base + j] = (x[base + j] - mean) * rstd * fw_weight[j] + fw_bias[j];
  }
  fw_mean[i] = mean;
  fw_rstd[i] = rstd;
}

fn dyq(at: u32) -> vec4f { return vec4f(bi_dy[at], bi_dy[at + 1u], bi_dy[at + 2u], bi_dy[at + 3u]); }
fn weightq(j: u32) -> vec4f { return vec4f(bi_weight[j], bi_weight[j + 1u], bi_weight[j + 2u], bi_weight[j + 3u]); }

@compute @workgroup_size(WG, 1, 1)
fn backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flatIndex(gid, groups);
  if (i >= p.rows) { return; }
  let base = i * p.cols;
  let mean = bi_mean[i];
  let rstd = bi_rstd[i];
  let c4 = p.cols & ~3u;
  var sumG = 0.0;
  var sumGX = 0.0;
  for (var j = 0u; j < c4; j += 4u) {
    let g = dyq(base + j) * weightq(j);
    let gx = g * ((xq(base + j) - mean) * rstd);
    sumG += g.x; sumGX += gx.x;
    sumG += g.y; sumGX += gx.y;
    sumG += g.z; sumGX += gx.z;
    sumG += g.w; sumGX += gx.w;
  }
  for (var j = c4; j < p.cols; j += 1u) {
    let g = bi_dy[base + j] * bi_weight[j];
    sumG += g;
    sumGX += g * ((x[base + j] - mean) * rstd);
  }
  let n = f32(p.cols);
  let meanG = sumG / n;
  let meanGX = sumGX / n;
  let accumulate = (p.flags & FLAG_ACCUMULATE) != 0u;
  for (var j = 0u; j < c4; j += 4u) {
    let at = base + j;
    let xhat = (xq(at) - mean) * rstd;
    var d = rstd * (dyq(at) * weightq(j) - meanG - xhat * meanGX);
    if (accumulate) { d += vec4f(bi_dx[at], bi_dx[at + 1u], bi_dx[at + 2u], bi_dx[at + 3u]); }
    bi_dx[at] = d.x; bi_dx[at + 1u] = d.y; bi_dx[at + 2u] = d.z; bi_dx[at + 3u] = d.w;
  }
  for (var j = c4; j < p.cols; j += 1u) {
    let xhat = (x[base + j] - mean) * rstd;
    var d = rstd * (bi_dy[base + j] * bi_weight[j] - meanG - xhat * meanGX);
    if (accumulate) { d += bi_dx[base + j]; }
    bi_dx[base + j] = d;
  }
}

/** Column j's sums over the rows, for the 4 columns j + min(t, n − 1): loads in range, stores guarded. */
fn paramsRun(j: u32, n: u32) {
  let cols = vec4u(j) + min(vec4u(0u, 1u, 2u, 3u), vec4u(n - 1u));
  var dw = vec4f(0.0);
  var db = vec4f(0.0);
  for (var i = 0u; i < p.rows; i += 1u) {
    let k = vec4u(i * p.cols) + cols;
    let dy = vec4f(bp_dy[k.x], bp_dy[k.y], bp_dy[k.z], bp_dy[k.w]);
    dw += dy * ((vec4f(x[k.x], x[k.y], x[k.z], x[k.w]) - bp_mean[i]) * bp_rstd[i]);
    db += dy;
  }
  if ((p.flags & FLAG_ACCUMULATE) != 0u) {
    dw += vec4f(bp_dweight[cols.x], bp_dweight[cols.y], bp_dweight[cols.z], bp_dweight[cols.w]);
    db += vec4f(bp_dbias[cols.x], bp_dbias[cols.y], bp_dbias[cols.z], bp_dbias[cols.w]);
  }
  bp_dweight[j] = dw.x; bp_dbias[j] = db.x;
  if (n > 1u) { bp_dweight[j + 1u] = dw.y; bp_dbias[j + 1u] = db.y; }
  if (n > 2u) { bp_dweight[j + 2u] = dw.z; bp_dbias[j + 2u] = db.z; }
  if (n > 3u) { bp_dweight[j + 3u] = dw.w; bp_dbias[j + 3u] = db.w; }
}

// One invocation per 4 adjacent columns; a literal 4 lets the compiler drop the clamps and guards.
@compute @workgroup_size(WG_PARAMS, 1, 1)
fn backward_params(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let j = 4u * (gid.x + gid.y * groups.x * WG_PARAMS);
  if (j + 3u < p.cols) { paramsRun(j, 4u); } else if (j < p.cols) { paramsRun(j, p.cols - j); }
}
