"""What a network reads: its input layer's format and size, and data checked against it.

trainnet, minibatchpredict and testnet read a network's input the same way: ``input_format``
says what one observation is, ``observations`` arranges X for it (``data.observations``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Observations, arrange

__all__ = ["input_format", "observations", "read_datastore"]


def input_format(net: Any) -> tuple[str, tuple[int, ...]]:
    """(canonical format, size of one observation) of the network's input layer.

    X's MATLAB layout is given by ``matlab_layout`` of that format.
    """
    layer = net.input_layer() if hasattr(net, "input_layer") else None
    layer = layer if layer is not None else net.layers_view[0]
    size = getattr(layer, "sample_size", None)
    if size is None:
        size = tuple(int(d) for d in np.atleast_1d(np.asarray(layer.InputSize)).ravel())
    fmt = getattr(layer, "fmt", "") or "S" * (len(size) - 1) + "CB"
    return fmt, tuple(int(d) for d in size)


def read_datastore(ds: Any, net: Any) -> tuple[np.ndarray, Any]:
    """All of a datastore's images, at the input layer's size, and its labels (or None)."""
    return ds.read_all(input_format(net)[1])


def observations(X: Any, net: Any, formats: str = "auto", what: str = "X") -> Observations:
    """Check X against the input layer and store it as float32 in channels-last memory order.

    ``formats`` is "auto" (MATLAB's layout: H x W x C x N images, N x numFeatures features) or a
    dlarray format such as "BCSS" naming each dimension of X. A missing trailing batch
    dimension means one observation, as in MATLAB; a vector for features is one observation
    (a row) when it has numFeatures values, else one feature of many observations.
    """
    expected, size = input_format(net)
    layer = net.input_layer() if hasattr(net, "input_layer") else net.layers_view[0]
    return arrange(X, formats, expected, size, what,
                   f"the input layer ({type(layer).__name__})", "InputDataFormats")
