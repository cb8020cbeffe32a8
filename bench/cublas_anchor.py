"""float32 matrix products on a CUDA GPU through PyTorch (cuBLAS), the anchor for the WGSL matmul on a
real GPU (issue 16 part 4: >= 40 % of cuBLAS fp32 at 4096^3). TF32 is turned off, so cuBLAS does
true fp32 FMAs as the WGSL kernel does; operands are laid out as the kernel reads them (transA: A
stored [K, M]; transB: B stored [N, K]), so cuBLAS gets the same transposes.

Usage: python3 bench/cublas_anchor.py <size> [<size> ...]
prints one JSON object: {"available": true, "device": ..., "torch": ..., "results": [{size, form, ms, gflops}]}
or {"available": false, "why": ...} when torch or CUDA is missing (never a made-up number).
"""
import json
import sys

FORMS = [("Y=X·Wᵀ", False, True), ("dX=dY·W", False, False), ("dW=dYᵀ·X", True, False)]


def main() -> None:
    sizes = [int(s) for s in sys.argv[1:]] or [4096]
    try:
        import torch
    except ImportError as error:
        print(json.dumps({"available": False, "why": f"python3 cannot import torch ({error})"}))
        return
    if not torch.cuda.is_available():
        print(json.dumps({"available": False, "why": f"torch {torch.__version__} sees no CUDA device"}))
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = []
    for size in sizes:
        for form, trans_a, trans_b in FORMS:
            a = torch.rand(size, size, device="cuda")
            b = torch.rand(size, size, device="cuda")
            a = a.t() if trans_a else a
            b = b.t() if trans_b else b
            out = torch.matmul(a, b)
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            reps = 20
            start.record()
            for _ in range(reps):
                torch.matmul(a, b, out=out)
            end.record()
            torch.cuda.synchronize()
            ms = start.elapsed_time(end) / reps
            results.append({"size": size, "form": form, "ms": ms, "gflops": 2 * size**3 / ms / 1e6})
    print(json.dumps({"available": True, "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "tf32": False, "results": results}))


if __name__ == "__main__":
    main()
