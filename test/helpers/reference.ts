// Float64 CPU references for every kernel. Plain loops, written for clarity, not speed.

/** C = op(A)·op(B) (+ bias) with the storage conventions of shaders/matmul.wgsl. */
export function matmulRef(
  a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number,
  opts: { transA?: boolean; transB?: boolean; bias?: ArrayLike<number> | undefined } = {},
): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = opts.bias ? opts.bias[j]! : 0;
      for (let k = 0; k < K; k++) {
        const av = opts.transA ? a[k * M + i]! : a[i * K + k]!;
        const bv = opts.transB ? b[j * K + k]! : b[k * N + j]!;
        sum += av * bv;
      }
      c[i * N + j] = sum;
    }
  }
  return c;
}
