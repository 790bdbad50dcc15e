"""Where trainnet's fixed cost goes: the time before the first iteration trains, by part.

    .venv/bin/python benchmarks/fixed_cost.py [--base COMMIT] [--images 10000]

One trainnet call in this process, as a user makes it: the documented layer array with
imageInputLayer's default 'zerocenter' normalization, the data an ordinary C-ordered
H x W x C x N float32 array (the colour digits of benchmarks/run.py). Each part is timed by
wrapping the function that does it: the conversion to channels-last float32 memory
(``observations``), the input statistics (``fit_normalization``), the network set-up, the
one-image probe forward, the targets and classes, threadpoolctl's controller (made once per
process, when work is first split over threads). The fixed cost is the time to the end of the
first iteration minus one median iteration (iterations from an OutputFcn); what the first
iteration costs beyond a median one (worker threads, first-touch of the step's buffers) is shown
too. With ``--base`` the same runs for the minidl package of that commit (``git archive``) in a
second process, first, for a before/after (a commit with the package in rooms, ab13575 or later:
the parts are found by their module paths; benchmarks/ab.py compares any two trees as a whole).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def measure(images: int) -> None:
    import minidl as md

    parts: dict[str, float] = {}

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                parts[label] = parts.get(label, 0.0) + time.perf_counter() - t

        setattr(owner, name, wrapper)

    data_setup = importlib.import_module("minidl.training.training_data")
    timed(data_setup, "observations", "conversion to channels-last float32 (observations)")
    timed(importlib.import_module("minidl.training.trainnet"), "_fresh_network",
          "network set-up (dlnetwork of the layers)")
    timed(data_setup, "_targets", "targets and classes")
    timed(data_setup, "predict", "probe forward (one image)")
    timed(importlib.import_module("minidl.layers").InputLayer, "fit_normalization",
          "input statistics (fit_normalization)")
    blas = importlib.import_module("minidl.backend.threads")._SingleThreadedBLAS
    make = blas._get_controller.__func__

    def controller(cls):
        t = time.perf_counter()
        try:
            return make(cls)
        finally:
            parts["threadpoolctl controller"] = parts.get("threadpoolctl controller", 0.0) + \
                time.perf_counter() - t

    blas._get_controller = classmethod(controller)

    sys.path[:0] = [str(HERE)]
    from run import data
    x, labels, _ = data(images)
    X = np.ascontiguousarray(x.transpose(1, 2, 3, 0))  # C-ordered H x W x C x N
    layers = [md.imageInputLayer([28, 28, 3]), md.convolution2dLayer(5, 20),
              md.instanceNormalizationLayer(), md.reluLayer(),
              md.maxPooling2dLayer(2, Stride=2), md.fullyConnectedLayer(10), md.softmaxLayer()]
    stamps: list[float] = []

    def stamp(info: dict) -> bool:
        stamps.append(time.perf_counter())
        return len(stamps) > 8  # "start" and 8 iterations are enough

    opts = md.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=128, Verbose=False,
                              OutputFcn=stamp)
    t0 = time.perf_counter()
    md.trainnet(X, labels, layers, "crossentropy", opts)
    iteration = float(np.median(np.diff(stamps[2:])))
    parts["first iteration beyond a median one"] = stamps[1] - stamps[0] - iteration
    print(f"minidl at {Path(md.__file__).parent}: median iteration {1e3 * iteration:.1f} ms")
    for label, seconds in parts.items():
        print(f"  {label:<55}{1e3 * seconds:9.1f} ms")
    print(f"  {'fixed cost (first iteration end - t0 - one iteration)':<55}"
          f"{1e3 * (stamps[1] - t0 - iteration):9.1f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=None, help="also measure the package at this commit")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--root", default=None, help=argparse.SUPPRESS)  # used for --base
    args = ap.parse_args(argv)
    if args.root:
        sys.path.insert(0, args.root)
        measure(args.images)
        return 0
    if args.base:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", args.base,
                                      "minidl"], check=True, capture_output=True).stdout
            subprocess.run(["tar", "x", "-C", tmp], input=archive, check=True)
            subprocess.run([sys.executable, __file__, "--root", tmp, "--images",
                            str(args.images)], check=True)
    subprocess.run([sys.executable, __file__, "--root", str(HERE.parent), "--images",
                    str(args.images)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
