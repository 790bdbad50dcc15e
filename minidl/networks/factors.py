"""MATLAB's learn-rate and L2 factor accessors, in both of their forms.

``setLearnRateFactor(layer, parameterName, factor)`` works on a layer (``layers.base``
does the work); ``setLearnRateFactor(net, layerName, parameterName, factor)`` on a copy of a
network, whose layer it replaces. The same for getLearnRateFactor, setL2Factor and getL2Factor.
"""

from __future__ import annotations

import copy
from typing import Any

from ..layers import Layer, get_factor, set_factor
from .graph import Graph
from .network import check_network

__all__ = ["setLearnRateFactor", "getLearnRateFactor", "setL2Factor", "getL2Factor"]


def setLearnRateFactor(target: Any, *args: Any) -> Any:
    """``setLearnRateFactor(layer, parameterName, factor)``: a copy of ``layer`` whose parameter
    has learn-rate factor ``factor``; ``setLearnRateFactor(net, layerName, parameterName,
    factor)``: a copy of the dlnetwork with that layer's factor set (MATLAB's two forms)."""
    return _set(target, args, "LearnRateFactor", "setLearnRateFactor")


def getLearnRateFactor(target: Any, *args: Any) -> float:
    """The learn-rate factor of a parameter (e.g. "Weights"): ``getLearnRateFactor(layer,
    parameterName)`` or ``getLearnRateFactor(net, layerName, parameterName)``."""
    return _get(target, args, 0, "getLearnRateFactor")


def setL2Factor(target: Any, *args: Any) -> Any:
    """``setL2Factor(layer, parameterName, factor)`` or ``setL2Factor(net, layerName,
    parameterName, factor)``: a copy with that parameter's L2 regularization factor set."""
    return _set(target, args, "L2Factor", "setL2Factor")


def getL2Factor(target: Any, *args: Any) -> float:
    """The L2 regularization factor of a parameter: ``getL2Factor(layer, parameterName)`` or
    ``getL2Factor(net, layerName, parameterName)``."""
    return _get(target, args, 1, "getL2Factor")


def _set(target: Any, args: tuple, suffix: str, where: str) -> Any:
    if isinstance(target, Layer):
        name, factor = _arguments(args, 2, where, "layer, parameterName, factor")
        return set_factor(target, name, factor, suffix)
    layer_name, name, factor = _arguments(args, 3, where, "net, layerName, parameterName, factor")
    net = copy.copy(_network(target, where))
    i = _layer_index(net, layer_name, where)
    net._layers[i] = set_factor(net._layers[i], name, factor, suffix)
    return net


def _get(target: Any, args: tuple, which: int, where: str) -> float:
    if isinstance(target, Layer):
        (name,) = _arguments(args, 1, where, "layer, parameterName")
        return get_factor(target, name, which)
    layer_name, name = _arguments(args, 2, where, "net, layerName, parameterName")
    net = _network(target, where)
    return get_factor(net.layers_view[_layer_index(net, layer_name, where)], name, which)


def _arguments(args: tuple, n: int, where: str, form: str) -> tuple:
    if len(args) != n:
        raise TypeError(f"{where}({form}) takes {n + 1} arguments, got {len(args) + 1}")
    return args


def _network(target: Any, where: str) -> Graph:
    if not isinstance(target, Graph):
        check_network(target, where, "net", "a layer or a dlnetwork")  # raises, naming it
    return target


def _layer_index(net: Graph, name: str, where: str) -> int:
    """The position of the layer called ``name`` (a ValueError naming the network's layers)."""
    if not isinstance(name, str):
        raise TypeError(f"{where}: layerName must be a string, got {type(name).__name__}.")
    names = [layer.Name for layer in net.layers_view]
    if name not in names:
        raise ValueError(f"{where}: the network has no layer named '{name}'; its layers are "
                         f"{', '.join(repr(n) for n in names)}")
    return names.index(name)
