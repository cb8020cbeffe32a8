// cross-entropy.wgsl: softmax + cross-entropy loss + its gradient, fused in one pass per row.
//
//   logits [rows, classes] row-major f32; labels [rows] u32 (class indices).
//   dlogits[i, c] = (softmax(logits[i])[c] − (c == labels[i])) · gradScale
//     always overwritten: it is an activation gradient, not an accumulated parameter gradient.
//     gradScale = 1/(rows·gradAccumSteps) makes it the gradient of the mean loss over the batch.
//   stats [2·rows] f32: stats[2i]   (+)= −log softmax(logits[i])[labels[i]]   (this row's loss)
//                       stats[2i+1] (+)= 1 if argmax(logits[i]) == labels[i] else 0
//     "+=" with FLAG_ACCUMULATE_STATS, "=" otherwise. The caller sums stats on the CPU when it
//     logs, so there is no reduction kernel and no read-back per step.
//   argmax takes the first maximum (lowest index), as torch.argmax.
//   A label >= classes is a data bug: the row's loss and its dlogits row are NaN (nothing is read
//   out of bounds), so the bug shows in the logged loss instead of training on garbage.
//
// Bindings (group 0): 0 uniform Params, 1 logits (read), 2 labels (read, u32),
//   3 dlogits (read_write), 4 stats (read_write).
// Workgroup: WG invocations (override, default 64), one row each (classes is small: 10 for MNIST);
//   grids past 65535 workgroups fold into y (grid1d).
// Precision: f32; the maximum is subtracted before exp, so any finite logits (even ±1e4) give
//   finite results: loss = log Σ exp(x − max) − (x_label − max).

struct Params {
  rows: u32,
  classes: u32,
  flags: u32,
  gradScale: f32,
}

const FLAG_ACCUMULATE_STATS: u32 = 1u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= p.rows) { return; }
  let row = i * p.classes;
  let label = labels[i];

  var best = logits[row];
  var argmax = 0u;
  for (var c = 1u; c < p.classes; c += 1u) {
    let x = logits[row + c];
    if (x > best) { best = x; argmax = c; }
  }
  var sum = 0.0;
  for (var c = 0u; c < p.classes; c += 1u) {
    sum += exp(logits[row + c] - best);
  }

  var loss: f32;
  var correct = 0.0;
  if (label < p.classes) {
    loss = log(sum) - (logits[row + label] - best);
    correct = select(0.0, 1.0, argmax == label);
    let scale = p.gradScale / sum;
    for (var c = 0u; c < p.classes; c += 1u) {
      let onehot = select(0.0, p.gradScale, c == label);
      dlogits[row + c] = exp(logits[row + c] - best) * scale - onehot;
    }
  } else {
    // A NaN built at run time: a constant NaN expression is a WGSL compile error.
    let nan = bitcast<f32>(0x7fc00000u | (p.flags & 0u));
    loss = nan;
    for (var c = 0u; c < p.classes; c += 1u) {
      dlogits[row + c] = nan;
    }
  }

  if ((p.flags & FLAG_ACCUMULATE_STATS) != 0u) {
    loss += stats[2u * i];
    correct += stats[2u * i + 1u];
  }
  stats[2u * i] = loss;
  stats[2u * i + 1u] = correct;
}
