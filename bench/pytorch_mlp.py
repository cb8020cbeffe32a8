"""The PyTorch reference for bench/train.ts: the same MLP (784-256-10, ReLU), the same optimizer
(SGD, lr 0.05, momentum 0.9) and the same batch sizes, on the CPU. Inputs are random tensors of
MNIST's shape: speed does not depend on the values. bench/lib/pytorch-anchor.ts sets the BLAS
environment (OpenBLAS core type and OPENBLAS_NUM_THREADS); this script reports what it really ran on.

Usage: python3 bench/pytorch_mlp.py BATCH[,BATCH...] SAMPLES TORCH_THREADS
Prints one JSON object: {"torch", "torchThreads", "blas": {...}, "results": [{"batchSize", "samplesPerSecond"}]}.
"""
import json
import statistics
import sys
import time

import torch

from torch_anchor import blas_info, set_threads


def samples_per_second(batch_size: int, samples: int) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch_size, 784)
    y = torch.randint(0, 10, (batch_size,))

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    def timed(steps: int) -> tuple[float, float]:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - start
        return steps * batch_size / elapsed, elapsed

    for _ in range(5):  # warm-up: allocator and kernels
        step()
    # At tens of thousands of samples/s a fixed sample count can take a fraction of a second, too
    # short to measure on a shared machine: grow the window to half a second, take the median of 3.
    steps = max(10, round(samples / batch_size))
    rate, elapsed = timed(steps)
    while elapsed < 0.5:
        steps *= 2
        rate, elapsed = timed(steps)
    return statistics.median([rate, timed(steps)[0], timed(steps)[0]])


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    set_threads(int(sys.argv[3]))
    batches = [int(b) for b in sys.argv[1].split(",")]
    samples = int(sys.argv[2])
    results = [{"batchSize": b, "samplesPerSecond": samples_per_second(b, samples)} for b in batches]
    print(json.dumps({"torch": torch.__version__, "torchThreads": torch.get_num_threads(), "blas": blas_info(), "results": results}))


if __name__ == "__main__":
    main()
