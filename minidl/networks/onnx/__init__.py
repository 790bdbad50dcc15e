"""ONNX, how networks travel between minidl, MATLAB, PyTorch and deployment runtimes:
``exportONNXNetwork`` writes a dlnetwork as an ONNX file, ``importNetworkFromONNX`` reads one
back as a dlnetwork. The ``onnx`` package is an optional extra (``pip install minidl[onnx]``),
imported only when one of the two is called. docs/onnx.md has the layouts and the operators."""

from .export import exportONNXNetwork
from .importer import importNetworkFromONNX

__all__ = ["exportONNXNetwork", "importNetworkFromONNX"]
