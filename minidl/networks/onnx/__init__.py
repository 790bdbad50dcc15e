"""ONNX, how networks travel between minidl, MATLAB, PyTorch and deployment runtimes:
``exportONNXNetwork`` writes a dlnetwork as an ONNX file, ``importNetworkFromONNX`` reads one
back as a dlnetwork. docs/onnx.md has the layouts and the operators.

The ``onnx`` package is an optional extra (``pip install minidl[onnx]``), and the code that
speaks it (``export``, ``importer`` and their helpers) is loaded at the first call, so that
``import minidl`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["exportONNXNetwork", "importNetworkFromONNX"]


def exportONNXNetwork(net: Any, filename: Any, *args: Any, **kwargs: Any) -> None:
    """``exportONNXNetwork(net, filename, OpsetVersion=13, NetworkName="Network",
    BatchSize=None)``: write the initialized dlnetwork ``net`` to the ONNX file ``filename``.

    The model's inputs are N x C x H x W (images), N x C (features) or T x N x C (sequences)
    float32, named after the input layers; its outputs are named after the output layers (N x C
    for "CB" results, T x N x C for "CBT"). N is free ("N") unless BatchSize fixes it. LSTM,
    BiLSTM and GRU layers become ONNX LSTM/GRU nodes. OpsetVersion is 7 to 21 (default 13, see
    ``networks.onnx.common``). The file is overwritten atomically. A layer without an ONNX form
    raises a ValueError naming it.
    """
    from .export import exportONNXNetwork as export  # loaded on first use (module docstring)

    return export(net, filename, *args, **kwargs)


def importNetworkFromONNX(filename: Any) -> Any:
    """``net = importNetworkFromONNX(filename)``: the ONNX model in ``filename`` as an
    initialized dlnetwork.

    The network takes MATLAB-layout data (H x W x C x N images, N x numFeatures features) and
    gives what the model gives, "CB" (C x N) for N x C outputs. ONNX inputs N x C x H x W (or
    N x H x W x C followed by a Transpose to N x C x H x W) become an imageInputLayer, N x C a
    featureInputLayer. Malformed files, absurd sizes, external data outside the model's folder
    and operators or attributes minidl cannot express raise a ValueError that names the problem
    (for an operator: its type and node name).
    """
    from .importer import importNetworkFromONNX as read  # loaded on first use (as above)

    return read(filename)
