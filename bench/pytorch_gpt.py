"""The PyTorch reference for bench/gpt.ts: the same baby GPT (test/fixtures/nanogpt.py, nanoGPT's
model.py without dropout, tied head) in float32, AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on
2-D tensors), gradients clipped at 1.0, batch B × T random byte windows. Speed does not depend on the
values. bench/lib/pytorch-anchor.ts sets the BLAS environment (OpenBLAS core type and
OPENBLAS_NUM_THREADS); this script reports what it really ran on.

Usage: python3 bench/pytorch_gpt.py N_LAYER,N_HEAD,N_EMBD,BLOCK_SIZE BATCH WARMUP_STEPS TIMED_STEPS TORCH_THREADS
Prints one JSON object: {"torch", "torchThreads", "blas": {...}, "tokensPerSecond", "stepSeconds": [...]}.
"""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from nanogpt import GPT  # noqa: E402  (the model the float64 PyTorch test checks the project's against)
from torch_anchor import blas_info, set_threads  # noqa: E402


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    n_layer, n_head, n_embd, block_size = (int(v) for v in sys.argv[1].split(","))
    batch, warmup, timed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    set_threads(int(sys.argv[5]))
    torch.manual_seed(0)
    model = GPT(n_layer, n_head, n_embd, block_size, 256).float()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))
    data = torch.randint(0, 256, (batch, block_size + 1))
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step() -> None:
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(timed):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"torch": torch.__version__, "torchThreads": torch.get_num_threads(), "blas": blas_info(),
                      "tokensPerSecond": batch * block_size / statistics.median(seconds), "stepSeconds": seconds}))


if __name__ == "__main__":
    main()
