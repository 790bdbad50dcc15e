"""Naive float64 references for convolution and pooling, written independently of minidl.

Arrays are in MATLAB's canonical order, height x width x channels x observations, and padding is
(top, bottom, left, right). Loops run over observations and output pixels; each window is read
with plain slicing, so the code mirrors the textbook definitions.
"""

from __future__ import annotations

import math

import numpy as np


def same_padding(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """MATLAB "same": output ceil(size / stride); an odd total puts the extra at the end."""
    span = (k - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def conv2d(x, w, b, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1)):
    """Cross-correlation: y[o, p, f, n] = b[f] + sum_{i,j,c} xpad[o*sh + i*dh, p*sw + j*dw, c, n]
    * w[i, j, c, f]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    h, wd, c, n = x.shape
    kh, kw, _, f = w.shape
    t, bo, le, r = pads
    xpad = np.zeros((h + t + bo, wd + le + r, c, n))
    xpad[t:t + h, le:le + wd] = x
    span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    ho = (xpad.shape[0] - span_h) // stride[0] + 1
    wo = (xpad.shape[1] - span_w) // stride[1] + 1
    y = np.zeros((ho, wo, f, n))
    for obs in range(n):
        for o in range(ho):
            for p in range(wo):
                r0, c0 = o * stride[0], p * stride[1]
                patch = xpad[r0:r0 + span_h:dilation[0], c0:c0 + span_w:dilation[1], :, obs]
                y[o, p, :, obs] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    return y + np.asarray(b, np.float64).reshape(1, 1, -1, 1)


def pool2d(x, pool, stride, pads=(0, 0, 0, 0), mode="max", pad_value=0.0):
    """Max or average pooling. Max: padding never wins. Average: padding holds ``pad_value``
    and counts in the mean, or with pad_value "mean" the mean is over the input pixels only."""
    x = np.asarray(x, np.float64)
    h, wd, c, n = x.shape
    t, bo, le, r = pads
    fill = -np.inf if mode == "max" else (0.0 if pad_value == "mean" else float(pad_value))
    xpad = np.full((h + t + bo, wd + le + r, c, n), fill)
    xpad[t:t + h, le:le + wd] = x
    real = np.zeros(xpad.shape[:2])
    real[t:t + h, le:le + wd] = 1
    ho = (xpad.shape[0] - pool[0]) // stride[0] + 1
    wo = (xpad.shape[1] - pool[1]) // stride[1] + 1
    y = np.zeros((ho, wo, c, n))
    for o in range(ho):
        for p in range(wo):
            rows = slice(o * stride[0], o * stride[0] + pool[0])
            cols = slice(p * stride[1], p * stride[1] + pool[1])
            window = xpad[rows, cols]
            if mode == "max":
                y[o, p] = window.max(axis=(0, 1))
            elif pad_value == "mean":
                y[o, p] = window.sum(axis=(0, 1)) / real[rows, cols].sum()
            else:
                y[o, p] = window.mean(axis=(0, 1))
    return y
