"""Containers of dlarrays: flatten lists, tuples, dicts and Learnables tables into their
dlarray leaves and rebuild them (what dlfeval traces and dlgradient returns)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .dlarray import dlarray

__all__ = ["tree_flatten", "tree_map"]


def tree_flatten(obj: Any) -> tuple[list, Callable[[list], Any]]:
    """Split a nested container into its dlarray leaves and a function that rebuilds it."""
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
