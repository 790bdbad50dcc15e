"""The metrics of trainnet and testnet: accuracy, crossentropy, mse and rmse, written once.

trainnet computes them per mini-batch on the training device (on canonical-order arrays) and
testnet over a whole data set on the host (in memory order); both call ``metric_value`` with the
axis of the classes and the number of observations, and sums accumulate in float64.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import array_module

__all__ = ["METRICS", "metric_value", "weighted_means"]

METRICS = ("accuracy", "crossentropy", "mse", "rmse")


def metric_value(name: str, Y: Any, T: Any, c_axis: int, n: int) -> float:
    """A metric of scores Y and targets T (same shape, classes along ``c_axis``, ``n``
    observations): accuracy in percent (the top class, or Y > 0.5 for a single output),
    crossentropy per observation, mse and rmse per element."""
    xp = array_module(Y, T)
    if name == "accuracy":
        if Y.shape[c_axis] == 1:
            hits = (Y > 0.5) == (T > 0.5)
        else:
            hits = xp.argmax(Y, axis=c_axis) == xp.argmax(T, axis=c_axis)
        return 100.0 * float(hits.mean())
    if name == "crossentropy":
        return -float(xp.sum(T * xp.log(xp.maximum(Y, 1e-30)), dtype=xp.float64)) / n
    mse = float(xp.mean(xp.square(Y.astype(xp.float64) - T)))
    return math.sqrt(mse) if name == "rmse" else mse


def weighted_means(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Combine per-batch values weighted by batch size (rmse combined through its square)."""
    total = sum(n for n, _ in parts)
    out: dict[str, float] = {}
    for key in parts[0][1]:
        sq = key.lower().endswith("rmse")
        acc = sum(n * (v[key] ** 2 if sq else v[key]) for n, v in parts) / total
        out[key] = math.sqrt(acc) if sq else acc
    return out
