"""The timed callables of each side, built the same way in-process or in a worker process.

``make(side, kind, batch, n_images)`` returns ``(run, warm)``: ``run()`` is one unit of the
workload (one training step, one pass of inference over the data set, one epoch) and ``warm()``
a small version of it to run first (first-call costs: imports, oneDNN kernel creation, caches).
Sides: "minidl", "torch:channels_last", "torch:contiguous", "numpy-ref", "numpy-ref-par".
Kinds: "train", "predict", "epoch".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SIDES = ("minidl", "torch:channels_last", "torch:contiguous", "numpy-ref", "numpy-ref-par")


def data(n: int):
    from run import data as _data

    return _data(n)


def make(side: str, kind: str, batch: int, n_images: int) -> tuple[Callable, Callable]:
    x, t, _ = data(n_images)
    small_x, small_t = x[:min(512, len(x))], t[:min(512, len(t))]
    if side == "minidl":
        import minidl_side as m
        if kind == "train":
            step = m.TrainStep(x, t, batch)
            return step, lambda: (step(), step())
        if kind == "predict":
            return m.Predict(x), m.Predict(small_x)
        if kind == "epoch":
            return (lambda: m.train_epoch(x, t, 128)), (lambda: m.train_epoch(small_x, small_t))
    elif side.startswith("torch:"):
        import torch_side as ts
        fmt = side.split(":", 1)[1]
        if kind == "train":
            step = ts.TrainStep(x, t, batch, fmt)
            return step, lambda: (step(), step())
        if kind == "predict":
            return ts.Predict(x, fmt), ts.Predict(small_x, fmt)
        if kind == "epoch":
            return ((lambda: ts.train_epoch(x, t, 128, fmt)),
                    (lambda: ts.train_epoch(small_x, small_t, 128, fmt)))
    elif side in ("numpy-ref", "numpy-ref-par"):
        import numpy_reference as ref
        par = side == "numpy-ref-par"
        if kind == "train":
            step = ref.ParallelTrainStep(x, t, batch) if par else ref.TrainStep(x, t, batch)
            return step, lambda: (step(), step())
        if kind == "predict":
            net = ref.Net()
            if par:
                p = ref.ParallelPredict(net)
                return (lambda: p(x)), (lambda: p(small_x))
            return (lambda: ref.predict_all(net, x)), (lambda: ref.predict_all(net, small_x))
        if kind == "epoch" and not par:
            return ((lambda: ref.train_epoch(x, t, 128)),
                    (lambda: ref.train_epoch(small_x, small_t, 128)))
    raise ValueError(f"no {kind!r} workload for side {side!r}")


def value(result: Any) -> float | None:
    """A training step's loss as a float (None for other results)."""
    try:
        return float(result)
    except (TypeError, ValueError):
        return None
