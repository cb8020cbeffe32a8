// token-stats.wgsl: a language model's per-sequence loss and accuracy sums for the log, after
// vocab-cross-entropy.wgsl has written each position's loss.
//
//   logits  [rows·T, V] row-major f32 (rows sequences of T positions); targets [rows·T] u32;
//   losses  [rows·T] f32 (vocab-cross-entropy's per-position losses).
//   stats   [rows, 2] f32, always added to (the trainer zeroes it when it has read it):
//     stats[2s]   += Σ_t losses[s·T + t]
//     stats[2s+1] += #{t : argmax(logits[s·T + t]) == targets[s·T + t]}
//   argmax takes the first maximum (lowest index), as torch.argmax and cross-entropy.wgsl do.
//
// Bindings (group 0): 0 uniform Params, 1 logits (read), 2 targets (read, u32), 3 losses (read),
//   4 stats (read_write).
// Workgroup: WG invocations (override), one sequence each; it walks its positions in order, so the
//   sums have a fixed order and every run gives the same bits (no atomics). Sequences past 65535
//   workgroups fold into y (grid1d).
// Precision: f32; the correct count is exact up to 2^24 predictions per sequence row.

struct Params {
  rows: u32,
  positions: u32,
  vocab: u32,
  pad: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let s = gid.x + gid.y * groups.x * WG;
  if (s >= p.rows) { return; }
  let V = p.vocab;
  var lossSum = 0.0;
  var correct = 0.0;
  for (var t = 0u; t < p.positions; t++) {
    let r = s * p.positions + t;
    let row = r * V;
    var best = 0u;
    var bestValue = logits[row];
    for (var c = 1u; c < V; c++) {
      let value = logits[row + c];
      if (value > bestValue) { best = c; bestValue = value; }
    }
    lossSum += losses[r];
    if (best == targets[r]) { correct += 1.0; }
  }
  stats[2u * s] += lossSum;
  stats[2u * s + 1u] += correct;
}
