// matmul.wgsl: C = op(A) · op(B) (+ bias), the three matrix products of training in one kernel.
//
//   op(A) is M×K, op(B) is K×N, C is M×N; every matrix is row-major f32.
//   TRANS_A = false: A stored as [M, lda], A(i,k) = a[i*lda + k]
//   TRANS_A = true:  A stored as [K, lda], A(i,k) = a[k*lda + i]
//   TRANS_B = false: B stored as [K, ldb], B(k,j) = b[k*ldb + j]
//   TRANS_B = true:  B stored as [N, ldb], B(k,j) = b[j*ldb + k]
//   With nn.Linear's weight W [out, in]: forward Y = X·Wᵀ (TRANS_B), dX = dY·W, dW = dYᵀ·X (TRANS_A).
//
// Bindings (group 0): 0 uniform Params, 1 a (read), 2 b (read), 3 bias[N] (read; ignored unless
//   FLAG_BIAS), 4 c (read_write).
// Flags: FLAG_ACCUMULATE adds into c (in-kernel gradient accumulation: the first micro-batch
//   overwrites, later ones add); FLAG_BIAS adds bias[j] to every row.
//
// Entry `main`: each invocation computes an 8-row × 16-column block held in 32 vec4f registers.
//   Workgroup WG_X × WG_Y invocations (override constants, default 8×8) covers
//   (8·WG_Y) rows × (16·WG_X) columns. No workgroup memory: on lavapipe (SIMD-8 lanes, barriers
//   by switching invocation groups) shared-memory tiling is slower than naive, and what pays is
//   many independent FMAs per loaded value (WEBGPU-NOTES). Every load and store is bounds-checked,
//   so any M, N, K is correct.
// Entry `naive`: one output per invocation, workgroup 8×8; kept as the benchmark's baseline.
// Precision: f32 accumulation in k order.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  flags: u32,
  _pad: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
const FLAG_BIAS: u32 = 2u;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn loadA(i: u32, k: u32) -> f32 {
  if (i >= p.M) { return 0.0; }
  if (TRANS_A) { return a[k * p.lda + i]; }
  return a[i * p.lda + k];
}

fn loadB(k: u32, j: u32) -> f32 {
  if (j >= p.N) { return 0.0; }
  if (TRANS_B) { return b[j * p.ldb + k]; }
  return b[k * p.ldb + j];
}

fn storeC(i: u32, j: u32, value: f32) {
  if (i >= p.M || j >= p.N) { return; }
  var v = value;
  if ((p.flags & FLAG_BIAS) != 0u) { v += bias[j]; }
  let idx = i * p.ldc + j;
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { v += c[idx]; }
  c[idx] = v;
}

// Sixteen consecutive columns of one output row.
struct Row16 { c0: vec4f, c1: vec4f, c2: vec4f, c3: vec4f }

fn loadB16(k: u32, j0: u32) -> Row16 {
  return Row16(
    vec4f(loadB(k, j0 + 0u), loadB(k, j0 + 1u), loadB(k, j0 + 2u), loadB(k, j0 + 3u)),
    vec4f(loadB(k, j0 + 4u), loadB(k, j0 + 5u), loadB(k, j0 + 6u), loadB(k, j0 + 7u)),
    vec4f(loadB(k, j0 + 8u), loadB(k, j0 + 9u), loadB(k, j0 + 10u), loadB(k, j0 + 11u)),
    vec4f(loadB(k, j0 + 12u), loadB(k, j0 + 13u), loadB(k, j0 + 14u), loadB(k, j0 + 15u)),
  );
}

fn fmaRow(acc: Row16, s: f32, r: Row16) -> Row16 {
  let v = vec4f(s);
  return Row16(fma(v, r.c0, acc.c0), fma(v, r.c1, acc.c1), fma(v, r.c2, acc.c2), fma(v, r.c3, acc.c3));
}

fn storeRow(i: u32, j0: u32, r: Row16) {
  if (i >= p.M) { return; }
  storeC(i, j0 + 0u, r.c0.x); storeC(i, j0 + 1u, r.c0.y); storeC(i, j0 + 2u, r.c0.z); storeC(i, j0 + 3u, r.c0.w);
  storeC(i, j0 + 4u, r.c1.x); storeC(i, j0 + 5u, r.c1.y); storeC(i, j0 + 6u, r.c1.z); storeC(i, j0 + 7u, r.c1.w);
  storeC(i, j0 + 8u, r.c2.x); storeC(i, j0 + 9u, r.c2.y); storeC(i, j0 + 10u, r.c2.z); storeC(i, j0 + 11u, r.c2.w);
  storeC(i, j0 + 12u, r.c3.x); storeC(i, j0 + 13u, r.c3.y); storeC(i, j0 + 14u, r.c3.z); storeC(i, j0 + 15u, r.c3.w);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j0 = gid.x * 16u;
  let i0 = gid.y * 8u;
  if (i0 >= p.M || j0 >= p.N) { return; }
  let zero = Row16(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  // Named accumulators, not an array: per-thread arrays end up in memory on lavapipe (half speed).
  var r0 = zero; var r1 = zero; var r2 = zero; var r3 = zero;
  var r4 = zero; var r5 = zero; var r6 = zero; var r7 = zero;
  for (var k = 0u; k < p.K; k += 1u) {
    let bk = loadB16(k, j0);
    r0 = fmaRow(r0, loadA(i0 + 0u, k), bk);
    r1 = fmaRow(r1, loadA(i0 + 1u, k), bk);
    r2 = fmaRow(r2, loadA(i0 + 2u, k), bk);
    r3 = fmaRow(r3, loadA(i0 + 3u, k), bk);
    r4 = fmaRow(r4, loadA(i0 + 4u, k), bk);
    r5 = fmaRow(r5, loadA(i0 + 5u, k), bk);
    r6 = fmaRow(r6, loadA(i0 + 6u, k), bk);
    r7 = fmaRow(r7, loadA(i0 + 7u, k), bk);
  }
  storeRow(i0 + 0u, j0, r0); storeRow(i0 + 1u, j0, r1); storeRow(i0 + 2u, j0, r2); storeRow(i0 + 3u, j0, r3);
  storeRow(i0 + 4u, j0, r4); storeRow(i0 + 5u, j0, r5); storeRow(i0 + 6u, j0, r6); storeRow(i0 + 7u, j0, r7);
}

@compute @workgroup_size(8, 8, 1)
fn naive(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let i = gid.y;
  if (i >= p.M || j >= p.N) { return; }
  var sum = 0.0;
  for (var k = 0u; k < p.K; k += 1u) {
    sum = fma(loadA(i, k), loadB(k, j), sum);
  }
  storeC(i, j, sum);
}
