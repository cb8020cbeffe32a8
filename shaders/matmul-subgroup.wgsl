// matmul-subgroup.wgsl: the matrix products of matmul.wgsl for CPU adapters that offer subgroups
// (lavapipe: a subgroup is one SIMD-8 vector of invocations). Not a module of its own: matmul.ts
// compiles `enable subgroups;` + matmul.wgsl + this file, so Params, the bindings, setBatch, loadA,
// loadB and storeC are matmul.wgsl's, and every product rounds exactly as `main` does (an output's
// sum starts at 0 and takes one fma per k, k ascending; bias, then C, added at the store).
//
// Why subgroups pay on lavapipe (measured at 1024³, X·Wᵀ: `main` 6.7–7 GFLOP/s, this 22–35):
//   lavapipe compiles a storage load whose address differs between lanes to a loop over the 8
//   lanes, and one whose address is the same in every lane (`main`'s rows of A) to a scalar load
//   behind a bounds branch, at ~16 CPU cycles each inside a loop. Here every lane loads only its
//   own values, four adjacent floats at a time (lavapipe merges them into one pass of its lane
//   loop), and the rows of A reach every lane by subgroupBroadcast, a register move.
//
// Workgroup = one subgroup of SG = 8 lanes (matmul.ts offers these entries only where the adapter's
//   smallest subgroup holds 8 lanes). It owns 16 rows × 32 columns of C; each lane keeps 16 vec4f
//   sums, one per row, over its 4 columns:
//   `sub_abt`  op(A)·op(B)ᵀ, A [M, lda], B [N, ldb] (Y = X·Wᵀ): lane l's columns are
//              j0 + l + 8c (c = 0..3); k goes 4 at a time (lane loads 4 k of its row of A and of
//              each of its columns of B), the K % 4 tail one at a time. Any M, N, K.
//   `sub_ab`   A [M, lda], B [K, ldb] (dX = dY·W): lane l's columns are j0 + 4l .. j0 + 4l + 3
//              (4 adjacent floats of a row of B); k 4 at a time for A. Needs N % 4 == 0.
//   `sub_atb`  A [K, lda] (transposed), B [K, ldb] (dW = dYᵀ·X): per k, lane l loads 4 adjacent rows
//              i0 + 4(l % 4) .. + 3 of A's row k and its 4 columns of B. Needs M % 4 == 0, N % 4 == 0.
//   `sub_abt4`, `sub_ab4`, `sub_atb4`: the same with each quad loaded as one vec4f (bindings 1 and 2
//   seen as a4, b4) and each row's 4 sums stored as one (binding 4 seen as c4), where every row and
//   batch offset of A, B and C is a multiple of 4 floats, N is too, and K for the first two
//   (matmul.ts checks): 1.0–1.45× faster at 1024³ than four scalar loads. `sub_abt4`'s lane owns
//   4 adjacent columns j0 + 4l .. + 3, as the other two forms' lanes do, so that they can be stored so.
// Edges: loads read clamped rows/columns (always in range), stores are guarded; batches as in
//   matmul.wgsl (workgroup z).

/** 16 rows × 4 columns of sums, one vec4f per row (the lane's 4 columns). */
struct Sums16 {
  r0: vec4f, r1: vec4f, r2: vec4f, r3: vec4f, r4: vec4f, r5: vec4f, r6: vec4f, r7: vec4f,
  r8: vec4f, r9: vec4f, r10: vec4f, r11: vec4f, r12: vec4f, r13: vec4f, r14: vec4f, r15: vec4f,
}

// Where a lane's loads start, clamped so that every load stays in range (stores are guarded instead).
/** Row i of A in the forms with A's rows along k (floats from the buffer's start; past M: the last row). */
fn rowOfA(i: u32) -> u32 { return offA + min(i, p.M - 1u) * p.lda; }
/** 4 adjacent columns j .. j + 3 of B's row 0 (N % 4 == 0, so all four are in range or all are past N). */
fn quadOfB(j: u32) -> u32 { return offB + min(j, p.N - 4u); }
/** 4 adjacent rows i .. i + 3 of transposed A's row 0 (M % 4 == 0, as for quadOfB). */
fn quadOfA(i: u32) -> u32 { return offA + min(i, p.M - 4u); }

// Four adjacent floats of a lane's own row or column (one pass of lavapipe's lane loop).
fn quadA(x: u32) -> vec4f { return vec4f(a[x], a[x + 1u], a[x + 2u], a[x + 3u]); }
fn quadB(x: u32) -> vec4f { return vec4f(b[x], b[x + 1u], b[x + 2u], b[x + 3u]); }

/** acc + Σ_t a[t] · bk[t], t = 0..3 in order: four k steps of one row over the lane's 4 columns. */
fn step4(acc: vec4f, av: vec4f, bk: mat4x4f) -> vec4f {
  return fma(vec4f(av.w), bk[3], fma(vec4f(av.z), bk[2], fma(vec4f(av.y), bk[1], fma(vec4f(av.x), bk[0], acc))));
}

/** Four k steps of all 16 rows: lane r of `lo` holds row r's 4 k values of A, lane r of `hi` row 8 + r's. */
fn step16x4(s: Sums16, lo: vec4f, hi: vec4f, bk: mat4x4f) -> Sums16 {
  return Sums16(
    step4(s.r0, subgroupBroadcast(lo, 0u), bk), step4(s.r1, subgroupBroadcast(lo, 1u), bk),
    step4(s.r2, subgroupBroadcast(lo, 2u), bk), step4(s.r3, subgroupBroadcast(lo, 3u), bk),
    step4(s.r4, subgroupBroadcast(lo, 4u), bk), step4(s.r5, subgroupBroadcast(lo, 5u), bk),
    step4(s.r6, subgroupBroadcast(lo, 6u), bk), step4(s.r7, subgroupBroadcast(lo, 7u), bk),
    step4(s.r8, subgroupBroadcast(hi, 0u), bk), step4(s.r9, subgroupBroadcast(hi, 1u), bk),
    step4(s.r10, subgroupBroadcast(hi, 2u), bk), step4(s.r11, subgroupBroadcast(hi, 3u), bk),
    step4(s.r12, subgroupBroadcast(hi, 4u), bk), step4(s.r13, subgroupBroadcast(hi, 5u), bk),
    step4(s.r14, subgroupBroadcast(hi, 6u), bk), step4(s.r15, subgroupBroadcast(hi, 7u), bk),
  );
}

/** One k step of all 16 rows: lane r of `lo` / `hi` holds A(row r / 8 + r, k). */
fn step16x1(s: Sums16, lo: f32, hi: f32, bk: vec4f) -> Sums16 {
  return Sums16(
    fma(vec4f(subgroupBroadcast(lo, 0u)), bk, s.r0), fma(vec4f(subgroupBroadcast(lo, 1u)), bk, s.r1),
    fma(vec4f(subgroupBroadcast(lo, 2u)), bk, s.r2), fma(vec4f(subgroupBroadcast(lo, 3u)), bk, s.r3),
    fma(vec4f(subgroupBroadcast(lo, 4u)), bk, s.r4), fma(vec4f(subgroupBroadcast(lo, 5u)), bk, s.r5),
    fma(vec4f(subgroupBroadcast(lo, 6u)), bk, s.r6), fma(vec4f(subgroupBroadcast(lo, 7u)), bk, s.r7),
    fma(vec4f(subgroupBroadcast(hi, 0u)), bk, s.r8), fma(vec4f(subgroupBroadcast(hi, 1u)), bk, s.r9),
    fma(vec4f(subgroupBroadcast(hi, 2u)), bk, s.r10), fma(vec4f(subgroupBroadcast(hi, 3u)), bk, s.r11),
    fma(vec4f(subgroupBroadcast(hi, 4u)), bk, s.r12), fma(vec4f(subgroupBroadcast(hi, 5u)), bk, s.r13),
    fma(vec4f(subgroupBroadcast(hi, 6u)), bk, s.r14), fma(vec4f(subgroupBroadcast(hi, 7u)), bk, s.r15),
  );
}

/** One k step for `sub_atb`: lane q of `rows` holds A(4q .. 4q + 3, k), so row 4q + t is its component t. */
fn step16x1T(s: Sums16, rows: vec4f, bk: vec4f) -> Sums16 {
  let q0 = subgroupBroadcast(rows, 0u);
  let q1 = subgroupBroadcast(rows, 1u);
  let q2 = subgroupBroadcast(rows, 2u);
  let q3 = subgroupBroadcast(rows, 3u);
  return Sums16(
    fma(vec4f(q0.x), bk, s.r0), fma(vec4f(q0.y), bk, s.r1), fma(vec4f(q0.z), bk, s.r2), fma(vec4f(q0.w), bk, s.r3),
    fma(vec4f(q1.x), bk, s.r4), fma(vec4f(q1.y), bk, s.r5), fma(vec4f(q1.z), bk, s.r6), fma(vec4f(q1.w), bk, s.r7),
    fma(vec4f(q2.x), bk, s.r8), fma(vec4f(q2.y), bk, s.r9), fma(vec4f(q2.z), bk, s.r10), fma(vec4f(q2.w), bk, s.r11),
    fma(vec4f(q3.x), bk, s.r12), fma(vec4f(q3.y), bk, s.r13), fma(vec4f(q3.z), bk, s.r14), fma(vec4f(q3.w), bk, s.r15),
  );
}

/** Stores row i's 4 sums at columns `cols` (unclamped; each store is guarded by storeC). */
fn storeSumsRow(i: u32, cols: vec4u, v: vec4f) {
  if (i >= p.M) { return; }
  storeC(i, cols.x, v.x); storeC(i, cols.y, v.y); storeC(i, cols.z, v.z); storeC(i, cols.w, v.w);
}

fn storeSums16(i0: u32, cols: vec4u, s: Sums16) {
  storeSumsRow(i0, cols, s.r0); storeSumsRow(i0 + 1u, cols, s.r1); storeSumsRow(i0 + 2u, cols, s.r2); storeSumsRow(i0 + 3u, cols, s.r3);
  storeSumsRow(i0 + 4u, cols, s.r4); storeSumsRow(i0 + 5u, cols, s.r5); storeSumsRow(i0 + 6u, cols, s.r6); storeSumsRow(i0 + 7u, cols, s.r7);
  storeSumsRow(i0 + 8u, cols, s.r8); storeSumsRow(i0 + 9u, cols, s.r9); storeSumsRow(i0 + 10u, cols, s.r10); storeSumsRow(i0 + 11u, cols, s.r11);
  storeSumsRow(i0 + 12u, cols, s.r12); storeSumsRow(i0 + 13u, cols, s.r13); storeSumsRow(i0 + 14u, cols, s.r14); storeSumsRow(i0 + 15u, cols, s.r15);
}

// The vec4f entries' view of C (matmul.wgsl's binding 4); they never touch `c`.
@group(0) @binding(4) var<storage, read_write> c4: array<vec4f>;

/**
 * Row i's 4 sums at columns j .. j + 3 (j % 4 == 0, N % 4 == 0) plus `biasQ` (the bias of those
 * columns, or zeros), then the epilogue and C where accumulating: storeC's operations in storeC's order.
 */
fn storeQuad(i: u32, j: u32, v: vec4f, biasQ: vec4f) {
  if (i >= p.M || j >= p.N) { return; }
  var w = v;
  if ((p.flags & FLAG_BIAS) != 0u) { w += biasQ; }
  let at = offC + i * p.ldc + j;
  if ((p.flags & FLAG_RELU) != 0u) { w = max(w, vec4f(0.0)); }
  if ((p.flags & FLAG_RELU_MASK) != 0u) {
    w = w * select(vec4f(0.0), vec4f(1.0), vec4f(side[at], side[at + 1u], side[at + 2u], side[at + 3u]) > vec4f(0.0));
  }
  let idx = at / 4u;
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { w += c4[idx]; }
  c4[idx] = w;
}

fn storeSums16Quads(i0: u32, j: u32, s: Sums16) {
  // The lane's 4 bias values, loaded once for its 16 rows (clamped in range like B's columns).
  var q = vec4f(0.0);
  if ((p.flags & FLAG_BIAS) != 0u) {
    let jb = min(j, p.N - 4u);
    q = vec4f(side[jb], side[jb + 1u], side[jb + 2u], side[jb + 3u]);
  }
  storeQuad(i0, j, s.r0, q); storeQuad(i0 + 1u, j, s.r1, q); storeQuad(i0 + 2u, j, s.r2, q); storeQuad(i0 + 3u, j, s.r3, q);
  storeQuad(i0 + 4u, j, s.r4, q); storeQuad(i0 + 5u, j, s.r5, q); storeQuad(i0 + 6u, j, s.r6, q); storeQuad(i0 + 7u, j, s.r7, q);
  storeQuad(i0 + 8u, j, s.r8, q); storeQuad(i0 + 9u, j, s.r9, q); storeQuad(i0 + 10u, j, s.r10, q); storeQuad(i0 + 11u, j, s.r11, q);
  storeQuad(i0 + 12u, j, s.r12, q); storeQuad(i0 + 13u, j, s.r13, q); storeQuad(i0 + 14u, j, s.r14, q); storeQuad(i0 + 15u, j, s.r15, q);
}

const ZERO16 = Sums16(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0),
                      vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));

@compute @workgroup_size(8, 1, 1)
fn sub_abt(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let lane = lid.x;
  let i0 = wid.y * 16u;
  let cols = vec4u(wid.x * 32u + lane) + vec4u(0u, 8u, 16u, 24u);
  let cl = min(cols, vec4u(p.N - 1u));
  let rowLo = rowOfA(i0 + lane);
  let rowHi = rowOfA(i0 + 8u + lane);
  let colB = vec4u(offB) + cl * p.ldb;
  var s = ZERO16;
  let k4 = p.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    // Column c of B's 4 k values, then transposed so that bk[t] holds k + t across the 4 columns.
    let bk = transpose(mat4x4f(quadB(colB.x + k), quadB(colB.y + k), quadB(colB.z + k), quadB(colB.w + k)));
    s = step16x4(s, quadA(rowLo + k), quadA(rowHi + k), bk);
  }
  for (var k = k4; k < p.K; k++) {
    s = step16x1(s, a[rowLo + k], a[rowHi + k], vec4f(b[colB.x + k], b[colB.y + k], b[colB.z + k], b[colB.w + k]));
  }
  storeSums16(i0, cols, s);
}

@compute @workgroup_size(8, 1, 1)
fn sub_ab(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let lane = lid.x;
  let i0 = wid.y * 16u;
  let j = wid.x * 32u + 4u * lane;
  // N % 4 == 0, so a lane's 4 columns are all in range or all out; those out read the last 4.
  let colB = quadOfB(j);
  let rowLo = rowOfA(i0 + lane);
  let rowHi = rowOfA(i0 + 8u + lane);
  var s = ZERO16;
  let k4 = p.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    let bk = mat4x4f(quadB(colB + k * p.ldb), quadB(colB + (k + 1u) * p.ldb),
                     quadB(colB + (k + 2u) * p.ldb), quadB(colB + (k + 3u) * p.ldb));
    s = step16x4(s, quadA(rowLo + k), quadA(rowHi + k), bk);
  }
  for (var k = k4; k < p.K; k++) {
    s = step16x1(s, a[rowLo + k], a[rowHi + k], quadB(colB + k * p.ldb));
  }
  storeSums16(i0, vec4u(j) + vec4u(0u, 1u, 2u, 3u), s);
}

@compute @workgroup_size(8, 1, 1)
fn sub_atb(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let lane = lid.x;
  let i0 = wid.y * 16u;
  let j = wid.x * 32u + 4u * lane;
  let colB = quadOfB(j);
  // Lanes 4..7 repeat lanes 0..3's rows (16 rows are 4 quads); M % 4 == 0 as for the columns.
  let rowsA = quadOfA(i0 + 4u * (lane & 3u));
  var s = ZERO16;
  for (var k = 0u; k < p.K; k++) {
    s = step16x1T(s, quadA(rowsA + k * p.lda), quadB(colB + k * p.ldb));
  }
  storeSums16(i0, vec4u(j) + vec4u(0u, 1u, 2u, 3u), s);
}

// `sub_abt` with vec4f loads and stores (the header's conditions); the lane's columns are adjacent.
@compute @workgroup_size(8, 1, 1)
fn sub_abt4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let lane = lid.x;
  let i0 = wid.y * 16u;
  let j = wid.x * 32u + 4u * lane;
  let cl = vec4u(min(j, p.N - 4u)) + vec4u(0u, 1u, 2u, 3u);
  let rowLo = rowOfA(i0 + lane) / 4u;
  let rowHi = rowOfA(i0 + 8u + lane) / 4u;
  let colB = (vec4u(offB) + cl * p.ldb) / 4u;
  var s = ZERO16;
  let k4 = p.K / 4u;
  for (var k = 0u; k < k4; k++) {
    let bk = transpose(mat4x4f(b4[colB.x + k], b4[colB.y + k], b4[colB.z + k], b4[colB.w + k]));
    s = step16x4(s, a4[rowLo + k], a4[rowHi + k], bk);
  }
  storeSums16Quads(i0, j, s);
}

// `sub_ab` with vec4f loads and stores (the header's conditions).
@compute @workgroup_size(8, 1, 1)
fn sub_ab4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let lane = lid.x;
  let i0 = wid.y * 16u;
  let j = wid.x * 32u + 4u * lane;
  let colB = quadOfB(j) / 4u;
  let ldb4 = p.ldb / 4u;
  let rowLo = rowOfA(i0 + lane) / 4u;
  let rowHi = rowOfA(i0 + 8u + lane) / 4u;
  var s = ZERO16;
  let k4 = p.K / 4u;
  for (var k = 0u; k < k4; k++) {
    let row = colB + 4u * k * ldb4;
    let bk = mat4x4f(b4[row], b4[row + ldb4], b4[row + 2u * ldb4], b4[row + 3u * ldb4]);
    s = step16x4(s, a4[rowLo + k], a4[rowHi + k], bk);
  }
  storeSums16Quads(i0, j, s);
}

// `sub_atb` with vec4f loads and stores (the header's conditions).
@compute @workgroup_size(8, 1, 1)
fn sub_atb4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  setBatch(wid.z);
  let lane = lid.x;
  let i0 = wid.y * 16u;
  let j = wid.x * 32u + 4u * lane;
  let colB = quadOfB(j) / 4u;
  let rowsA = quadOfA(i0 + 4u * (lane & 3u)) / 4u;
  let lda4 = p.lda / 4u;
  let ldb4 = p.ldb / 4u;
  var s = ZERO16;
  for (var k = 0u; k < p.K; k++) {
    s = step16x1T(s, a4[rowsA + k * lda4], b4[colB + k * ldb4]);
  }
  storeSums16Quads(i0, j, s);
}
