// bias-grad.wgsl: the bias gradient of a linear layer, db[j] (+)= Σ_i dy[i, j].
//
//   dy is [rows, cols] row-major f32 (dy[i*cols + j]); db is [cols] f32.
//   FLAG_ACCUMULATE adds into db (in-kernel gradient accumulation: the first micro-batch
//   overwrites, later ones add); otherwise db is overwritten.
//
// Bindings (group 0): 0 uniform Params, 1 dy (read), 2 db (read_write).
// Workgroup: WG invocations (override, default 8), each owning 4 adjacent columns and looping over
//   the rows; lavapipe loads a row's 4 adjacent floats in one pass of its per-lane load loop
//   instead of four. The cols % 4 tail is the last invocation's, its loads clamped, its stores
//   guarded. Training's shapes are narrow (cols = layer width, rows = batch), so a small workgroup
//   keeps several for lavapipe's threads (128 columns: 4). Grids past 65535 workgroups fold into y.
// Precision: f32, each column summed in row order (the same arithmetic as one column per invocation).

struct Params {
  rows: u32,
  cols: u32,
  flags: u32,
  _pad: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
override WG: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

/** Columns j + min(t, n − 1), t = 0..3: loads stay in range, stores are guarded by n. */
fn columnsRun(j: u32, n: u32) {
  let cols = vec4u(j) + min(vec4u(0u, 1u, 2u, 3u), vec4u(n - 1u));
  var sum = vec4f(0.0);
  for (var i = 0u; i < p.rows; i += 1u) {
    let k = vec4u(i * p.cols) + cols;
    sum += vec4f(dy[k.x], dy[k.y], dy[k.z], dy[k.w]);
  }
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { sum += vec4f(db[cols.x], db[cols.y], db[cols.z], db[cols.w]); }
  db[j] = sum.x; if (n > 1u) { db[j + 1u] = sum.y; } if (n > 2u) { db[j + 2u] = sum.z; } if (n > 3u) { db[j + 3u] = sum.w; }
}

// A literal 4 lets the compiler drop the clamps and guards for every full quad.
@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let j = 4u * (gid.x + gid.y * groups.x * WG);
  if (j + 3u < p.cols) { columnsRun(j, 4u); } else if (j < p.cols) { columnsRun(j, p.cols - j); }
}
