"""Solver updates for custom training loops: ``sgdmupdate``, ``adamupdate``, ``rmspropupdate``,
and ``dlupdate`` for an update rule of your own.

Each mirrors MATLAB's function of the same name. ``params`` may be a dlnetwork (its Learnables
are updated), a Learnables table, a dlarray, a raw NumPy/CuPy array, or a list, tuple or dict of
dlarrays; ``grad`` holds one gradient per parameter in the same order (any container that
``tree_flatten`` understands, e.g. what ``dlgradient(loss, net.Learnables)`` returns). The solver
state (``vel``, ``averageGrad``, ...) starts as ``None`` (MATLAB's ``[]``) and comes back with
the structure of the parameters (a Learnables table for a network).

The functions never modify the caller's arrays: every result is a new array (the arithmetic
runs in place only on arrays made here), except that a parameter whose learn rate is 0 comes
back as the same array. Gradients and state must have their parameter's size; they are used
in the parameter's dtype, so float32 stays float32; hyper-parameters are Python floats. Dicts
of parameters, gradients and state are matched by key, not by position. ``trainnet`` calls
these same functions; its per-parameter learn-rate factors come in through the keyword
``learnRateFactors`` (a minidl extension: one factor per parameter, each multiplying
``learnRate``).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from .._matlab import (
    check_in_range,
    check_nonneg_real,
    check_positive_int,
    check_positive_real,
    size_str,
)
from ..backend import array_module, module_of
from ..core import dlarray, tree_flatten

__all__ = ["sgdmupdate", "adamupdate", "rmspropupdate", "dlupdate"]

Step = Callable[..., tuple]
"""``step(p, g, *states, lr) -> (p_new, *states_new)`` on raw arrays of one parameter."""


def sgdmupdate(net: Any, grad: Any, vel: Any, learnRate: float = 0.01, momentum: float = 0.9, *,
               learnRateFactors: Sequence[float] | None = None) -> tuple[Any, Any]:
    """Stochastic gradient descent with momentum; returns ``(net, vel)``.

    For each parameter w with gradient g and learn-rate factor f (1 unless given)::

        vel = momentum * vel - learnRate * f * g      (vel = 0 on the first call)
        w   = w + vel

    MATLAB: ``[net, vel] = sgdmupdate(net, grad, vel, learnRate, momentum)``.
    """
    lr = check_nonneg_real("learnRate", learnRate)
    mu = check_in_range("momentum", momentum, 0, 1)

    def step(w: Any, g: Any, v: Any, rate: float) -> tuple:
        v_new = g * (-rate)
        if v is not None and mu != 0:
            v_new += mu * v
        return w + v_new, v_new

    return _update(net, grad, [vel], step, lr, learnRateFactors, "sgdmupdate")


def adamupdate(net: Any, grad: Any, averageGrad: Any, averageSqGrad: Any, iteration: int,
               learnRate: float = 0.001, gradDecay: float = 0.9, sqGradDecay: float = 0.999,
               epsilon: float = 1e-8, *,
               learnRateFactors: Sequence[float] | None = None) -> tuple[Any, Any, Any]:
    """Adaptive moment estimation (Adam); returns ``(net, averageGrad, averageSqGrad)``.

    With t = ``iteration`` (1-based), b1 = gradDecay, b2 = sqGradDecay, for each parameter::

        m = b1 * m + (1 - b1) * g                     (m = v = 0 on the first call)
        v = b2 * v + (1 - b2) * g.^2
        w = w - learnRate * f * sqrt(1 - b2^t) / (1 - b1^t) * m ./ (sqrt(v) + epsilon)

    i.e. the bias-corrected step m_hat ./ (sqrt(v_hat) + eps) of Kingma & Ba with the correction
    folded into the learning rate, as MATLAB's solver computes it (epsilon is added to the
    uncorrected sqrt(v)). MATLAB: ``adamupdate(net, grad, avgG, avgSqG, iteration, learnRate,
    gradDecay, sqGradDecay, epsilon)``.
    """
    t = check_positive_int("iteration", iteration)
    lr = check_nonneg_real("learnRate", learnRate)
    b1 = check_in_range("gradDecay", gradDecay, 0, 1, hi_open=True)
    b2 = check_in_range("sqGradDecay", sqGradDecay, 0, 1, hi_open=True)
    eps = check_positive_real("epsilon", epsilon)
    correction = math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)

    def step(w: Any, g: Any, m: Any, v: Any, rate: float) -> tuple:
        m_new = g * (1.0 - b1)
        if m is not None:
            m_new += b1 * m
        v_new = g * g
        v_new *= 1.0 - b2
        if v is not None:
            v_new += b2 * v
        if rate == 0:
            return w, m_new, v_new
        denom = array_module(v_new).sqrt(v_new)
        denom += eps
        delta = m_new / denom
        delta *= rate * correction
        return w - delta, m_new, v_new

    return _update(net, grad, [averageGrad, averageSqGrad], step, lr, learnRateFactors,
                   "adamupdate")


def rmspropupdate(net: Any, grad: Any, averageSqGrad: Any, learnRate: float = 0.001,
                  sqGradDecay: float = 0.9, epsilon: float = 1e-8, *,
                  learnRateFactors: Sequence[float] | None = None) -> tuple[Any, Any]:
    """Root-mean-square propagation; returns ``(net, averageSqGrad)``.

    With b2 = sqGradDecay, for each parameter::

        v = b2 * v + (1 - b2) * g.^2                  (v = 0 on the first call)
        w = w - learnRate * f * g ./ (sqrt(v) + epsilon)

    MATLAB: ``[net, avgSqG] = rmspropupdate(net, grad, avgSqG, learnRate, sqGradDecay, epsilon)``.
    """
    lr = check_nonneg_real("learnRate", learnRate)
    b2 = check_in_range("sqGradDecay", sqGradDecay, 0, 1, hi_open=True)
    eps = check_positive_real("epsilon", epsilon)

    def step(w: Any, g: Any, v: Any, rate: float) -> tuple:
        v_new = g * g
        v_new *= 1.0 - b2
        if v is not None:
            v_new += b2 * v
        if rate == 0:
            return w, v_new
        denom = array_module(v_new).sqrt(v_new)
        denom += eps
        delta = g / denom
        delta *= rate
        return w - delta, v_new

    return _update(net, grad, [averageSqGrad], step, lr, learnRateFactors, "rmspropupdate")


def dlupdate(fun: Callable[..., Any], net: Any, *args: Any) -> Any:
    """Apply ``fun`` to each learnable parameter; returns the updated net (or container).

    ``dlupdate(fun, net)`` calls ``fun(w)`` for each parameter w (a dlarray) of a dlnetwork,
    Learnables table, dict/list of dlarrays or single dlarray, and returns the same kind of
    thing holding the results. ``dlupdate(fun, net, X1, ..., Xn)`` calls ``fun(w, x1, ..., xn)``
    with the matching entries of containers X1..Xn that have one entry per parameter (e.g. the
    gradients). If ``fun`` returns a tuple ``(w_new, y1, ..., ym)``, the result is ``(net_new,
    Y1, ..., Ym)``, each Y shaped like the parameters (a Learnables table for a network).
    Unlike the solvers this traces through ``fun``: inside ``dlfeval`` it is differentiable.

    MATLAB: ``net = dlupdate(@(w) 0.9*w, net)``, ``[net, vel] = dlupdate(@sgdm, net, grad, vel)``.
    """
    if not callable(fun):
        raise TypeError(f"dlupdate: fun must be a function, got {type(fun).__name__}")
    leaves, rebuild = tree_flatten(net)
    if not leaves:
        raise TypeError("dlupdate: net must be a dlnetwork, a Learnables table, a dlarray or a "
                        f"container of dlarrays, got {type(net).__name__}")
    extra = [_dl_leaves(x, leaves, net, i + 1) for i, x in enumerate(args)]
    results = [fun(w, *xs) for w, *xs in zip(leaves, *extra)]
    tupled = [isinstance(r, tuple) for r in results]
    if not all(tupled):
        if any(tupled):
            raise ValueError("dlupdate: fun must return the same number of outputs for every "
                             "parameter")
        return rebuild([_as_dlarray(r, w) for r, w in zip(results, leaves)])
    counts = {len(r) for r in results}
    if len(counts) != 1 or 0 in counts:
        raise ValueError("dlupdate: fun must return the same number of outputs (at least one) "
                         "for every parameter")
    columns = [list(col) for col in zip(*results)]
    rebuild_table = (tree_flatten(net.Learnables)[1] if _is_network(net) else rebuild)
    first = rebuild([_as_dlarray(r, w) for r, w in zip(columns[0], leaves)])
    return (first, *(rebuild_table([_as_dlarray(r, w) for r, w in zip(col, leaves)])
                      for col in columns[1:]))


def _dl_leaves(x: Any, params: list, net: Any, position: int) -> list:
    """The entries of dlupdate's extra input X<position>, one per parameter (dicts matched by
    key), each checked to have its parameter's size."""
    where, what = "dlupdate", f"input X{position}"
    x = _by_keys(x, _keys(net), what, where)
    leaves = [x] if _is_raw(x) else tree_flatten(x)[0]
    if len(leaves) != len(params):
        raise ValueError(f"{where}: {what} holds {len(leaves)} arrays but there are "
                         f"{len(params)} parameters: give one per learnable parameter, in the "
                         "same order")
    for i, (leaf, w) in enumerate(zip(leaves, params)):
        if tuple(leaf.shape) != tuple(w.shape):
            raise ValueError(f"{where}: {what} entry {i + 1}{_name(net, i)} has size "
                             f"{size_str(leaf.shape) or '1x1'} but its parameter has size "
                             f"{size_str(w.shape) or '1x1'}")
    return leaves


def _as_dlarray(value: Any, like: dlarray) -> dlarray:
    """fun's result for parameter ``like`` as a dlarray: a raw array is wrapped; a number (or
    0-d array) fills the parameter's size, in its dtype."""
    if isinstance(value, dlarray):
        return value
    number = isinstance(value, numbers.Number) and not isinstance(value, bool)
    if number or getattr(value, "ndim", None) == 0:
        return dlarray(array_module(like._data).full(like.shape, value, dtype=like.dtype))
    if module_of(value) is None:
        raise TypeError(f"dlupdate: fun must return arrays, got {type(value).__name__}")
    return dlarray(value)


# ---------------------------------------------------------------------------------------------
# The container plumbing shared by the three solvers

def _update(params: Any, grad: Any, states: list, step: Step, learn_rate: float,
            factors: Sequence[float] | None, where: str) -> tuple:
    """Flatten params, grads and states; run ``step`` per parameter; rebuild every container."""
    leaves, fmts, rebuild, rebuild_state = _split_params(params, where)
    n, keys = len(leaves), _keys(params)
    grads = _raw_leaves(_by_keys(grad, keys, "grad", where), n, "grad", where)
    state_leaves = [_raw_leaves(_by_keys(s, keys, "state", where), n, "state", where)
                    if s is not None else [None] * n for s in states]
    rates = _rates(learn_rate, factors, n, where)
    new_params, new_states = [], [[] for _ in states]
    for i, (w, g) in enumerate(zip(leaves, grads)):
        g, *st = (_like(x, w, what, i, params, where)
                  for x, what in [(g, "grad"), *((s[i], "state") for s in state_leaves)])
        out = step(w, g, *st, rates[i])
        new_params.append(out[0])
        for acc, value in zip(new_states, out[1:]):
            acc.append(value)
    return (rebuild(new_params, fmts), *(rebuild_state(s, fmts) for s in new_states))


def _keys(params: Any) -> list | None:
    """The keys of a dict of parameters (their order is the order of the leaves), else None."""
    return list(params) if isinstance(params, dict) else None


def _by_keys(tree: Any, keys: list | None, what: str, where: str) -> Any:
    """A dict of gradients or state in the parameters' key order; other containers as given.
    Different key sets are a ValueError naming the keys missing and extra."""
    if keys is None or not isinstance(tree, dict):
        return tree
    if set(tree) != set(keys):
        missing, extra = sorted(map(str, set(keys) - set(tree))), sorted(
            map(str, set(tree) - set(keys)))
        raise ValueError(f"{where}: the {what} dict has other keys than the parameters "
                         f"(missing: {missing or 'none'}, extra: {extra or 'none'})")
    return {k: tree[k] for k in keys}


def _like(x: Any, w: Any, what: str, i: int, params: Any, where: str) -> Any:
    """Gradient or state ``x`` of parameter ``i`` checked to have w's size, used in w's dtype;
    the error names the parameter (``_name``)."""
    if x is None:
        return None
    if tuple(x.shape) != tuple(w.shape):
        raise ValueError(f"{where}: {what} {i + 1}{_name(params, i)} has size "
                         f"{size_str(x.shape) or '1x1'} but its parameter has size "
                         f"{size_str(w.shape) or '1x1'}")
    return x if x.dtype == w.dtype else x.astype(w.dtype)


def _name(params: Any, i: int) -> str:
    """How an error names parameter ``i``: `` (layer 'fc', parameter 'Weights')`` for a
    network's or table's Learnables, `` ('W')`` for a dict, else nothing (also when nested
    containers make the position ambiguous)."""
    table = params.Learnables if _is_network(params) else params
    if hasattr(table, "Layer") and hasattr(table, "Parameter"):
        names = [f" (layer '{layer}', parameter '{name}')"
                 for layer, name, value in zip(table.Layer, table.Parameter, table.Value)
                 if value is not None]
    elif isinstance(table, dict):
        names = [f" ({key!r})" for key in table]
    else:
        return ""
    return names[i] if len(names) == len(tree_flatten(table)[0]) else ""


def _is_raw(x: Any) -> bool:
    return not isinstance(x, dlarray) and module_of(x) is not None


def _is_network(x: Any) -> bool:
    # Looked up without reading them: a network's Layers property copies every layer.
    own = getattr(x, "__dict__", {})
    return all(hasattr(type(x), name) or name in own for name in ("Learnables", "Layers"))


def _split_params(params: Any, where: str) -> tuple[list, list, Callable, Callable]:
    """Raw arrays and formats of the parameters, plus rebuilders for parameters and state."""
    if _is_raw(params):
        return [params], [None], lambda vals, _: vals[0], lambda vals, _: vals[0]
    container = params.Learnables if _is_network(params) else params
    leaves, rebuild_tree = tree_flatten(container)
    if not leaves:
        raise TypeError(f"{where}: the parameters must be a dlnetwork, a Learnables table, a "
                        f"dlarray or a container of dlarrays, got {type(params).__name__}")

    def rebuild_state(vals: list, fmts: list) -> Any:
        return rebuild_tree([dlarray._wrap(v, f) for v, f in zip(vals, fmts)])

    def rebuild(vals: list, fmts: list) -> Any:
        tree = rebuild_state(vals, fmts)
        return _with_learnables(params, tree) if _is_network(params) else tree

    return [x._data for x in leaves], [x._fmt for x in leaves], rebuild, rebuild_state


def _with_learnables(net: Any, table: Any) -> Any:
    """A copy of ``net`` holding ``table`` as its Learnables (the caller's net is not changed)."""
    if hasattr(net, "_with_learnable_values"):  # a dlnetwork: its fast path for such values
        return net._with_learnable_values(table.Value)
    out = copy.copy(net)
    out.Learnables = table
    return out


def _raw_leaves(tree: Any, n: int, what: str, where: str) -> list:
    """The raw arrays of a gradient or state container, checked to hold ``n`` entries."""
    if _is_raw(tree):
        leaves = [tree]
    else:
        leaves = [x._data for x in tree_flatten(tree)[0]]
    if len(leaves) != n:
        raise ValueError(f"{where}: {what} holds {len(leaves)} arrays but there are {n} "
                         "parameters: give one per learnable parameter, in the same order")
    return leaves


def _rates(learn_rate: float, factors: Sequence[float] | None, n: int, where: str) -> list:
    if factors is None:
        return [learn_rate] * n
    factors = list(factors)
    if len(factors) != n:
        raise ValueError(f"{where}: learnRateFactors has {len(factors)} entries but there are "
                         f"{n} parameters")
    return [learn_rate * check_nonneg_real("learnRateFactors", f) for f in factors]
