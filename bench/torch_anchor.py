"""What the PyTorch anchor of a benchmark really runs on, read from its own process.

Debian's python3-torch calls the generic libblas.so.3, which is the netlib reference BLAS on a fresh
machine and OpenBLAS once libopenblas0-pthread is installed; OpenBLAS then picks its kernels by
CPU detection (or OPENBLAS_CORETYPE), which can fall back to an old core on a CPU it does not know.
So a benchmark never assumes: it reports the library mapped into this process and, for OpenBLAS,
the core and thread count OpenBLAS says it uses, and checks that those kernels compute correctly.

Usage: python3 bench/torch_anchor.py   prints one JSON object: blas_info(), sgemm_check(), sgemm_gflops()
"""
import ctypes
import json
import os
import time

import torch


def blas_info() -> dict:
    """The BLAS library torch's sgemm calls in this process, and OpenBLAS's own account of its core and threads."""
    mapped = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.lower() and "/" in line})
    info = {"vendor": "unknown", "library": None, "mapped": mapped, "core": None, "config": None, "blasThreads": None}
    # libtorch asks for libblas.so.3 by name: the file mapped under that name serves its BLAS calls,
    # whatever else is mapped (an OpenBLAS LAPACK can sit beside a reference BLAS).
    serving = [p for p in mapped if os.path.basename(p).startswith("libblas.so")] or mapped
    if not serving:
        return info
    path = serving[0]
    info["library"] = os.path.realpath(path)
    try:
        lib = ctypes.CDLL(path)
        corename, config = lib.openblas_get_corename, lib.openblas_get_config
    except (OSError, AttributeError):
        # No OpenBLAS symbols: Debian's netlib reference libblas, unless it is MKL's.
        info["vendor"] = "mkl" if "mkl" in path else "reference"
        return info
    corename.restype = config.restype = ctypes.c_char_p
    info.update(vendor="openblas", core=corename().decode(), config=config().decode(), blasThreads=lib.openblas_get_num_threads())
    # Name the file that holds OpenBLAS's kernels where it is mapped beside the libblas.so.3 front.
    info["library"] = next((p for p in mapped if "libopenblas" in os.path.basename(p)), info["library"])
    return info


def sgemm_check() -> float:
    """Relative error of a float32 matmul of awkward shape against float64: a wrong kernel shows here."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(257, 129, generator=gen), torch.randn(129, 65, generator=gen)
    ref = a.double() @ b.double()
    return float((a @ b - ref).norm() / ref.norm())


def sgemm_gflops(n: int = 1024, seconds: float = 0.5) -> float:
    """float32 matmul n×n×n throughput with the threads this process has."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b  # warm-up
    reps, start = 0, time.perf_counter()
    while reps < 2 or time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def set_threads(threads: int) -> None:
    """torch's intra-op threads; OpenBLAS's own come from OPENBLAS_NUM_THREADS (torch does not govern them in this build)."""
    torch.set_num_threads(threads)


if __name__ == "__main__":
    set_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "1")))
    print(json.dumps({"torch": torch.__version__, "torchThreads": torch.get_num_threads(), "blas": blas_info(),
                      "sgemmRelativeError": sgemm_check(), "sgemmGflops1024": sgemm_gflops()}))
