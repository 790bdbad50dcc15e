"""gradcheck: compare dlgradient with central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import array_module, to_module
from .autodiff import dlfeval, dlgradient
from .dlarray import dlarray

__all__ = ["gradcheck"]


class GradcheckError(RuntimeError):
    """dlgradient and the finite differences disagree by more than the tolerance."""


def gradcheck(fun: Callable[..., dlarray], *inputs: Any, tol: float = 1e-6, step: float = 1e-6,
              max_elements: int = 256, seed: int = 0) -> float:
    """Check the gradients of ``fun`` at ``inputs``; return the worst relative error.

    Every dlarray input is copied to float64 and checked: d(out)/d(x_i) from dlgradient against
    (f(x_i + h) - f(x_i - h)) / 2h for each element i (or a random sample of ``max_elements``
    elements of large inputs). A non-scalar output is reduced to ``sum(out .* R)`` with a fixed
    random R, which checks every output element's gradient at once. The error of an input is
    ``max(|analytic - numeric| - atol) / max(max|numeric|, max|analytic|)``, where
    ``atol = 100 eps max(1, |f|) / step`` (about 2e-8 max(1, |f|) at the default step) is the
    round-off of the finite differences themselves: f is exact only to about eps |f|, so their
    differences carry noise of about eps |f| / step, and a true gradient of 0 would otherwise
    fail against it. Differences within ``atol`` count as 0.
    Raises GradcheckError, naming the input and the worst element, when an error exceeds ``tol``.
    """
    args = [_to_float64(x) for x in inputs]
    checked = [i for i, x in enumerate(args) if isinstance(x, dlarray)]
    if not checked:
        raise TypeError("gradcheck needs at least one dlarray input to check")
    weights = _projection(fun, args, seed)

    def scalar(*xs: Any) -> dlarray:
        y = fun(*xs)
        return y if weights is None else (y * weights).sum()

    def analytic(*xs: Any) -> tuple:
        return dlgradient(scalar(*xs), *[xs[i] for i in checked])

    grads = dlfeval(analytic, *args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i, grad in zip(checked, grads):
        a = _host(grad._data).ravel()
        n, picks, f_max = _numeric_gradient(scalar, args, i, step, max_elements, rng)
        a = a[picks]
        atol = 100 * np.finfo(np.float64).eps * max(1.0, f_max) / step
        scale = max(np.abs(n).max(initial=0), np.abs(a).max(initial=0), atol)
        err = float(np.maximum(np.abs(a - n) - atol, 0).max(initial=0) / scale)
        worst = max(worst, err)
        if err > tol:
            k = int(np.argmax(np.abs(a - n)))
            raise GradcheckError(
                f"gradient of input {i + 1} is wrong: relative error {err:.3g} > tol {tol:g}; "
                f"worst at flat element {int(picks[k])}: dlgradient {a[k]:.8g}, "
                f"finite difference {n[k]:.8g}")
    return worst


def _to_float64(x: Any) -> Any:
    if isinstance(x, dlarray):
        return dlarray._wrap(x._data.astype(array_module(x._data).float64), x._fmt)
    return x


def _host(a: Any) -> np.ndarray:
    return to_module(a, np)


def _projection(fun: Callable, args: list, seed: int) -> Any:
    y = fun(*args)
    if not isinstance(y, dlarray):
        raise TypeError(f"gradcheck: fun must return a dlarray, got {type(y).__name__}")
    if y.size == 1:
        return None
    r = np.random.default_rng(seed + 1).standard_normal(y.shape)
    return dlarray._wrap(to_module(r, array_module(y._data)), y._fmt)


def _numeric_gradient(scalar: Callable, args: list, i: int, step: float, max_elements: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Central differences at the picked elements of input ``i``, and the largest |f| seen."""
    x = args[i]
    base = x._data
    size = base.size
    picks = np.arange(size) if size <= max_elements else np.sort(
        rng.choice(size, max_elements, replace=False))
    out, f_max = np.empty(len(picks)), 0.0
    for k, flat in enumerate(picks):
        values = []
        for sign in (1, -1):
            moved = base.copy()
            moved.reshape(-1)[int(flat)] += sign * step
            trial = list(args)
            trial[i] = dlarray._wrap(moved, x._fmt)
            values.append(float(scalar(*trial)))  # any one-element shape, e.g. 1x1
        out[k] = (values[0] - values[1]) / (2 * step)
        f_max = max(f_max, abs(values[0]), abs(values[1]))
    return out, picks, f_max
