// embedding.wgsl: GPT token + position embedding, forward and backward (nanoGPT's wte and wpe).
//
//   idx  [N] u32 token ids, N = B·T positions of a batch, row-major [B, T] (position n has t = n mod T)
//   wte  [V, C] f32 row-major (token embedding; in nanoGPT also the tied output head)
//   wpe  [T, C] f32 row-major (position embedding: the first T rows of the block_size rows)
//   x    [N, C] f32
//
// Entry `forward`:      x[n, c] = wte[idx[n], c] + wpe[n mod T, c]
//   A token id >= V is a data bug: that row of x is NaN (nothing is read out of bounds).
//   Bindings: 0 uniform Params, 1 idx (read), 2 wte (read), 3 wpe (read), 4 x (read_write).
//   One invocation per element of x.
// Entry `token_rows` (backward, first dispatch): a stable counting sort of the positions by token.
//   rows[2v] = #positions whose token is < v, rows[2v+1] = #positions whose token is v, and
//   order[rows[2v] + j] = the j-th position (increasing n) whose token is v. Ids >= V are left out.
//   Bindings: 0 uniform Params, 1 idx (read), 2 rows (read_write, u32 [2V]), 3 order (read_write, u32 [N]).
//   One invocation per vocabulary row, two scans of idx each (V·N·2 compares: 0.4M at the baby GPT's shape).
// Entry `backward_wte` (second dispatch): dwte[v, c] (+)= Σ_{n: idx[n] = v} dx[n, c], summed in increasing n.
//   Deterministic without atomics: one invocation owns COLS columns of one vocabulary row and adds
//   that row's positions from `order` in order, so the work is N·C adds in all, not V·N·C compares.
//   Rows of tokens absent from the batch get 0 (or keep what they held, with FLAG_ACCUMULATE), so
//   dwte is always fully written.
//   Bindings: 0 uniform Params, 1 order (read, u32), 2 dx (read), 3 dwte (read_write), 4 rows (read, u32).
// Entry `backward_wpe`: dwpe[t, c] (+)= Σ_b dx[b·T + t, c], summed in increasing b.
//   Bindings: 0 uniform Params, 1 dx (read), 2 dwpe (read_write).
//   One invocation per element of dwpe [T, C]; rows T.. of a larger (block_size) wpe are untouched.
// FLAG_ACCUMULATE adds the sum to what the gradient buffer holds (micro-batch accumulation, and the
//   tied head's matmul gradient written into dwte first); otherwise the buffer is overwritten.
//
// Workgroup: WG invocations (override, default 64); grids past 65535 workgroups fold into y.
// Precision: f32; the accumulated value is added after the batch's sum, as bias-grad.wgsl does.

struct Params {
  positions: u32, // N = B·T
  seqLen: u32,    // T
  channels: u32,  // C
  vocab: u32,     // V
  flags: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

const FLAG_ACCUMULATE: u32 = 1u;
// Columns per backward_wte invocation: each scan of idx serves this many columns.
const COLS: u32 = 4u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<f32>;
@group(0) @binding(3) var<storage, read> wpe: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
// Entries use disjoint binding sets, so bindings 1..3 are declared again under other names.
@group(0) @binding(2) var<storage, read> dx: array<f32>;
@group(0) @binding(3) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(1) var<storage, read> dxPos: array<f32>;
@group(0) @binding(2) var<storage, read_write> dwpe: array<f32>;
@group(0) @binding(2) var<storage, read_write> rowsOut: array<u32>;
@group(0) @binding(3) var<storage, read_write> orderOut: array<u32>;
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> rows: array<u32>;

fn flatIndex(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(WG, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flatIndex(gid, groups);
  let C = p.channels;
  if (i >= p.positions * C) { return; }
  let n = i / C;
  let c = i - n * C;
  let token = idx[n];
  let t = n % p.seqLen;
  if (token < p.vocab) {
    x[i] = wte[token * C + c] + wpe[t * C + c];
  } else {
    // A NaN built at run time: a constant NaN expression is a WGSL compile error.
    x[i] = bitcast<f32>(0x7fc00000u | (p.flags & 0u));
  }
}

@compute @workgroup_size(WG, 1, 1)
fn token_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let v = flatIndex(gid, groups);
  if (v >= p.vocab) { return; }
  var before = 0u;
  var count = 0u;
  for (var n = 0u; n < p.positions; n += 1u) {
    let token = idx[n];
    before += select(0u, 1u, token < v);
    count += select(0u, 1u, token == v);
  }
  rowsOut[2u * v] = before;
  rowsOut[2u * v + 1u] = count;
  var slot = before;
  for (var n = 0u; n < p.positions && slot < before + count; n += 1u) {
    if (idx[n] == v) {
      orderOut[slot] = n;
      slot += 1u;
    }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn backward_wte(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flatIndex(gid, groups);
  let C = p.channels;
  let groupsPerRow = (C + COLS - 1u) / COLS;
  if (i >= p.vocab * groupsPerRow) { return; }
  let v = i / groupsPerRow;
  let c0 = (i - v * groupsPerRow) * COLS;
  let width = min(COLS, C - c0);
  let start = rows[2u * v];
  let end = start + rows[2u * v + 1u];
  var acc = vec4f(0.0);
  for (var j = start; j < end; j += 1u) {
    let row = order[j] * C + c0;
    if (width == COLS) {
      acc += vec4f(dx[row], dx[row + 1u], dx[row + 2u], dx[row + 3u]);
    } else {
      // The last group of a row whose C is not a multiple of COLS: columns past C are never read.
      for (var k = 0u; k < width; k += 1u) { acc[k] += dx[row + k]; }
    }
  }
  let out = v * C + c0;
  for (var k = 0u; k < width; k += 1u) {
    var s = acc[k];
    if ((p.flags & FLAG_ACCUMULATE) != 0u) { s += dwte[out + k]; }
    dwte[out + k] = s;
  }
}

@compute @workgroup_size(WG, 1, 1)
fn backward_wpe(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flatIndex(gid, groups);
  let C = p.channels;
  let T = p.seqLen;
  if (i >= T * C) { return; }
  let batches = p.positions / T;
  var s = 0.0;
  for (var b = 0u; b < batches; b += 1u) {
    s += dxPos[b * T * C + i];
  }
  if ((p.flags & FLAG_ACCUMULATE) != 0u) { s += dwpe[i]; }
  dwpe[i] = s;
}
