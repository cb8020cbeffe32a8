// matmul.wgsl: C = op(A) · op(B) (+ bias), the three matrix products of training in one kernel.
//
//   op(A) is M×K, op(B) is K×N, C is M×N; every matrix is row-major f32.
//   TRANS_A = false: A stored as [M, lda], A(i,k) = a[i*lda + k]
//   TRANS_A = true:  A stored as [K, lda], A(i,k) = a[k*lda + i]
//   TRANS_B = false: B stored as [K, ldb], B(k,j) = b[k*ldb + j]
//   TRANS_B = true:  B stored as [N, ldb], B(k,j) = b[j*ldb + k]
//   With nn.Linear's weight W [out, in]: forward Y = X·Wᵀ (TRANS_B), dX = dY·W, dW = dYᵀ·X (TRANS_A).
//
// Bindings (group 0): 0 uniform Params, 1 a (read), 2 b (read), 3 side (read: bias[N] with
//   FLAG_BIAS, the ReLU mask in C's layout with FLAG_RELU_MASK, ignored otherwise), 4 c
//   (read_write). `main_vec4` reads bindings 1 and 2 as array<vec4f> (a4, b4) instead: the same
//   buffers, so the caller binds them the same way.
// Batches: workgroup z (global z for `naive`) indexes a batch of independent products, e.g. one per
//   (sequence, head) of attention. Operand X of batch z starts at
//   xBase + (z / batchInner)·xOuter + (z % batchInner)·xInner floats (X = a, b, c), so the heads of
//   a [B, T, 3C] tensor are reached in place (outer = T·3C, inner = head width). One unbatched
//   product has z = 0 and every base 0. `main_vec4` takes no batches (the TypeScript side refuses).
// Flags: FLAG_ACCUMULATE adds into c (in-kernel gradient accumulation: the first micro-batch
//   overwrites, later ones add); FLAG_BIAS adds bias[j] to every row. The activation epilogue, which
//   saves a ReLU layer two passes over its activations (matmul.ts refuses it with FLAG_ACCUMULATE):
//   FLAG_RELU stores max(sum + bias, 0), the forward of a hidden ReLU layer; FLAG_RELU_MASK stores
//   sum · (mask > 0 ? 1 : 0), mask = side at C's own index, the backward through that ReLU given its
//   output (h > 0 exactly where z > 0). The same operations as activation.wgsl's relu, so the same bits.
//   Binding 3 carries either the bias or the mask (never both), so the kernel still fits the 4
//   storage buffers per stage of a compatibility adapter.
//
// Blocked entries, `main` and `main_vec4`: a workgroup of WG invocations (override, 32 on
//   lavapipe) owns 16 rows × (8·WG) columns. Each invocation computes those 16 rows at 8 columns
//   jb + c·WG (c = 0..7), held in 32 named vec4f accumulators (16 rows × 2). Why this shape:
//   lavapipe runs invocations as SIMD-8 lanes, so consecutive lanes read consecutive columns of B
//   while the 16 rows of A are the same for the whole workgroup; the measured best of the blocks
//   tried (8×8, 8×16, 16×4, 12×8, 32×2, ...). No workgroup memory: on lavapipe barriers switch
//   between invocation groups, and shared-memory tiling measured slower than naive.
//   Edges: row and column indices are clamped into range once, before the k loop, so loads need
//   no checks and the loop has no branches; only stores are guarded. Any M, N, K is correct.
//   `main` loads scalars, k one at a time. `main_vec4` takes k four at a time and loads vec4f
//   along the contiguous dimension (along k for A and for B with TRANS_B, along i for A with
//   TRANS_A); it needs K % 4 == 0, and M % 4 == 0 with TRANS_A (the TypeScript side checks).
// Entry `narrow`: for small N (the 10-class output layer), lanes run along rows instead: each
//   invocation computes 4 rows (at stride WG) × 8 columns, the columns shared by the workgroup,
//   so a narrow C still spreads over many lanes and workgroups.
// Entry `naive`: one output per invocation, workgroup 8×8; kept as the benchmark's baseline.
// Entry `tiled`: 64×64 tiles of A and B in workgroup memory, 4×4 outputs per invocation, for
//   discrete GPUs (slower on lavapipe); see its section below.
// Entries `sub_abt`, `sub_ab`, `sub_atb` (matmul-subgroup.wgsl, compiled after this file where the
//   device has subgroups): the fastest on lavapipe, rows of A shared by subgroupBroadcast.
// Precision: f32 accumulation in k order (fma).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  flags: u32,
  batchInner: u32,
  aBase: u32, aOuter: u32, aInner: u32,
  bBase: u32, bOuter: u32, bInner: u32,
  cBase: u32, cOuter: u32, cInner: u32,
  _pad0: u32, _pad1: u32, _pad2: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
const FLAG_BIAS: u32 = 2u;
const FLAG_RELU: u32 = 4u;
const FLAG_RELU_MASK: u32 = 8u;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
/** Invocations per workgroup of the blocked and narrow entries. */
override WG: u32 = 32u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
// Same bindings seen as vec4f, used only by `main_vec4` (one entry never uses both views).
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read> side: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// This invocation's batch: where its A, B and C start (setBatch, first thing in every entry).
var<private> offA: u32;
var<private> offB: u32;
var<private> offC: u32;

fn setBatch(z: u32) {
  let outer = z / p.batchInner;
  let inner = z % p.batchInner;
  offA = p.aBase + outer * p.aOuter + inner * p.aInner;
  offB = p.bBase + outer * p.bOuter + inner * p.bInner;
  offC = p.cBase + outer * p.cOuter + inner * p.cInner;
}

fn loadA(i: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[offA + k * p.lda + i]; }
  return a[offA + i * p.lda + k];
}

fn loadB(k: u32, j: u32) -> f32 {
  if (TRANS_B) { return b[offB + j * p.ldb + k]; }
  return b[offB + k * p.ldb + j];
}

fn storeC(i: u32, j: u32, value: f32) {
  if (i >= p.M || j >= p.N) { return; }
  var v = value;
  if ((p.flags & FLAG_BIAS) != 0u) { v += side[j]; }
  let idx = offC + i * p.ldc + j;
  if ((p.flags & FLAG_RELU) != 0u) { v = max(v, 0.0); }
  if ((p.flags & FLAG_RELU_MASK) != 0u) { v = v * select(0.0, 1.0, side[idx] > 0.0); }
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { v += c[idx]; }
  c[idx] = v;
}

// ---- blocked: 16 rows × 8 columns per invocation ------------------------------------------------

// One row's 8 columns: lo = columns c 0..3, hi = c 4..7 (at stride WG for the blocked entries).
struct Row8 { lo: vec4f, hi: vec4f }

// The invocation's 8 column indices, clamped to N-1 so loads stay in range.
struct Cols8 { lo: vec4u, hi: vec4u }

fn blockCols(jb: u32, stride: u32) -> Cols8 {
  let last = vec4u(p.N - 1u);
  let s = vec4u(0u, 1u, 2u, 3u) * stride;
  return Cols8(min(vec4u(jb) + s, last), min(vec4u(jb + 4u * stride) + s, last));
}

fn loadB8(k: u32, j: Cols8) -> Row8 {
  return Row8(
    vec4f(loadB(k, j.lo.x), loadB(k, j.lo.y), loadB(k, j.lo.z), loadB(k, j.lo.w)),
    vec4f(loadB(k, j.hi.x), loadB(k, j.hi.y), loadB(k, j.hi.z), loadB(k, j.hi.w)),
  );
}

fn fmaRow(acc: Row8, s: f32, r: Row8) -> Row8 {
  let v = vec4f(s);
  return Row8(fma(v, r.lo, acc.lo), fma(v, r.hi, acc.hi));
}

// acc + A(i, k..k+3) · B(k..k+3, cols), the four k in order.
fn fmaRow4(acc: Row8, av: vec4f, bk: B8x4) -> Row8 {
  return fmaRow(fmaRow(fmaRow(fmaRow(acc, av.x, bk.k0), av.y, bk.k1), av.z, bk.k2), av.w, bk.k3);
}

fn storeRow(i: u32, jb: u32, stride: u32, r: Row8) {
  if (i >= p.M) { return; }
  storeC(i, jb, r.lo.x); storeC(i, jb + stride, r.lo.y);
  storeC(i, jb + 2u * stride, r.lo.z); storeC(i, jb + 3u * stride, r.lo.w);
  storeC(i, jb + 4u * stride, r.hi.x); storeC(i, jb + 5u * stride, r.hi.y);
  storeC(i, jb + 6u * stride, r.hi.z); storeC(i, jb + 7u * stride, r.hi.w);
}

// Writes a block's 16 rows. A loop with a run-time trip count, on purpose: unrolled (16 calls, or a
// constant bound that LLVM unrolls), the 128 guarded read-modify-writes took lavapipe 15 s to
// compile per pipeline; as a loop, 0.6 s, and the epilogue's speed does not matter (it runs once
// per block, after K iterations of the k loop).
fn storeBlock(i0: u32, jb: u32, rows: array<Row8, 16>) {
  let rowCount = min(16u, p.M - min(i0, p.M));
  for (var r = 0u; r < rowCount; r += 1u) { storeRow(i0 + r, jb, WG, rows[r]); }
}

// The 16 row indices of a block, clamped to M-1.
struct Rows16 { r0: vec4u, r1: vec4u, r2: vec4u, r3: vec4u }

fn blockRows(i0: u32) -> Rows16 {
  let last = vec4u(p.M - 1u);
  let s = vec4u(i0) + vec4u(0u, 1u, 2u, 3u);
  return Rows16(min(s, last), min(s + 4u, last), min(s + 8u, last), min(s + 12u, last));
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let i0 = wid.y * 16u;
  let jb = wid.x * WG * 8u + lid.x;
  let j = blockCols(jb, WG);
  let i = blockRows(i0);
  let zero = Row8(vec4f(0.0), vec4f(0.0));
  // Named accumulators, not an array: per-thread arrays end up in memory on lavapipe (half speed).
  var r0 = zero; var r1 = zero; var r2 = zero; var r3 = zero;
  var r4 = zero; var r5 = zero; var r6 = zero; var r7 = zero;
  var r8 = zero; var r9 = zero; var r10 = zero; var r11 = zero;
  var r12 = zero; var r13 = zero; var r14 = zero; var r15 = zero;
  for (var k = 0u; k < p.K; k += 1u) {
    let bk = loadB8(k, j);
    r0 = fmaRow(r0, loadA(i.r0.x, k), bk); r1 = fmaRow(r1, loadA(i.r0.y, k), bk);
    r2 = fmaRow(r2, loadA(i.r0.z, k), bk); r3 = fmaRow(r3, loadA(i.r0.w, k), bk);
    r4 = fmaRow(r4, loadA(i.r1.x, k), bk); r5 = fmaRow(r5, loadA(i.r1.y, k), bk);
    r6 = fmaRow(r6, loadA(i.r1.z, k), bk); r7 = fmaRow(r7, loadA(i.r1.w, k), bk);
    r8 = fmaRow(r8, loadA(i.r2.x, k), bk); r9 = fmaRow(r9, loadA(i.r2.y, k), bk);
    r10 = fmaRow(r10, loadA(i.r2.z, k), bk); r11 = fmaRow(r11, loadA(i.r2.w, k), bk);
    r12 = fmaRow(r12, loadA(i.r3.x, k), bk); r13 = fmaRow(r13, loadA(i.r3.y, k), bk);
    r14 = fmaRow(r14, loadA(i.r3.z, k), bk); r15 = fmaRow(r15, loadA(i.r3.w, k), bk);
  }
  storeBlock(i0, jb, array<Row8, 16>(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15));
}

// ---- main_vec4: the same block, k four at a time, vec4f loads ------------------------------------

// B(k..k+3, cols): one Row8 per k.
struct B8x4 { k0: Row8, k1: Row8, k2: Row8, k3: Row8 }

fn loadB8x4(k: u32, j: Cols8) -> B8x4 {
  if (TRANS_B) {
    // Each column's four k values are contiguous: one vec4f per column, then transpose.
    let kq = k / 4u;
    let ld = p.ldb / 4u;
    let c0 = b4[j.lo.x * ld + kq]; let c1 = b4[j.lo.y * ld + kq];
    let c2 = b4[j.lo.z * ld + kq]; let c3 = b4[j.lo.w * ld + kq];
    let c4 = b4[j.hi.x * ld + kq]; let c5 = b4[j.hi.y * ld + kq];
    let c6 = b4[j.hi.z * ld + kq]; let c7 = b4[j.hi.w * ld + kq];
    return B8x4(
      Row8(vec4f(c0.x, c1.x, c2.x, c3.x), vec4f(c4.x, c5.x, c6.x, c7.x)),
      Row8(vec4f(c0.y, c1.y, c2.y, c3.y), vec4f(c4.y, c5.y, c6.y, c7.y)),
      Row8(vec4f(c0.z, c1.z, c2.z, c3.z), vec4f(c4.z, c5.z, c6.z, c7.z)),
      Row8(vec4f(c0.w, c1.w, c2.w, c3.w), vec4f(c4.w, c5.w, c6.w, c7.w)),
    );
  }
  // Columns sit WG apart, so these stay scalar loads (consecutive lanes read consecutive floats),
  // taken through b4 because one entry point may not use both views of a binding.
  return B8x4(loadB8v(k, j), loadB8v(k + 1u, j), loadB8v(k + 2u, j), loadB8v(k + 3u, j));
}

fn loadBv(k: u32, j: u32) -> f32 {
  let idx = k * p.ldb + j;
  return b4[idx / 4u][idx % 4u];
}

fn loadB8v(k: u32, j: Cols8) -> Row8 {
  return Row8(
    vec4f(loadBv(k, j.lo.x), loadBv(k, j.lo.y), loadBv(k, j.lo.z), loadBv(k, j.lo.w)),
    vec4f(loadBv(k, j.hi.x), loadBv(k, j.hi.y), loadBv(k, j.hi.z), loadBv(k, j.hi.w)),
  );
}

// A(i, k..k+3) for four rows i (given as clamped indices; with TRANS_A, i.x is a multiple of 4
// or the clamped last group, so the four rows are one aligned vec4f per k).
struct A4x4 { i0: vec4f, i1: vec4f, i2: vec4f, i3: vec4f }

fn loadA4x4(rows: vec4u, k: u32) -> A4x4 {
  let ld = p.lda / 4u;
  if (TRANS_A) {
    let q = rows.x / 4u;
    let k0 = a4[k * ld + q]; let k1 = a4[(k + 1u) * ld + q];
    let k2 = a4[(k + 2u) * ld + q]; let k3 = a4[(k + 3u) * ld + q];
    return A4x4(vec4f(k0.x, k1.x, k2.x, k3.x), vec4f(k0.y, k1.y, k2.y, k3.y),
                vec4f(k0.z, k1.z, k2.z, k3.z), vec4f(k0.w, k1.w, k2.w, k3.w));
  }
  let kq = k / 4u;
  return A4x4(a4[rows.x * ld + kq], a4[rows.y * ld + kq], a4[rows.z * ld + kq], a4[rows.w * ld + kq]);
}

/** With TRANS_A the row groups are clamped as whole vec4s (M % 4 == 0), not row by row. */
fn blockRowGroups(i0: u32) -> Rows16 {
  if (!TRANS_A) { return blockRows(i0); }
  let last = p.M - 4u;
  return Rows16(vec4u(min(i0, last)), vec4u(min(i0 + 4u, last)), vec4u(min(i0 + 8u, last)), vec4u(min(i0 + 12u, last)));
}

@compute @workgroup_size(WG, 1, 1)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z); // only C's offset is used: the vec4 loads take no batch offsets
  let i0 = wid.y * 16u;
  let jb = wid.x * WG * 8u + lid.x;
  let j = blockCols(jb, WG);
  let i = blockRowGroups(i0);
  let zero = Row8(vec4f(0.0), vec4f(0.0));
  var r0 = zero; var r1 = zero; var r2 = zero; var r3 = zero;
  var r4 = zero; var r5 = zero; var r6 = zero; var r7 = zero;
  var r8 = zero; var r9 = zero; var r10 = zero; var r11 = zero;
  var r12 = zero; var r13 = zero; var r14 = zero; var r15 = zero;
  for (var k = 0u; k < p.K; k += 4u) {
    let bk = loadB8x4(k, j);
    let a0 = loadA4x4(i.r0, k);
    r0 = fmaRow4(r0, a0.i0, bk); r1 = fmaRow4(r1, a0.i1, bk); r2 = fmaRow4(r2, a0.i2, bk); r3 = fmaRow4(r3, a0.i3, bk);
    let a1 = loadA4x4(i.r1, k);
    r4 = fmaRow4(r4, a1.i0, bk); r5 = fmaRow4(r5, a1.i1, bk); r6 = fmaRow4(r6, a1.i2, bk); r7 = fmaRow4(r7, a1.i3, bk);
    let a2 = loadA4x4(i.r2, k);
    r8 = fmaRow4(r8, a2.i0, bk); r9 = fmaRow4(r9, a2.i1, bk); r10 = fmaRow4(r10, a2.i2, bk); r11 = fmaRow4(r11, a2.i3, bk);
    let a3 = loadA4x4(i.r3, k);
    r12 = fmaRow4(r12, a3.i0, bk); r13 = fmaRow4(r13, a3.i1, bk); r14 = fmaRow4(r14, a3.i2, bk); r15 = fmaRow4(r15, a3.i3, bk);
  }
  storeBlock(i0, jb, array<Row8, 16>(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15));
}

// ---- narrow: lanes along rows, for small N ------------------------------------------------------

@compute @workgroup_size(WG, 1, 1)
fn narrow(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let ib = wid.x * WG * 4u + lid.x;
  let j0 = wid.y * 8u;
  let last = p.M - 1u;
  let i0 = min(ib, last); let i1 = min(ib + WG, last); let i2 = min(ib + 2u * WG, last); let i3 = min(ib + 3u * WG, last);
  let j = blockCols(j0, 1u);
  let zero = Row8(vec4f(0.0), vec4f(0.0));
  var r0 = zero; var r1 = zero; var r2 = zero; var r3 = zero;
  for (var k = 0u; k < p.K; k += 1u) {
    let bk = loadB8(k, j);
    r0 = fmaRow(r0, loadA(i0, k), bk); r1 = fmaRow(r1, loadA(i1, k), bk);
    r2 = fmaRow(r2, loadA(i2, k), bk); r3 = fmaRow(r3, loadA(i3, k), bk);
  }
  storeRow(ib, j0, 1u, r0); storeRow(ib + WG, j0, 1u, r1); storeRow(ib + 2u * WG, j0, 1u, r2); storeRow(ib + 3u * WG, j0, 1u, r3);
}

// ---- naive ----------------------------------------------------------------------------------

@compute @workgroup_size(8, 8, 1)
fn naive(@builtin(global_invocation_id) gid: vec3u) {
  setBatch(gid.z);
  let j = gid.x;
  let i = gid.y;
  if (i >= p.M || j >= p.N) { return; }
  var sum = 0.0;
  for (var k = 0u; k < p.K; k += 1u) {
    sum = fma(loadA(i, k), loadB(k, j), sum);
  }
  storeC(i, j, sum);
}

// ---- tiled: 64×64 tiles of A and B in workgroup memory, for discrete GPUs ------------------------
//
// The standard fast form where workgroup memory is on-chip and barriers are cheap (not lavapipe,
// see the top of this file): a 16×16 workgroup owns a 64×64 block of C. For each slice of TILE_K
// k values, its 256 invocations copy op(A)'s 64×TILE_K tile and op(B)'s TILE_K×64 tile into
// workgroup memory (4 floats each, 0 where the tile runs past M, N or K), then each invocation
// computes a 4×4 micro-tile (rows 4·ty.., columns 4·tx..) from vec4 reads of the tiles, in
// registers. 2 × 16 × 64 floats = 8 KiB of workgroup storage, half the default 16 KiB limit.
// Copies are laid out per form so that consecutive lanes read consecutive floats of A and B in
// memory (along k or along i/j, whichever is contiguous): TRANS_A / TRANS_B are overrides, so
// the untaken branches fold away.
// Same numbers as the other entries, bit for bit: each output is fma-accumulated from 0 in k
// order, then storeC adds bias and accumulates. The last slice runs only its K % TILE_K real k
// (not the zero padding: fma(0, 0, -0) is +0, so padded steps could flip a zero's sign).

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;

// tileA[k·16 + q] holds op(A) rows 4q..4q+3 of the block at slice k; tileB[k·16 + q] op(B)
// columns 4q..4q+3. One vec4f read gives an invocation a micro-tile's 4 rows (or columns).
var<workgroup> tileA: array<vec4f, 256>; // TILE_K × TILE / 4
var<workgroup> tileB: array<vec4f, 256>;

// op(A)(i0 + r, k0 + kk) into the tile, 0 out of range.
fn copyA(i0: u32, k0: u32, r: u32, kk: u32) {
  let i = i0 + r;
  let k = k0 + kk;
  var v = 0.0;
  if (i < p.M && k < p.K) { v = loadA(i, k); }
  tileA[kk * 16u + r / 4u][r % 4u] = v;
}

// op(B)(k0 + kk, j0 + q) into the tile, 0 out of range.
fn copyB(j0: u32, k0: u32, kk: u32, q: u32) {
  let j = j0 + q;
  let k = k0 + kk;
  var v = 0.0;
  if (j < p.N && k < p.K) { v = loadB(k, j); }
  tileB[kk * 16u + q / 4u][q % 4u] = v;
}

// The micro-tile's four rows of accumulators (columns 4·tx..4·tx+3).
struct Acc4x4 { r0: vec4f, r1: vec4f, r2: vec4f, r3: vec4f }

// One k step: acc(r, c) = fma(A(r, k), B(k, c), acc(r, c)), per element as in every other entry.
fn tiledStep(acc: Acc4x4, kk: u32, tx: u32, ty: u32) -> Acc4x4 {
  let av = tileA[kk * 16u + ty];
  let bv = tileB[kk * 16u + tx];
  return Acc4x4(fma(vec4f(av.x), bv, acc.r0), fma(vec4f(av.y), bv, acc.r1),
                fma(vec4f(av.z), bv, acc.r2), fma(vec4f(av.w), bv, acc.r3));
}

fn storeRow4(i: u32, j: u32, v: vec4f) {
  storeC(i, j, v.x); storeC(i, j + 1u, v.y); storeC(i, j + 2u, v.z); storeC(i, j + 3u, v.w);
}

@compute @workgroup_size(16, 16, 1)
fn tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
         @builtin(local_invocation_index) t: u32) {
  setBatch(wid.z);
  let i0 = wid.y * TILE;
  let j0 = wid.x * TILE;
  let zero = vec4f(0.0);
  var acc = Acc4x4(zero, zero, zero, zero);
  for (var k0 = 0u; k0 < p.K; k0 += TILE_K) {
    // 1024 floats per tile, 4 per invocation; lane order follows the contiguous dimension.
    for (var s = 0u; s < 4u; s += 1u) {
      if (TRANS_A) { copyA(i0, k0, t % TILE, t / TILE + 4u * s); }     // A stored [K, lda]: along i
      else { copyA(i0, k0, t / TILE_K + 16u * s, t % TILE_K); }        // A stored [M, lda]: along k
      if (TRANS_B) { copyB(j0, k0, t % TILE_K, t / TILE_K + 16u * s); } // B stored [N, ldb]: along k
      else { copyB(j0, k0, t / TILE + 4u * s, t % TILE); }              // B stored [K, ldb]: along j
    }
    workgroupBarrier();
    let kn = min(TILE_K, p.K - k0);
    if (kn == TILE_K) {
      for (var kk = 0u; kk < TILE_K; kk += 1u) { acc = tiledStep(acc, kk, lid.x, lid.y); }
    } else {
      for (var kk = 0u; kk < kn; kk += 1u) { acc = tiledStep(acc, kk, lid.x, lid.y); }
    }
    workgroupBarrier();
  }
  let i = i0 + 4u * lid.y;
  let j = j0 + 4u * lid.x;
  storeRow4(i, j, acc.r0); storeRow4(i + 1u, j, acc.r1); storeRow4(i + 2u, j, acc.r2); storeRow4(i + 3u, j, acc.r3);
}
