// optimizers.wgsl: one optimizer step over the whole flat parameter buffer, four adjacent elements
// per invocation (lavapipe runs a per-invocation load as a loop over its 8 SIMD lanes, and four
// adjacent floats take one pass of it; the last invocation's short quad, count % 4 elements, runs
// the very same vec4 operations and writes only its own). Hyper-parameters live in the uniform, rewritten
// before each step's submit, so learning-rate schedules need no recompilation.
//
//   params, grads and the optimizer state are flat f32 arrays of `count` elements, laid out alike
//   (the model's layout table), so one dispatch updates every tensor.
//
// Both entries take two optional inputs, each switched on by a flag (unset, the binding is a
// 4-byte placeholder that is never read):
//   Weight-decay mask (nanoGPT decays 2-D weights only): element i decays iff bit (i mod 32) of
//   decayMask[i / 32] is set; elsewhere the step is that of weightDecay = 0, computed with the same
//   operations (SGD adds 0·p, AdamW multiplies by 1 = 1 − lr·0), as PyTorch's step of a parameter
//   group with weight_decay 0. So one dispatch serves a flat buffer whose decayed and undecayed
//   tensors interleave.
//   Gradient scale (clip_grad_norm_ fused): g = grads[i] · gradScale[1], the scale that grad-norm.wgsl's
//   `finish` writes, the same f32 product its `clip` pass would have stored in grads; grads are
//   not written.
//
// Entry `sgd`: torch.optim.SGD exactly.
//   g = grad + weightDecay·p
//   if FLAG_MOMENTUM (momentum != 0):
//     buf = FLAG_FIRST_STEP ? g : momentum·buf + (1 − dampening)·g
//     g   = FLAG_NESTEROV ? g + momentum·buf : buf
//   p -= lr·g
//   Bindings: 0 uniform SgdHyper, 1 params (read_write), 2 grads (read), 3 momentumBuffer
//   (read_write; untouched without momentum), 4 decayMask (read, u32), 5 gradScale (read, f32).
//
// Entry `adamw`: torch.optim.AdamW exactly (decoupled weight decay, bias-corrected moments).
//   p *= decay                                 decay = 1 − lr·weightDecay, or 1 where masked off
//   m = beta1·m + (1 − beta1)·g
//   v = beta2·v + (1 − beta2)·g²
//   p -= stepSize · m / (sqrt(v) / bc2Sqrt + eps)
//   where stepSize = lr / (1 − beta1^t) and bc2Sqrt = sqrt(1 − beta2^t) are computed on the CPU in
//   float64 (t is the 1-based step), exactly the order of operations of PyTorch's single-tensor
//   implementation.
//   Bindings: 0 uniform AdamWHyper, 1 params (read_write), 2 grads (read), 3 m (read_write),
//   4 v (read_write), 5 decayMask (read, u32), 6 gradScale (read, f32).
//
// Workgroup: WG invocations (override, default 256), one element each; grids past 65535
//   workgroups fold into y (grid1d).
// Precision: f32 throughout.

struct SgdHyper {
  count: u32,
  flags: u32,
  lr: f32,
  momentum: f32,
  weightDecay: f32,
  oneMinusDampening: f32,
  _pad0: u32,
  _pad1: u32,
}

struct AdamWHyper {
  count: u32,
  decay: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  stepSize: f32,
  bc2Sqrt: f32,
  eps: f32,
  flags: u32,
  _pad1: u32,
  _pad2: u32,
}

const FLAG_MOMENTUM: u32 = 1u;
const FLAG_NESTEROV: u32 = 2u;
const FLAG_FIRST_STEP: u32 = 4u;
// Both structs' flags.
const FLAG_DECAY_MASK: u32 = 8u;
const FLAG_GRAD_SCALE: u32 = 16u;
override WG: u32 = 256u;

// Entries use disjoint binding sets, so bindings 0, 3 are declared once per entry.
@group(0) @binding(0) var<uniform> sgdHyper: SgdHyper;
@group(0) @binding(0) var<uniform> adamHyper: AdamWHyper;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> momentumBuffer: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> sgdDecayMask: array<u32>;
@group(0) @binding(5) var<storage, read> sgdGradScale: array<f32>;
@group(0) @binding(5) var<storage, read> decayMask: array<u32>;
@group(0) @binding(6) var<storage, read> gradScale: array<f32>;

// Element i is masked off (does not decay): its bit in the mask word is clear.
fn noDecay(maskWord: u32, i: u32) -> bool { return ((maskWord >> (i % 32u)) & 1u) == 0u; }

/** Elements i .. i + 3 (i % 4 == 0, so their mask bits share one word) that take no weight decay. */
fn noDecay4(maskWord: u32, i: u32) -> vec4<bool> {
  return vec4<bool>(noDecay(maskWord, i), noDecay(maskWord, i + 1u), noDecay(maskWord, i + 2u), noDecay(maskWord, i + 3u));
}

// A quad of n valid elements from i (n = 4 but at the buffer's end): element t is i + min(t, n − 1),
// so a short quad re-reads its last element and never writes past it. Called with a literal 4, the
// indices fold to i .. i + 3, adjacent, and the store guards vanish.
fn at(i: u32, t: u32, n: u32) -> u32 { return i + min(t, n - 1u); }
fn paramsAt(i: u32, n: u32) -> vec4f { return vec4f(params[at(i, 0u, n)], params[at(i, 1u, n)], params[at(i, 2u, n)], params[at(i, 3u, n)]); }
fn gradsAt(i: u32, n: u32) -> vec4f { return vec4f(grads[at(i, 0u, n)], grads[at(i, 1u, n)], grads[at(i, 2u, n)], grads[at(i, 3u, n)]); }
fn momentumAt(i: u32, n: u32) -> vec4f {
  return vec4f(momentumBuffer[at(i, 0u, n)], momentumBuffer[at(i, 1u, n)], momentumBuffer[at(i, 2u, n)], momentumBuffer[at(i, 3u, n)]);
}
fn mAt(i: u32, n: u32) -> vec4f { return vec4f(m[at(i, 0u, n)], m[at(i, 1u, n)], m[at(i, 2u, n)], m[at(i, 3u, n)]); }
fn vAt(i: u32, n: u32) -> vec4f { return vec4f(v[at(i, 0u, n)], v[at(i, 1u, n)], v[at(i, 2u, n)], v[at(i, 3u, n)]); }
fn storeParams(i: u32, n: u32, x: vec4f) {
  params[i] = x.x; if (n > 1u) { params[i + 1u] = x.y; } if (n > 2u) { params[i + 2u] = x.z; } if (n > 3u) { params[i + 3u] = x.w; }
}
fn storeMomentum(i: u32, n: u32, x: vec4f) {
  momentumBuffer[i] = x.x; if (n > 1u) { momentumBuffer[i + 1u] = x.y; } if (n > 2u) { momentumBuffer[i + 2u] = x.z; } if (n > 3u) { momentumBuffer[i + 3u] = x.w; }
}
fn storeM(i: u32, n: u32, x: vec4f) {
  m[i] = x.x; if (n > 1u) { m[i + 1u] = x.y; } if (n > 2u) { m[i + 2u] = x.z; } if (n > 3u) { m[i + 3u] = x.w; }
}
fn storeV(i: u32, n: u32, x: vec4f) {
  v[i] = x.x; if (n > 1u) { v[i + 1u] = x.y; } if (n > 2u) { v[i + 2u] = x.z; } if (n > 3u) { v[i + 3u] = x.w; }
}

/** This invocation's first element: 4 per invocation. */
fn firstElement(gid: vec3u, groups: vec3u) -> u32 { return 4u * (gid.x + gid.y * groups.x * WG); }

@compute @workgroup_size(WG, 1, 1)
fn sgd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = firstElement(gid, groups);
  let count = sgdHyper.count;
  if (i + 3u < count) { sgdStep(i, 4u); } else if (i < count) { sgdStep(i, count - i); }
}

fn sgdStep(i: u32, n: u32) {
  let hp = sgdHyper;
  let p = paramsAt(i, n);
  var grad = gradsAt(i, n);
  if ((hp.flags & FLAG_GRAD_SCALE) != 0u) { grad = grad * sgdGradScale[1]; }
  var weightDecay = vec4f(hp.weightDecay);
  if ((hp.flags & FLAG_DECAY_MASK) != 0u) { weightDecay = select(weightDecay, vec4f(0.0), noDecay4(sgdDecayMask[i / 32u], i)); }
  var g = grad + weightDecay * p;
  if ((hp.flags & FLAG_MOMENTUM) != 0u) {
    var buf = g;
    if ((hp.flags & FLAG_FIRST_STEP) == 0u) {
      buf = hp.momentum * momentumAt(i, n) + hp.oneMinusDampening * g;
    }
    storeMomentum(i, n, buf);
    g = select(buf, g + hp.momentum * buf, (hp.flags & FLAG_NESTEROV) != 0u);
  }
  storeParams(i, n, p - hp.lr * g);
}

@compute @workgroup_size(WG, 1, 1)
fn adamw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = firstElement(gid, groups);
  let count = adamHyper.count;
  if (i + 3u < count) { adamwStep(i, 4u); } else if (i < count) { adamwStep(i, count - i); }
}

fn adamwStep(i: u32, n: u32) {
  let hp = adamHyper;
  var g = gradsAt(i, n);
  if ((hp.flags & FLAG_GRAD_SCALE) != 0u) { g = g * gradScale[1]; }
  let mi = hp.beta1 * mAt(i, n) + hp.oneMinusBeta1 * g;
  let vi = hp.beta2 * vAt(i, n) + hp.oneMinusBeta2 * g * g;
  storeM(i, n, mi);
  storeV(i, n, vi);
  var decay = vec4f(hp.decay);
  if ((hp.flags & FLAG_DECAY_MASK) != 0u) { decay = select(decay, vec4f(1.0), noDecay4(decayMask[i / 32u], i)); }
  storeParams(i, n, paramsAt(i, n) * decay - hp.stepSize * mi / (sqrt(vi) / hp.bc2Sqrt + hp.eps));
}
