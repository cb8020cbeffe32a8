"""float32 matrix products at given shapes through PyTorch's BLAS: the machine's own limit for each
matmul kernel of a training step (bench/profile.ts). Operands are laid out as the WGSL kernel reads
them (transA: A stored [K, M]; transB: B stored [N, K]), so BLAS gets the same transposes.

Usage: python3 bench/sgemm_shapes.py '<json list of {M,N,K,batch,transA,transB}>' <seconds per shape> <torch threads>
prints one JSON object: {"ms": [median milliseconds per product, one per shape], "blas": blas_info()}
"""
import json
import statistics
import sys
import time

import torch

from torch_anchor import blas_info, set_threads


def operand(rows: int, cols: int, transposed: bool, batch: int) -> torch.Tensor:
    """A [batch,] rows×cols view, stored transposed when the kernel reads it so."""
    if transposed:
        return torch.rand(batch, cols, rows).transpose(1, 2)
    return torch.rand(batch, rows, cols)


def time_shape(s: dict, seconds: float) -> float:
    a = operand(s["M"], s["K"], s["transA"], s["batch"])
    b = operand(s["K"], s["N"], s["transB"], s["batch"])
    if s["batch"] == 1:
        a, b = a[0], b[0]
    out = torch.matmul(a, b)  # warm-up
    samples = []
    deadline = time.perf_counter() + seconds
    while len(samples) < 5 or time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        samples.append((time.perf_counter() - start) * 1e3)
        if len(samples) >= 2000:
            break
    return statistics.median(samples)


if __name__ == "__main__":
    shapes = json.loads(sys.argv[1])
    seconds = float(sys.argv[2])
    set_threads(int(sys.argv[3]))
    print(json.dumps({"ms": [time_shape(s, seconds) for s in shapes], "blas": blas_info()}))
