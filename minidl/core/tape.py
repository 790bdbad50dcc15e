"""The tape: recorded operations and the backward walk over them.

The tape knows nothing about arrays or ops. An op (in ``core.primitives`` or ``minidl.ops``)
computes its result and, while the calling thread is tracing, links a ``Node`` to it holding the
op's ``backward(gy, needs)`` closure, which captures exactly what it needs and returns one
gradient per input (None where ``needs`` is False). Outside ``dlfeval`` nothing is recorded, so
prediction pays nothing for autograd.

``backpropagate`` sorts the nodes reachable from the loss by generation (a child always has a
higher generation than its parents), runs each backward once in that order without recursion,
accumulates gradients of values used more than once, skips inputs that lead to no requested
gradient, and releases each node's closure as soon as it has run.

Tracing is per thread: ``tracing()`` turns recording on for the calling thread only, so
``dlfeval`` calls running at the same time in different threads (trainnet computes the halves of
a mini-batch that way) each build and consume their own graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Node", "is_tracing", "leaf", "tracing", "backpropagate"]


class Node:
    """One recorded operation: its parents' nodes and the closure that maps gy to their grads."""

    __slots__ = ("parents", "backward", "generation")

    def __init__(self, parents: tuple, backward: Callable | None, generation: int):
        self.parents = parents
        self.backward = backward
        self.generation = generation


class _TracingState(threading.local):
    """The tracing state of one thread (each thread sees its own ``depth``)."""

    depth = 0  # > 0 while dlfeval is running in this thread


_state = _TracingState()


def is_tracing() -> bool:
    """True while the calling thread is inside ``dlfeval``."""
    return _state.depth > 0


@contextmanager
def tracing() -> Iterator[None]:
    """Record operations run by the calling thread until the block ends (nests)."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1


def leaf() -> Node:
    """A node for a traced input: the place a gradient can be read from."""
    return Node((), None, 0)


def child(parents: tuple) -> Node | None:
    """A node one generation after its parents (None entries are untraced inputs), or None
    when no parent is traced; its ``backward`` is set by the op that records it."""
    live = [p.generation for p in parents if p is not None]
    return Node(parents, None, max(live) + 1) if live else None


def backpropagate(root: Node, seed: Any, targets: list[Node], retain: bool) -> dict:
    """Run the recorded backward closures from ``root`` (whose gradient is ``seed``) towards
    ``targets``; return {target node: gradient}. Without ``retain`` each closure is released
    once it has run, so walking the same trace twice is an error."""
    wanted = set(targets)
    order = _reachable(root)
    needed = {}
    for node in reversed(order):  # parents before children
        needed[node] = node in wanted or any(p is not None and needed[p] for p in node.parents)
    results: dict = {}
    pending = {root: seed}
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
