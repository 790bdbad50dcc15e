"""What ONNX export and import share: loading the optional ``onnx`` package, the accepted opsets,
and the layout conversions between minidl (MATLAB) and ONNX.

Layouts (minidl -> ONNX; import applies the inverse):

==========================  ==========================  =========================================
quantity                    minidl (MATLAB)             ONNX
==========================  ==========================  =========================================
image data                  H x W x C x N               N x C x H x W
feature data                C x N ("CB"); raw N x C     N x C
convolution weights         fh x fw x C x F             F x C x fh x fw
padding                     [top bottom left right]     [top left bottom right]
fully connected on images   columns read H, W, C        Flatten reads C, H, W row-major, so the
                            column-major                weight columns are permuted
per-channel statistics      1 x 1 x C                   C x 1 x 1 (broadcasts over N x C x H x W)
per-element statistics      H x W x C                   C x H x W
==========================  ==========================  =========================================
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ...core import dlarray, gather

__all__ = ["require_onnx", "DEFAULT_OPSET", "MIN_OPSET", "MAX_OPSET", "host", "conv_to_onnx",
           "conv_from_onnx", "pads_to_onnx", "pads_from_onnx", "fc_columns_to_onnx",
           "fc_columns_from_onnx", "stat_to_onnx"]

# Opset 13 is the default: Softmax there takes one axis (the channel axis of N x C x H x W works
# directly, before 13 it flattened everything after the axis), it is the first opset where
# every operator the exporter writes has its current form for inference, and runtimes from 2021
# on (onnxruntime >= 1.7, TensorRT 8, OpenVINO 2021) load it. MATLAB's default, 8, is accepted.
DEFAULT_OPSET = 13
MIN_OPSET = 7   # the oldest opset onnxruntime runs (it dropped 6 and earlier)
MAX_OPSET = 21  # the newest opset whose operators the exporter's tests cover


def require_onnx() -> ModuleType:
    """The ``onnx`` package, imported on first use.

    This is the one function-level import of ``onnx`` in minidl: ``import minidl`` must not need
    the optional package (the ``minidl[onnx]`` extra), so the two ONNX functions load it here.
    """
    try:
        import onnx  # optional dependency: loaded only when an ONNX function runs
    except ImportError:
        raise ImportError("ONNX export and import need the 'onnx' package: "
                          "pip install minidl[onnx]  (or pip install onnx)") from None
    return onnx


def check_opset(value: Any) -> int:
    """An accepted OpsetVersion, or a ValueError saying which are accepted."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or not MIN_OPSET <= int(value) <= MAX_OPSET:
        raise ValueError(f"exportONNXNetwork: OpsetVersion must be an integer from {MIN_OPSET} "
                         f"to {MAX_OPSET}, got {value!r}.")
    return int(value)


def host(a: Any) -> np.ndarray:
    """A layer parameter (dlarray, NumPy or CuPy array) as a host float32 NumPy array."""
    if isinstance(a, dlarray):
        a = a.extractdata()
    return np.asarray(gather(a), dtype=np.float32)


# ---- convolution weights and padding ---------------------------------------------------------

def conv_to_onnx(w: np.ndarray) -> np.ndarray:
    """fh x fw x C x F weights as F x C x fh x fw."""
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


def conv_from_onnx(w: np.ndarray) -> np.ndarray:
    """F x C x fh x fw weights as fh x fw x C x F."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def pads_to_onnx(pads: tuple[int, int, int, int]) -> list[int]:
    """MATLAB's [top bottom left right] as ONNX's [top left bottom right]."""
    t, b, l, r = (int(p) for p in pads)
    return [t, l, b, r]


def pads_from_onnx(pads: Any) -> tuple[int, int, int, int]:
    """ONNX's [top left bottom right] as MATLAB's [top bottom left right]."""
    t, l, b, r = (int(p) for p in pads)
    return (t, b, l, r)


def same_pads(in_hw: tuple[int, int], span: tuple[int, int], stride: tuple[int, int],
              upper: bool = True) -> tuple[int, int, int, int]:
    """Explicit [top bottom left right] padding of 'same' (output ceil(in / stride)): the odd
    extra pixel goes to the bottom/right (``upper``, MATLAB's and SAME_UPPER) or top/left."""
    pads: list[int] = []
    for n, e, s in zip(in_hw, span, stride):
        total = max((-(-n // s) - 1) * s + e - n, 0)
        small, big = total // 2, total - total // 2
        pads += [small, big] if upper else [big, small]
    return tuple(pads)


# ---- fully connected weights on image input -------------------------------------------------

def _column_order(chw: tuple[int, int, int], perm: tuple[int, ...] = (0, 1, 2, 3)
                  ) -> np.ndarray:
    """For each ONNX Flatten position (row-major over the data axes, which hold the canonical
    axes ``perm[1:]``: C, H, W unless transposed), the minidl column (column-major over H, W, C,
    i.e. h + H·w + H·W·c) that holds the same element."""
    c, h, w = chw
    sizes = {1: c, 2: h, 3: w}
    grids = np.meshgrid(*[np.arange(sizes[a]) for a in perm[1:]], indexing="ij")
    coord = {a: g for a, g in zip(perm[1:], grids)}
    return (coord[2] + h * coord[3] + h * w * coord[1]).ravel()


def fc_columns_to_onnx(weights: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """O x (H·W·C) weights read H, W, C column-major, reordered for a row-major C, H, W
    Flatten: the weights move, the data keeps ONNX's Flatten."""
    return np.ascontiguousarray(weights[:, _column_order(chw)])


def fc_columns_from_onnx(weights: np.ndarray, chw: tuple[int, int, int],
                         perm: tuple[int, ...] = (0, 1, 2, 3)) -> np.ndarray:
    """The inverse of ``fc_columns_to_onnx``; ``perm``: the data's layout when ONNX flattened
    it ((0, 2, 3, 1) for N x H x W x C)."""
    out = np.empty_like(weights)
    out[:, _column_order(chw, perm)] = weights
    return out


def stat_to_onnx(a: np.ndarray, image: bool) -> np.ndarray:
    """An input-layer statistic (scalar, 1 x 1 x C or H x W x C; C x 1 for features) shaped to
    broadcast against N x C x H x W (or N x C) data: scalar, C x 1 x 1, C x H x W (or C)."""
    if a.ndim == 0:
        return a.reshape(())
    if not image:
        return a.reshape(-1)
    return np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1], -1).transpose(2, 0, 1))
