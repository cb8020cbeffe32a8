// bias-grad.wgsl: the bias gradient of a linear layer, db[j] (+)= Σ_i dy[i, j].
//
//   dy is [rows, cols] row-major f32 (dy[i*cols + j]); db is [cols] f32.
//   FLAG_ACCUMULATE adds into db (in-kernel gradient accumulation: the first micro-batch
//   overwrites, later ones add); otherwise db is overwritten.
//
// Bindings (group 0): 0 uniform Params, 1 dy (read), 2 db (read_write).
// Workgroup: WG invocations (override, default 64), one column each, looping over the rows:
//   neighbouring invocations read neighbouring columns of a row. Training's shapes are narrow
//   (cols = layer width, rows = batch), so one pass per column is already short; grids past
//   65535 workgroups fold into y (grid1d).
// Precision: f32, summed in row order.

struct Params {
  rows: u32,
  cols: u32,
  flags: u32,
  _pad: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let j = gid.x + gid.y * groups.x * WG;
  if (j >= p.cols) { return; }
  var sum = 0.0;
  for (var i = 0u; i < p.rows; i += 1u) {
    sum += dy[i * p.cols + j];
  }
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { sum += db[j]; }
  db[j] = sum;
}
