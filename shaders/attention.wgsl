// attention.wgsl: causal multi-head self-attention, forward and backward, as nanoGPT computes it
// from c_attn's output.
//
//   qkv [B, T, 3C] row-major f32: for position (b, t) the row holds q | k | v, each C wide; head h
//     owns columns h·hs .. h·hs + hs − 1 of each (hs = C / nHead), i.e. nanoGPT's
//     q.view(B, T, nHead, hs).transpose(1, 2).
//   Forward:  S[t, s] = q_t · k_s · scale (scale = 1/√hs), masked to s ≤ t;
//             P = softmax over s; y_t = Σ_s P[t, s] v_s, written back as [B, T, C] (heads side by
//             side, nanoGPT's y.transpose(1, 2).view(B, T, C)).
//             lse [B, nHead, T] = log Σ_{s≤t} exp(S[t, s]) (the softmax statistics), always written.
//             With FLAG_ATT, att [B, nHead, T, T] = P as well, zeros above the diagonal.
//   Backward: dy [B, T, C] → dqkv [B, T, 3C] (FLAG_ACCUMULATE adds into dqkv, else overwrites):
//             D_t = dy_t · y_t (= Σ_s P[t,s] dP[t,s]), dP[t, s] = dy_t · v_s,
//             dS = P ∘ (dP − D), dq_t = scale Σ_{s≤t} dS[t,s] k_s, dk_s = scale Σ_{t≥s} dS[t,s] q_t,
//             dv_s = Σ_{t≥s} P[t,s] dy_t. P is read from att (FLAG_ATT) or recomputed from q, k, lse.
//             Two dispatches in order: backward_dq (also writes dyDotY [B, nHead, T] = D), then
//             backward_dkdv, which reads D.
//
// Bindings (group 0), by entry:
//   forward:       0 uniform Params, 1 qkv, 2 y (written), 3 lse (written), 4 att (written with FLAG_ATT)
//   backward_dq:   0 Params, 1 qkv, 2 y, 3 lse, 4 att (read with FLAG_ATT), 5 dy, 6 dqkv, 7 dyDotY (written)
//   backward_dkdv: 0 Params, 1 qkv,       3 lse, 4 att,                      5 dy, 6 dqkv, 7 dyDotY
//   (y, lse and att are declared read_write because the forward writes them; the backward only reads.)
//
// Work split: one invocation per (b, head, row); no workgroup memory, no barriers (both are slow on
//   lavapipe, see WEBGPU-NOTES), no atomics: every output element is written by exactly one
//   invocation and every sum runs in a fixed order, so reruns are bit-identical. The forward and
//   backward_dq own a query row t and loop over keys s ≤ t; backward_dkdv owns a key row s and
//   loops over queries t ≥ s (a column of P), so dk and dv need no cross-invocation reduction.
//   Row is the fastest index, so neighbouring lanes have loops of nearly equal length.
//   Per invocation the output row is built CHUNK (32) head dimensions at a time in vec4 registers;
//   a head wider than CHUNK takes several passes over the keys (scores are recomputed per pass).
//   Grids past 65535 workgroups fold into y.
// Precision: f32. The forward uses the running maximum (online softmax): m and l are updated per
//   key, the accumulator rescaled by exp(m_old − m_new), so no exp overflows whatever the scores.

struct Params {
  batch: u32,
  T: u32,
  C: u32,
  nHead: u32,
  hs: u32,
  flags: u32,
  scale: f32,
  _pad: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
const FLAG_ATT: u32 = 2u;
/** Head dimensions per pass, as vec4 registers (per-thread arrays must have a const size). */
const CHUNK4: u32 = 8u;
const CHUNK: u32 = 32u;
override WG: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> att: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(7) var<storage, read_write> dyDotY: array<f32>;

struct Row {
  valid: bool,
  b: u32,
  h: u32,
  t: u32,
  /** (b·nHead + h)·T + t: the index into lse, dyDotY, and att's row. */
  bht: u32,
}

fn rowOf(gid: vec3u, groups: vec3u) -> Row {
  let i = gid.x + gid.y * groups.x * WG;
  let bh = i / p.T;
  return Row(bh < p.batch * p.nHead, bh / p.nHead, bh % p.nHead, i % p.T, i);
}

/** Offset of head h's q (part 0), k (1) or v (2) at position (b, t) in qkv. */
fn qkvAt(b: u32, t: u32, part: u32, h: u32) -> u32 {
  return (b * p.T + t) * 3u * p.C + part * p.C + h * p.hs;
}

/** Offset of head h at position (b, t) in a [B, T, C] tensor (y, dy). */
fn btcAt(b: u32, t: u32, h: u32) -> u32 {
  return (b * p.T + t) * p.C + h * p.hs;
}

// Four consecutive head dimensions d..d+3 from a row starting at `at`. Indices past the head are
// clamped to its last element: those lanes are finite garbage that is never stored.
fn qkv4(at: u32, d: u32) -> vec4f {
  let last = p.hs - 1u;
  return vec4f(qkv[at + min(d, last)], qkv[at + min(d + 1u, last)], qkv[at + min(d + 2u, last)], qkv[at + min(d + 3u, last)]);
}

fn dy4(at: u32, d: u32) -> vec4f {
  let last = p.hs - 1u;
  return vec4f(dy[at + min(d, last)], dy[at + min(d + 1u, last)], dy[at + min(d + 2u, last)], dy[at + min(d + 3u, last)]);
}

/** Σ_d qkv[a + d]·qkv[b + d] over the head, in order. */
fn dotQkv(a: u32, b: u32) -> f32 {
  var sum = 0.0;
  for (var d = 0u; d < p.hs; d += 1u) { sum += qkv[a + d] * qkv[b + d]; }
  return sum;
}

/** Σ_d dy[a + d]·qkv[b + d] over the head, in order. */
fn dotDyQkv(a: u32, b: u32) -> f32 {
  var sum = 0.0;
  for (var d = 0u; d < p.hs; d += 1u) { sum += dy[a + d] * qkv[b + d]; }
  return sum;
}

/** P[t, s]: from att, or recomputed from the scores and the row's log-sum-exp. */
fn prob(b: u32, h: u32, t: u32, s: u32, bht: u32) -> f32 {
  if ((p.flags & FLAG_ATT) != 0u) { return att[bht * p.T + s]; }
  return exp(dotQkv(qkvAt(b, t, 0u, h), qkvAt(b, s, 1u, h)) * p.scale - lse[bht]);
}

@compute @workgroup_size(WG, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let r = rowOf(gid, groups);
  if (!r.valid) { return; }
  let qAt = qkvAt(r.b, r.t, 0u, r.h);
  let yAt = btcAt(r.b, r.t, r.h);
  var logSumExp = 0.0;
  for (var c0 = 0u; c0 < p.hs; c0 += CHUNK) {
    // Key 0 is always visible (s ≤ t), so the running max starts from a real score, not −inf.
    var m = dotQkv(qAt, qkvAt(r.b, 0u, 1u, r.h)) * p.scale;
    var l = 1.0;
    var acc = array<vec4f, CHUNK4>();
    let v0 = qkvAt(r.b, 0u, 2u, r.h);
    for (var j = 0u; j < CHUNK4; j += 1u) { acc[j] = qkv4(v0, c0 + 4u * j); }
    for (var s = 1u; s <= r.t; s += 1u) {
      let score = dotQkv(qAt, qkvAt(r.b, s, 1u, r.h)) * p.scale;
      // Branch-free update: lanes of one SIMD group take the same path.
      let mNew = max(m, score);
      let rescale = exp(m - mNew);
      let w = exp(score - mNew);
      l = l * rescale + w;
      m = mNew;
      let vAt = qkvAt(r.b, s, 2u, r.h);
      for (var j = 0u; j < CHUNK4; j += 1u) { acc[j] = acc[j] * rescale + w * qkv4(vAt, c0 + 4u * j); }
    }
    let inv = 1.0 / l;
    for (var j = 0u; j < CHUNK4; j += 1u) {
      let out = acc[j] * inv;
      for (var e = 0u; e < 4u; e += 1u) {
        let d = c0 + 4u * j + e;
        if (d < p.hs) { y[yAt + d] = out[e]; }
      }
    }
    logSumExp = m + log(l);
  }
  lse[r.bht] = logSumExp;
  if ((p.flags & FLAG_ATT) != 0u) {
    for (var s = 0u; s < p.T; s += 1u) {
      var pts = 0.0;
      if (s <= r.t) { pts = exp(dotQkv(qAt, qkvAt(r.b, s, 1u, r.h)) * p.scale - logSumExp); }
      att[r.bht * p.T + s] = pts;
    }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn backward_dq(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let r = rowOf(gid, groups);
  if (!r.valid) { return; }
  let dyAt = btcAt(r.b, r.t, r.h);
  var dsum = 0.0;
  for (var d = 0u; d < p.hs; d += 1u) { dsum += dy[dyAt + d] * y[dyAt + d]; }
  dyDotY[r.bht] = dsum;
  let dqAt = qkvAt(r.b, r.t, 0u, r.h);
  for (var c0 = 0u; c0 < p.hs; c0 += CHUNK) {
    var acc = array<vec4f, CHUNK4>();
    for (var s = 0u; s <= r.t; s += 1u) {
      let dS = prob(r.b, r.h, r.t, s, r.bht) * (dotDyQkv(dyAt, qkvAt(r.b, s, 2u, r.h)) - dsum);
      let kAt = qkvAt(r.b, s, 1u, r.h);
      for (var j = 0u; j < CHUNK4; j += 1u) { acc[j] += dS * qkv4(kAt, c0 + 4u * j); }
    }
    for (var j = 0u; j < CHUNK4; j += 1u) {
      let out = acc[j] * p.scale;
      for (var e = 0u; e < 4u; e += 1u) {
        let d = c0 + 4u * j + e;
        if (d < p.hs) {
          var g = out[e];
          if ((p.flags & FLAG_ACCUMULATE) != 0u) { g += dqkv[dqAt + d]; }
          dqkv[dqAt + d] = g;
        }
      }
    }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn backward_dkdv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let r = rowOf(gid, groups);
  if (!r.valid) { return; }
  let s = r.t; // this invocation owns key/value row s
  let kAt = qkvAt(r.b, s, 1u, r.h);
  let vAt = qkvAt(r.b, s, 2u, r.h);
  let rowBase = r.bht - s; // (b·nHead + h)·T
  for (var c0 = 0u; c0 < p.hs; c0 += CHUNK) {
    // Explicit zero initialisers: measured on lavapipe, a `var` without one, declared inside this
    // loop, kept the previous chunk's sums in the second pass (WGSL says it starts at zero).
    var dk = array<vec4f, CHUNK4>();
    var dv = array<vec4f, CHUNK4>();
    for (var t = s; t < p.T; t += 1u) {
      let bht = rowBase + t;
      let dyAt = btcAt(r.b, t, r.h);
      let pts = prob(r.b, r.h, t, s, bht);
      let dS = pts * (dotDyQkv(dyAt, vAt) - dyDotY[bht]);
      let qAt = qkvAt(r.b, t, 0u, r.h);
      for (var j = 0u; j < CHUNK4; j += 1u) {
        dv[j] += pts * dy4(dyAt, c0 + 4u * j);
        dk[j] += dS * qkv4(qAt, c0 + 4u * j);
      }
    }
    for (var j = 0u; j < CHUNK4; j += 1u) {
      let outK = dk[j] * p.scale;
      let outV = dv[j];
      for (var e = 0u; e < 4u; e += 1u) {
        let d = c0 + 4u * j + e;
        if (d < p.hs) {
          var gk = outK[e];
          var gv = outV[e];
          if ((p.flags & FLAG_ACCUMULATE) != 0u) {
            gk += dqkv[kAt + d];
            gv += dqkv[vAt + d];
          }
          dqkv[kAt + d] = gk;
          dqkv[vAt + d] = gv;
        }
      }
    }
  }
}
