"""GPU benchmark: the documented example's training step on CuPy, beside PyTorch CUDA.

    python benchmarks/gpu.py                 # on a machine with a CUDA GPU, CuPy and torch
    python benchmarks/gpu.py --dry-run       # the same code path on NumPy, to check the script
    python benchmarks/gpu.py --json out.json # also write the table (and the versions) as JSON

Each side trains with SGDM on the same random 28x28x3 data at mini-batch 128 and 1024; the
sides alternate (minidl, PyTorch, minidl, ...), each sample is synchronized with the device
before the clock stops, and the table prints medians and the throughput ratio minidl/PyTorch.
Without a GPU the script says what is missing and exits 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import minidl_side  # noqa: E402

import minidl as md  # noqa: E402

BATCHES = (128, 1024)


def minidl_step(batch: int, sync, move) -> callable:
    rng = np.random.default_rng(0)
    x = rng.random((batch, 28, 28, 3), dtype=np.float32)
    step = minidl_side.TrainStep(x, rng.integers(0, 10, batch), batch)
    step.batches = [(move(X), move(T)) for X, T in step.batches]
    step.net = md.dlnetwork(minidl_side.layers())  # made on the active (device) backend

    def run() -> None:
        step()
        sync()
    return run


def torch_step(batch: int) -> callable | None:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 20, 5), torch.nn.InstanceNorm2d(20, affine=True), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2, 2), torch.nn.Flatten(), torch.nn.Linear(2880, 10)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, 3, 28, 28, device=dev)
    t = torch.randint(0, 10, (batch,), device=dev)

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), t).backward()
        opt.step()
        torch.cuda.synchronize()
    return run


def median_rate(fn, batch: int, seconds: float = 0.5) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="run the minidl side on NumPy")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write the results to this file as JSON")
    args = parser.parse_args()
    if args.dry_run:
        md.use_backend("numpy")
        sync, move = (lambda: None), (lambda a: a)
    elif not md.canUseGPU():
        print("GPU benchmark skipped: needs CuPy (pip install -e .[gpu]) and a CUDA device")
        return 0
    else:
        import cupy

        md.use_backend("cupy")
        sync, move = cupy.cuda.Device().synchronize, md.gpuArray
    rows = []
    print(f"{'mini-batch':>10}  {'minidl img/s':>12}  {'PyTorch img/s':>13}  {'ratio':>6}")
    for batch in BATCHES:
        ours, theirs = minidl_step(batch, sync, move), None if args.dry_run else torch_step(batch)
        a, b = [], []
        for _ in range(args.repeats):
            a.append(median_rate(ours, batch))
            if theirs is not None:
                b.append(median_rate(theirs, batch))
        mine = statistics.median(a)
        other = statistics.median(b) if b else float("nan")
        print(f"{batch:>10}  {mine:>12,.0f}  {other:>13,.0f}  {mine / other:>6.2f}")
        rows.append({"batch": batch, "minidl_img_per_s": mine, "minidl_samples": a,
                     "pytorch_img_per_s": other if b else None, "pytorch_samples": b})
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": device_name(args.dry_run), "python": platform.python_version(),
                       "versions": versions(), "dry_run": args.dry_run, "rows": rows}, f,
                      indent=1)
    return 0


def device_name(dry_run: bool) -> str:
    if dry_run:
        return platform.processor() or platform.machine()
    import cupy

    return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = {"numpy": np.__version__, "minidl": version("minidl")}
    except PackageNotFoundError:  # run from the tree (PYTHONPATH), not installed
        found = {"numpy": np.__version__, "minidl": "source tree"}
    for name in ("cupy", "torch"):
        if name in sys.modules:
            found[name] = sys.modules[name].__version__
    return found


if __name__ == "__main__":
    sys.exit(main())
