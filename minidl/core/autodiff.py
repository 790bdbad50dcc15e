"""MATLAB's automatic differentiation: ``dlfeval`` traces a function, ``dlgradient`` walks
the trace back (the walk itself is ``core.tape.backpropagate``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_module, scope
from .dlarray import dlarray
from .tape import backpropagate, is_tracing, leaf, tracing
from .tree import tree_flatten, tree_map

__all__ = ["dlfeval", "dlgradient"]


def dlfeval(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """Evaluate ``fun(*args)`` with tracing on, so ``dlgradient`` can be called inside it.

    Every dlarray among the arguments (also inside lists, tuples, dicts, a dlnetwork and its
    Learnables) is traced; the caller's arrays are not modified. The values returned are
    untraced, so the recorded graph is freed when dlfeval returns. On the CPU the ops inside
    may split their work over threads, BLAS on one thread meanwhile (``minidl.backend.scope``).
    """
    def trace(x: dlarray) -> dlarray:
        return dlarray._wrap(x._data, x._fmt, leaf())

    with tracing(), scope():
        result = fun(*tree_map(trace, list(args)),
                     **{k: tree_map(trace, v) for k, v in kwargs.items()})
    return tree_map(lambda y: dlarray._wrap(y._data, y._fmt), result)


def dlgradient(y: Any, *xs: Any, RetainData: bool = False) -> Any:
    """Gradients of the real scalar dlarray ``y`` with respect to each of ``xs``.

    Each gradient has the structure, shape and format of its x (a dlarray, or the same list,
    dict or Learnables table). One x gives one value; several give a tuple. Must be called
    inside a function run by ``dlfeval``. With ``RetainData=False`` (MATLAB's default) the
    trace is released as it is consumed, so a second dlgradient through it is an error.
    """
    if not is_tracing():
        raise RuntimeError("dlgradient must be called inside a function evaluated by dlfeval: "
                           "use dlfeval(fun, inputs...) and call dlgradient within fun")
    if not isinstance(y, dlarray):
        raise TypeError(f"dlgradient: the value to differentiate must be a dlarray, "
                        f"got {type(y).__name__}")
    if y._data.size != 1 or y._data.dtype.kind == "c":
        raise ValueError(f"dlgradient: the value to differentiate must be a real scalar, "
                         f"got size {tuple(y._data.shape)}")
    if y._node is None:
        raise ValueError("dlgradient: the value to differentiate is not traced; it must be "
                         "computed inside dlfeval from the traced inputs")
    if not xs:
        raise TypeError("dlgradient needs at least one input to differentiate with respect to")
    flat, rebuilds = [], []
    for k, x in enumerate(xs, 1):
        leaves, rebuild = tree_flatten(x)
        if not leaves:
            raise TypeError(f"dlgradient: argument {k} to differentiate with respect to must be "
                            "a dlarray or a container (list, tuple, dict, Learnables table) "
                            f"holding dlarrays, got {_describe(x)}")
        for i, leaf_x in enumerate(leaves):
            if leaf_x._node is None:
                raise ValueError(f"dlgradient: input {len(flat) + i + 1} is not traced; pass it "
                                 "to dlfeval as an argument (or create it inside fun)")
        flat.extend(leaves)
        rebuilds.append((rebuild, len(leaves)))
    seed = array_module(y._data).ones_like(y._data)
    grads = backpropagate(y._node, seed, [x._node for x in flat], RetainData)
    out, start, handed = [], 0, {}
    for rebuild, n in rebuilds:
        part = flat[start:start + n]
        out.append(rebuild([_hand_out(_grad_or_zeros(grads, x), x._fmt, handed) for x in part]))
        start += n
    return out[0] if len(out) == 1 else tuple(out)


def _describe(x: Any) -> str:
    kind = type(x)
    name = kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"
    return f"a {name} holding no dlarray" if isinstance(x, (list, tuple, dict)) else name


def _hand_out(g: Any, fmt: str, handed: dict) -> Any:
    """The gradient as a dlarray the caller may write to: a copy only where ``g`` is read-only
    (a broadcast view such as sum's), repeats one element over a stride of 0, or shares memory
    with a gradient already handed out (``a + b`` gives both the same array)."""
    data = dlarray._wrap(g)._data  # a NumPy scalar becomes a 0-d array
    root = _memory_root(data)
    if id(root) in handed or not getattr(data.flags, "writeable", True) or any(
            stride == 0 and n > 1 for stride, n in zip(data.strides, data.shape)):
        data = root = data.copy()
    handed[id(root)] = root
    return dlarray._wrap(data, fmt)


def _memory_root(a: Any) -> Any:
    """The array that owns the memory ``a`` views (``a`` itself when it owns it)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _grad_or_zeros(grads: dict, x: Any) -> Any:
    g = grads.get(x._node)
    if g is None:
        return array_module(x._data).zeros_like(x._data)
    return g if g.shape == x._data.shape else g.reshape(x._data.shape)
