"""Per-op times of the example network's batch-128 step, this tree against a baseline commit,
side by side in one process (what each kernel change bought).

    .venv/bin/python benchmarks/op_compare.py [--base b048ed7] [--batch 128] [--reps 15]

The baseline's ``minidl`` package is exported with ``git archive`` into a temporary folder and
imported under the name ``minidl_base`` (its imports are relative), so both versions run in the
same process on the same arrays, alternately, with the same threads (each op inside its own
``dlfeval``-like scope: tracing on, ops split over the threads as in a training step). Each op's
forward is timed around the call, and its backward by calling the closure it recorded with a
fixed output gradient (only the gradients a training step asks for: none for the first layer's
input). Reported: the median over ``--reps`` alternations, in ms, wall time and the process's
CPU time, all threads (less disturbed by other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load(tree: str | None, tmp: Path):
    """This tree's ``minidl`` (tree None) or the package at commit ``tree`` as ``minidl_base``."""
    if tree is None:
        sys.path.insert(0, str(ROOT))
        return importlib.import_module("minidl")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", tree, "minidl"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "x", "-C", str(tmp)], input=archive, check=True)
    (tmp / "minidl").rename(tmp / "minidl_base")
    sys.path.insert(0, str(tmp))
    return importlib.import_module("minidl_base")


def _internals(md) -> tuple:
    """(leaf, tracing, scope) of either layout: the rooms (core.tape, backend.threads) or the
    flat one of the base commit (autodiff, parallel)."""
    try:
        tape = importlib.import_module(md.__name__ + ".core.tape")
        threads = importlib.import_module(md.__name__ + ".backend.threads")
        return tape.leaf, tape.tracing, threads.scope
    except ModuleNotFoundError:
        ad = importlib.import_module(md.__name__ + ".autodiff")
        par = importlib.import_module(md.__name__ + ".parallel")

        @contextlib.contextmanager
        def tracing():
            ad._tape.depth += 1
            try:
                yield
            finally:
                ad._tape.depth -= 1

        return ad.leaf, tracing, par.scope


def cases(md, batch: int, rng: np.random.Generator) -> dict:
    """name -> (forward(), needs): forward returns the traced output dlarray."""
    leaf = _internals(md)[0]
    x = rng.random((batch, 28, 28, 3), dtype=np.float32)
    X = md.dlarray(x, "BSSC")
    W = md.dlarray(rng.standard_normal((5, 5, 3, 20), dtype=np.float32) * 0.1)
    b = md.dlarray(np.zeros((1, 1, 20), np.float32))
    Y = md.dlarray(rng.standard_normal((batch, 24, 24, 20), dtype=np.float32), "BSSC")
    g, o = md.dlarray(np.ones(20, np.float32)), md.dlarray(np.zeros(20, np.float32))

    def leafs(*arrays):
        out = []
        for a in arrays:
            t = md.dlarray(a.extractdata(), a.fmt) if a.fmt else md.dlarray(a.extractdata())
            t._node = leaf()
            out.append(t)
        return out

    def conv():
        Xl, Wl, bl = leafs(X, W, b)
        Xl._node = None  # a first layer: no gradient for the images
        return md.dlconv(Xl, Wl, bl), (False, True, True)

    def norm():
        Yl, ol, gl = leafs(Y, o, g)
        return md.instancenorm(Yl, ol, gl), (True, True, True)

    def pool_relu():
        (Yl,) = leafs(Y)
        return md.relu(md.maxpool(Yl, 2, Stride=2)), None

    return {"dlconv": conv, "instancenorm": norm, "maxpool+relu": pool_relu}


def time_case(md, make, gy_cache: dict, name: str) -> tuple[float, float, float, float]:
    """(forward wall, backward wall, forward cpu, backward cpu) in seconds."""
    _, tracing, scope = _internals(md)
    with tracing():
        with scope():
            w0, c0 = time.perf_counter(), time.process_time()
            out, needs = make()
            w1, c1 = time.perf_counter(), time.process_time()
            gy = gy_cache.setdefault(name, np.ones_like(out.extractdata()))
            nodes = [out._node] if needs is not None else _chain(out._node)
            w2, c2 = time.perf_counter(), time.process_time()
            g = gy
            for node in nodes:
                g = node.backward(g, needs or (True,))[0]
            w3, c3 = time.perf_counter(), time.process_time()
    return w1 - w0, w3 - w2, c1 - c0, c3 - c2


def _chain(node) -> list:
    """The nodes from an output back to the leaf, for a chain of one-input ops."""
    nodes = []
    while node is not None and node.backward is not None:
        nodes.append(node)
        node = node.parents[0]
    return nodes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="b048ed7", help="baseline commit (default b048ed7)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"base": load(args.base, Path(tmp)), "this": load(None, Path(tmp))}
        for md in sides.values():
            importlib.import_module(md.__name__ + ".backend").tune_malloc()
        rng = np.random.default_rng(0)
        made = {k: cases(md, args.batch, rng) for k, md in sides.items()}
        names = list(made["base"])
        times: dict = {(s, n): [] for s in sides for n in names}
        gys: dict = {}
        for rep in range(args.reps + 2):
            for n in names:
                for s, md in sides.items():
                    t = time_case(md, made[s][n], gys, n)
                    if rep >= 2:  # two warm-up rounds
                        times[s, n].append(t)
    print(f"batch {args.batch}, {args.reps} alternations; ms per call, median "
          f"(wall / the process's CPU time); base = {args.base}")
    print(f"{'op':<14}{'pass':<9}{'base wall':>10}{'this wall':>10}{'base cpu':>10}"
          f"{'this cpu':>10}{'cpu ratio':>10}")
    for n in names:
        for i, what in ((0, "forward"), (1, "backward")):
            bw = statistics.median(t[i] for t in times["base", n]) * 1e3
            tw = statistics.median(t[i] for t in times["this", n]) * 1e3
            bc = statistics.median(t[i + 2] for t in times["base", n]) * 1e3
            tc = statistics.median(t[i + 2] for t in times["this", n]) * 1e3
            print(f"{n:<14}{what:<9}{bw:>10.2f}{tw:>10.2f}{bc:>10.2f}{tc:>10.2f}"
                  f"{bc / tc:>9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
