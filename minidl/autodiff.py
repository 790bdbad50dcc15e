"""Reverse-mode automatic differentiation, MATLAB style: ``dlfeval`` and ``dlgradient``.

The tape knows nothing about ops. An op computes its result on raw arrays and hands
``record`` a ``backward(gy, needs)`` closure that captures exactly what it needs and returns one
gradient per input (None where ``needs`` is False). ``record`` attaches a ``Node`` to the
output only while ``dlfeval`` is running, so prediction pays nothing for autograd.

``dlgradient`` sorts the nodes reachable from the loss by generation (a child always has a
higher generation than its parents), runs each backward once in that order without recursion,
accumulates gradients of values used more than once, skips inputs that lead to no requested
gradient, and releases each node's captured arrays as soon as its backward has run.

Tracing is per thread: ``dlfeval`` turns recording on for the thread that calls it only, so
``dlfeval`` calls running at the same time in different threads (trainnet computes the halves of
a mini-batch that way) each build and consume their own graph, and ops run meanwhile by other
threads are not traced. The graph itself is plain objects and may be used from any thread.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from .backend import array_module
from .parallel import scope

__all__ = ["dlfeval", "dlgradient"]


class Node:
    """One recorded operation: its parents' nodes and the closure that maps gy to their grads."""

    __slots__ = ("parents", "backward", "generation")

    def __init__(self, parents: tuple, backward: Callable | None, generation: int):
        self.parents = parents
        self.backward = backward
        self.generation = generation


class _Tape(threading.local):
    """The tracing state of one thread (each thread sees its own ``depth``)."""

    depth = 0  # > 0 while dlfeval is running in this thread


_tape = _Tape()


def is_tracing() -> bool:
    """True while the calling thread is inside ``dlfeval``."""
    return _tape.depth > 0


def leaf() -> Node:
    """A node for a traced input: the place a gradient can be read from."""
    return Node((), None, 0)


def record(data: Any, fmt: str, inputs: tuple, backward: Callable) -> Any:
    """Wrap an op's raw result as a dlarray, linking it to its inputs while tracing.

    ``backward(gy, needs)`` gets the output gradient (same shape as ``data``) and a tuple of
    booleans, one per input, saying which input gradients are wanted.
    """
    from .dlarray import dlarray

    if _tape.depth == 0:
        return dlarray._wrap(data, fmt)
    parents = tuple(x._node if isinstance(x, dlarray) else None for x in inputs)
    live = [p.generation for p in parents if p is not None]
    if not live:
        return dlarray._wrap(data, fmt)
    return dlarray._wrap(data, fmt, Node(parents, backward, max(live) + 1))


# ---------------------------------------------------------------------------------------------
# Containers of dlarrays: lists, tuples, dicts and objects that define _tree_flatten()

def tree_flatten(obj: Any) -> tuple[list, Callable[[list], Any]]:
    """Split a nested container into its dlarray leaves and a function that rebuilds it."""
    from .dlarray import dlarray

    if isinstance(obj, dlarray):
        return [obj], lambda leaves: leaves[0]
    if hasattr(obj, "_tree_flatten"):
        return obj._tree_flatten()
    if isinstance(obj, (list, tuple)):
        return _join([tree_flatten(v) for v in obj], lambda vals: _rebuild_sequence(obj, vals))
    if isinstance(obj, dict):
        keys = list(obj)
        parts = [tree_flatten(obj[k]) for k in keys]
        return _join(parts, lambda vals: _rebuild_dict(obj, keys, vals))
    return [], lambda leaves: obj


def _rebuild_sequence(obj: list | tuple, vals: list) -> list | tuple:
    """A list or tuple of the same type holding ``vals`` (a namedtuple takes them by position)."""
    kind = type(obj)
    if kind is list or kind is tuple:
        return kind(vals)
    return kind(*vals) if hasattr(obj, "_fields") else kind(vals)


def _rebuild_dict(obj: dict, keys: list, vals: list) -> dict:
    """A dict of the same type with ``vals`` under ``keys``; a subclass (defaultdict,
    OrderedDict) is copied and assigned to, so whatever its constructor needs is kept."""
    if type(obj) is dict:
        return dict(zip(keys, vals))
    out = copy.copy(obj)
    for key, val in zip(keys, vals):
        out[key] = val
    return out


def _join(parts: list, build: Callable[[list], Any]) -> tuple[list, Callable]:
    counts = [len(leaves) for leaves, _ in parts]
    flat = [leaf for leaves, _ in parts for leaf in leaves]

    def rebuild(leaves: list) -> Any:
        out, start = [], 0
        for (_, sub), n in zip(parts, counts):
            out.append(sub(leaves[start:start + n]))
            start += n
        return build(out)

    return flat, rebuild


def tree_map(fn: Callable, obj: Any) -> Any:
    """Apply ``fn`` to every dlarray leaf of a container, keeping the container's structure."""
    leaves, rebuild = tree_flatten(obj)
    return rebuild([fn(x) for x in leaves])


# ---------------------------------------------------------------------------------------------

def dlfeval(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """Evaluate ``fun(*args)`` with tracing on, so ``dlgradient`` can be called inside it.

    Every dlarray among the arguments (also inside lists, tuples, dicts, a dlnetwork and its
    Learnables) is traced; the caller's arrays are not modified. The values returned are
    untraced, so the recorded graph is freed when dlfeval returns. On the CPU the ops inside
    may split their work over threads, BLAS on one thread meanwhile (``minidl.parallel.scope``).
    """
    from .dlarray import dlarray

    def trace(x: dlarray) -> dlarray:
        return dlarray._wrap(x._data, x._fmt, leaf())

    tape = _tape
    tape.depth += 1
    try:
        with scope():
            result = fun(*tree_map(trace, list(args)),
                         **{k: tree_map(trace, v) for k, v in kwargs.items()})
    finally:
        tape.depth -= 1
    return tree_map(lambda y: dlarray._wrap(y._data, y._fmt), result)


def dlgradient(y: Any, *xs: Any, RetainData: bool = False) -> Any:
    """Gradients of the real scalar dlarray ``y`` with respect to each of ``xs``.

    Each gradient has the structure, shape and format of its x (a dlarray, or the same list,
    dict or Learnables table). One x gives one value; several give a tuple. Must be called
    inside a function run by ``dlfeval``. With ``RetainData=False`` (MATLAB's default) the
    trace is released as it is consumed, so a second dlgradient through it is an error.
    """
    from .dlarray import dlarray

    if _tape.depth == 0:
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
    grads = _backpropagate(y, [x._node for x in flat], RetainData)
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
    from .dlarray import dlarray

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


def _backpropagate(y: Any, targets: list[Node], retain: bool) -> dict:
    """Run the recorded backward closures from ``y`` to ``targets``; return {node: gradient}."""
    wanted = set(targets)
    order = _reachable(y._node)
    needed = {}
    for node in reversed(order):  # parents before children
        needed[node] = node in wanted or any(p is not None and needed[p] for p in node.parents)
    results: dict = {}
    pending = {y._node: array_module(y._data).ones_like(y._data)}
    for node in order:  # children before parents
        gy = pending.pop(node, None)
        if gy is None or not needed[node]:
            continue
        if node in wanted:
            results[node] = gy
        if node.parents:
            if node.backward is None:
                raise RuntimeError("dlgradient: this trace was released by an earlier dlgradient "
                                   "call; pass RetainData=True to the first call to reuse it")
            needs = tuple(p is not None and needed[p] for p in node.parents)
            for parent, g in zip(node.parents, node.backward(gy, needs)):
                if g is None or parent is None or not needed[parent]:
                    continue
                pending[parent] = g if parent not in pending else pending[parent] + g
            if not retain:
                node.backward = None
    return results


def _reachable(root: Node) -> list[Node]:
    """All nodes reachable from root, children before parents (descending generation)."""
    seen, stack = {root}, [root]
    while stack:
        for p in stack.pop().parents:
            if p is not None and p not in seen:
                seen.add(p)
                stack.append(p)
    return sorted(seen, key=lambda n: n.generation, reverse=True)
