// vocab-cross-entropy.wgsl: softmax cross-entropy over a vocabulary for every position of a
// language model, with its gradient, one workgroup per row (cross-entropy.wgsl, one invocation per
// row, stays for the MLP's 10 classes; a 256-wide row wants more hands).
//
//   logits  [rows, V] row-major f32 (rows = B·T positions); targets [rows] u32.
//   losses  [rows] f32: losses[r] (+)= −log softmax(logits[r])[targets[r]]
//     per row, not the mean: the caller takes the mean (sum / (rows·gradAccumSteps)) when it logs,
//     so there is no read-back per step. "+=" with FLAG_ACCUMULATE_LOSS (micro-batches), else "=".
//   dlogits [rows, V] f32, always overwritten (an activation gradient):
//     dlogits[r, c] = (softmax(logits[r])[c] − (c == targets[r])) · gradScale
//     gradScale = 1/(rows·gradAccumSteps) makes it the gradient of the mean loss, as nanoGPT's
//     F.cross_entropy(reduction='mean') divided by gradient_accumulation_steps.
//   A label >= V is a data bug: that row's loss and dlogits are NaN (nothing read out of bounds).
//
// Bindings (group 0): 0 uniform Params, 1 logits (read), 2 targets (read, u32),
//   3 dlogits (read_write), 4 losses (read_write).
// Workgroup: WG invocations (override, a power of two; the wrapper sets 8) per row; invocation l takes columns l, l+WG, …;
//   the row's maximum and then its sum of exponentials are reduced by a fixed tree in workgroup
//   memory, so every run gives the same bits. Rows past 65535 fold into y (grid1d).
// Precision: f32; the row maximum is subtracted before exp, so any finite logits give finite results:
//   loss = log Σ exp(x − max) − (x_target − max).

struct Params {
  rows: u32,
  vocab: u32,
  flags: u32,
  gradScale: f32,
}

const FLAG_ACCUMULATE_LOSS: u32 = 1u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;

var<workgroup> scratch: array<f32, WG>;

// Tree reduction of scratch (WG a power of two); every invocation returns the result.
fn reduceMax(lid: u32, value: f32) -> f32 {
  scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] = max(scratch[lid], scratch[lid + stride]); }
    workgroupBarrier();
  }
  let result = scratch[0];
  workgroupBarrier(); // scratch is reused by the next reduction
  return result;
}

fn reduceSum(lid: u32, value: f32) -> f32 {
  scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] = scratch[lid] + scratch[lid + stride]; }
    workgroupBarrier();
  }
  let result = scratch[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * groups.x;
  if (r >= p.rows) { return; } // workgroup-uniform: the whole workgroup leaves together
  let V = p.vocab;
  let row = r * V;

  var localMax = bitcast<f32>(0xff7fffffu); // the lowest finite f32: invocations past V keep it
  for (var c = lid; c < V; c += WG) { localMax = max(localMax, logits[row + c]); }
  let best = reduceMax(lid, localMax);
  var localSum = 0.0;
  for (var c = lid; c < V; c += WG) { localSum += exp(logits[row + c] - best); }
  let sum = reduceSum(lid, localSum);

  let label = targets[r];
  if (label < V) {
    let scale = p.gradScale / sum;
    for (var c = lid; c < V; c += WG) {
      let onehot = select(0.0, p.gradScale, c == label);
      dlogits[row + c] = exp(logits[row + c] - best) * scale - onehot;
    }
  } else {
    let nan = bitcast<f32>(0x7fc00000u | (p.flags & 0u));
    for (var c = lid; c < V; c += WG) { dlogits[row + c] = nan; }
  }
  if (lid == 0u) {
    var loss = bitcast<f32>(0x7fc00000u | (p.flags & 0u));
    if (label < V) { loss = log(sum) - (logits[row + label] - best); }
    if ((p.flags & FLAG_ACCUMULATE_LOSS) != 0u) { loss += losses[r]; }
    losses[r] = loss;
  }
}
