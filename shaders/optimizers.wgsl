// optimizers.wgsl: one optimizer step over the whole flat parameter buffer, four adjacent elements
// per invocation (lavapipe runs a per-invocation load as a loop over its 8 SIMD lanes, and four
// adjacent floats take one pass of it; the last invocation's tail, past count − count % 4, goes one
// element at a time with the very same operations). Hyper-parameters live in the uniform, rewritten
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

fn load4(i: u32) -> vec4f { return vec4f(params[i], params[i + 1u], params[i + 2u], params[i + 3u]); }
fn grads4(i: u32) -> vec4f { return vec4f(grads[i], grads[i + 1u], grads[i + 2u], grads[i + 3u]); }
fn store4(i: u32, p: vec4f) { params[i] = p.x; params[i + 1u] = p.y; params[i + 2u] = p.z; params[i + 3u] = p.w; }

/** This invocation's first element: 4 per invocation. */
fn firstElement(gid: vec3u, groups: vec3u) -> u32 { return 4u * (gid.x + gid.y * groups.x * WG); }

@compute @workgroup_size(WG, 1, 1)
fn sgd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = firstElement(gid, groups);
  if (i + 3u < sgdHyper.count) {
    sgdQuad(i);
  } else {
    for (var k = i; k < sgdHyper.count; k++) { sgdOne(k); }
  }
}

fn sgdQuad(i: u32) {
  let hp = sgdHyper;
  let p = load4(i);
  var grad = grads4(i);
  if ((hp.flags & FLAG_GRAD_SCALE) != 0u) { grad = grad * sgdGradScale[1]; }
  var weightDecay = vec4f(hp.weightDecay);
  if ((hp.flags & FLAG_DECAY_MASK) != 0u) { weightDecay = select(weightDecay, vec4f(0.0), noDecay4(sgdDecayMask[i / 32u], i)); }
  var g = grad + weightDecay * p;
  if ((hp.flags & FLAG_MOMENTUM) != 0u) {
    var buf = g;
    if ((hp.flags & FLAG_FIRST_STEP) == 0u) {
      let old = vec4f(momentumBuffer[i], momentumBuffer[i + 1u], momentumBuffer[i + 2u], momentumBuffer[i + 3u]);
      buf = hp.momentum * old + hp.oneMinusDampening * g;
    }
    momentumBuffer[i] = buf.x; momentumBuffer[i + 1u] = buf.y; momentumBuffer[i + 2u] = buf.z; momentumBuffer[i + 3u] = buf.w;
    g = select(buf, g + hp.momentum * buf, (hp.flags & FLAG_NESTEROV) != 0u);
  }
  store4(i, p - hp.lr * g);
}

fn sgdOne(i: u32) {
  let hp = sgdHyper;
  let p = params[i];
  var grad = grads[i];
  if ((hp.flags & FLAG_GRAD_SCALE) != 0u) { grad = grad * sgdGradScale[1]; }
  var weightDecay = hp.weightDecay;
  if ((hp.flags & FLAG_DECAY_MASK) != 0u && noDecay(sgdDecayMask[i / 32u], i)) { weightDecay = 0.0; }
  var g = grad + weightDecay * p;
  if ((hp.flags & FLAG_MOMENTUM) != 0u) {
    var buf = g;
    if ((hp.flags & FLAG_FIRST_STEP) == 0u) {
      buf = hp.momentum * momentumBuffer[i] + hp.oneMinusDampening * g;
    }
    momentumBuffer[i] = buf;
    g = select(buf, g + hp.momentum * buf, (hp.flags & FLAG_NESTEROV) != 0u);
  }
  params[i] = p - hp.lr * g;
}

@compute @workgroup_size(WG, 1, 1)
fn adamw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = firstElement(gid, groups);
  if (i + 3u < adamHyper.count) {
    adamwQuad(i);
  } else {
    for (var k = i; k < adamHyper.count; k++) { adamwOne(k); }
  }
}

fn adamwQuad(i: u32) {
  let hp = adamHyper;
  var g = grads4(i);
  if ((hp.flags & FLAG_GRAD_SCALE) != 0u) { g = g * gradScale[1]; }
  let mi = hp.beta1 * vec4f(m[i], m[i + 1u], m[i + 2u], m[i + 3u]) + hp.oneMinusBeta1 * g;
  let vi = hp.beta2 * vec4f(v[i], v[i + 1u], v[i + 2u], v[i + 3u]) + hp.oneMinusBeta2 * g * g;
  m[i] = mi.x; m[i + 1u] = mi.y; m[i + 2u] = mi.z; m[i + 3u] = mi.w;
  v[i] = vi.x; v[i + 1u] = vi.y; v[i + 2u] = vi.z; v[i + 3u] = vi.w;
  var decay = vec4f(hp.decay);
  if ((hp.flags & FLAG_DECAY_MASK) != 0u) { decay = select(decay, vec4f(1.0), noDecay4(decayMask[i / 32u], i)); }
  store4(i, load4(i) * decay - hp.stepSize * mi / (sqrt(vi) / hp.bc2Sqrt + hp.eps));
}

fn adamwOne(i: u32) {
  let hp = adamHyper;
  var g = grads[i];
  if ((hp.flags & FLAG_GRAD_SCALE) != 0u) { g = g * gradScale[1]; }
  let mi = hp.beta1 * m[i] + hp.oneMinusBeta1 * g;
  let vi = hp.beta2 * v[i] + hp.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  var decay = hp.decay;
  if ((hp.flags & FLAG_DECAY_MASK) != 0u && noDecay(decayMask[i / 32u], i)) { decay = 1.0; }
  params[i] = params[i] * decay - hp.stepSize * mi / (sqrt(vi) / hp.bc2Sqrt + hp.eps);
}
