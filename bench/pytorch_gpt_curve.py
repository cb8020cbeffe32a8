"""The baby GPT's validation curve in PyTorch, for the README's check that one worker of this project
lands on PyTorch's curve: nanoGPT's recipe (test/fixtures/nanogpt.py's model in float32, nanoGPT's
initialisation, AdamW lr 1e-3 betas 0.9/0.99 with weight decay 0.1 on the 2-D tensors, clipping at 1,
100 warmup steps then cosine to 1e-4 at 2,000, batch 12 x 64 random windows of the first 90 % of the
bytes, torch's own generator), the validation loss over the whole last 10 % by eval.js's windowing
(windows at 0, T, 2T, ...; the mean over all targets).

Usage: OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 python3 bench/pytorch_gpt_curve.py TEXT SEED 0,250,500
prints "seed iteration loss seconds" at each listed iteration (before that iteration's update, as nanoGPT evaluates)
"""
import math
import os
import sys
import time

import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from nanogpt import GPT  # noqa: E402

N_LAYER, N_HEAD, N_EMBD, T, B = 4, 4, 128, 64, 12


def lr_at(it: int, lr=1e-3, warmup=100, decay_iters=2000, min_lr=1e-4) -> float:
    """nanoGPT's get_lr."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    ratio = min(1.0, (it - warmup) / (decay_iters - warmup))
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - min_lr)


def main(text: str, seed: int, iterations: list) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    data = torch.tensor(list(open(text, "rb").read()), dtype=torch.long)
    cut = int(len(data) * 0.9)
    train, val = data[:cut], data[cut:]
    model = GPT(N_LAYER, N_HEAD, N_EMBD, T, 256)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            torch.nn.init.zeros_(p)
        elif ".ln_" in name:
            torch.nn.init.ones_(p)
        else:
            torch.nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * N_LAYER) if name.endswith("c_proj.weight") else 0.02)
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1}, {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99))
    starts = list(range(0, len(val) - T, T))
    xv = torch.stack([val[s:s + T] for s in starts])
    yv = torch.stack([val[s + 1:s + T + 1] for s in starts])

    def validation_loss() -> float:
        total = 0.0
        with torch.no_grad():
            for b in range(0, len(starts), 256):
                logits, _ = model(xv[b:b + 256], yv[b:b + 256])
                total += F.cross_entropy(logits.reshape(-1, 256).double(), yv[b:b + 256].reshape(-1), reduction="sum").item()
        return total / yv.numel()

    t0 = time.time()
    for it in range(max(iterations) + 1):
        if it in iterations:
            print(seed, it, round(validation_loss(), 4), round(time.time() - t0, 1), flush=True)
        if it == max(iterations):
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        ix = torch.randint(len(train) - T, (B,))
        x = torch.stack([train[i:i + T] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + T] for i in ix])
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), [int(i) for i in sys.argv[3].split(",")])
