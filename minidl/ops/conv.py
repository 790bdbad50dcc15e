"""Convolution and pooling over the two spatial dimensions of images: dlconv, maxpool, avgpool.

Inputs are formatted dlarrays "SSCB" (height x width x channels x observations) or "SSC" (one
image); outputs keep the input's format. Every op works on the channels-last (N, H, W, C) view of
the data (``channels_last``), which is the memory order image ops produce, so windows read
contiguous runs of channels, and returns the result as a canonical view of NHWC memory
(``from_channels_last``).

Shared geometry, as in MATLAB: Padding is (top, bottom, left, right); a filter or pool of size k
with dilation d spans ``(k - 1) * d + 1`` pixels; the output size is
``floor((in + pad_before + pad_after - span) / stride) + 1``; "same" padding makes the output
``ceil(in / stride)`` and splits the total padding equally, an odd extra going to the bottom/right.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .._matlab import format_value, mat2str, parse_name_value, to_padding, to_pair
from ..backend import array_module, in_parallel, op_chunks, sum_parts
from ..core import channels_last, dlarray, from_channels_last, is_tracing, record

__all__ = ["dlconv", "maxpool", "avgpool"]

_FORMATS = ("SSCB", "SSC")


# ---- shared helpers -----------------------------------------------------------------------------

def _images(X: Any, fname: str) -> tuple[Any, tuple[int, ...], bool]:
    """The (N, H, W, C) view of X's data, the permutation ``channels_last`` applied, and whether
    X is a single "SSC" image (then N = 1 is a leading axis added here)."""
    if not isinstance(X, dlarray):
        raise TypeError(f"{fname}: X must be a formatted dlarray such as dlarray(x, 'SSCB'), "
                        f"got {type(X).__name__}")
    if X._fmt not in _FORMATS:
        shown = repr(X._fmt) if X._fmt else "none (unformatted)"
        raise ValueError(f"{fname}: X must be a dlarray with format 'SSCB' (height x width x "
                         "channels x observations) or 'SSC' (a single image); got format "
                         f"{shown}. Label the data with dlarray(x, 'SSCB').")
    view, perm = channels_last(X._data, X._fmt)
    single = X._fmt == "SSC"
    return (view[None] if single else view), perm, single


def _to_canonical(a: Any, perm: tuple[int, ...], single: bool) -> Any:
    """An (N, H, W, C) result back to the canonical view of the input's format."""
    return from_channels_last(a[0] if single else a, perm)


def _to_nhwc(g: Any, perm: tuple[int, ...], single: bool) -> Any:
    """A canonical-order gradient as an (N, Ho, Wo, C) view (free for NHWC memory)."""
    g = g.transpose(perm)
    return g[None] if single else g


def _option(fname: str, check: Any, name: str, value: Any) -> Any:
    """Run a _matlab validator, prefixing its message with the function's name. Results for the
    plain values layers pass (ints, tuples of ints, strings) are remembered: validating them was
    a tenth of a millisecond of every training step. Only those values are looked up, so an
    equal value of another type ((True, 1) == (1, 1)) is always validated itself."""
    plain = _plain(value)
    key = (fname, check, name, value)
    if plain and key in _checked:
        return _checked[key]
    try:
        result = check(name, value)
    except ValueError as err:
        raise ValueError(f"{fname}: {err}") from None
    if plain and len(_checked) < 1024:
        _checked[key] = result
    return result


def _plain(value: Any) -> bool:
    """An int, a str or a tuple of ints (exactly those types: not bool, float or NumPy)."""
    return type(value) in (int, str) or (type(value) is tuple
                                         and all(type(v) is int for v in value))


_checked: dict = {}  # (function, validator, option name, value) -> validated value


def _geometry(fname: str, in_hw: tuple[int, int], k: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int], padding: Any, what: str
              ) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """The padding (top, bottom, left, right) and the output size (Ho, Wo)."""
    span = tuple((kk - 1) * d + 1 for kk, d in zip(k, dilation))
    if padding == "same":
        pads: list[int] = []
        for n, e, s in zip(in_hw, span, stride):
            out = -(-n // s)
            total = max((out - 1) * s + e - n, 0)
            pads += [total // 2, total - total // 2]
        padding = tuple(pads)
    padded = (in_hw[0] + padding[0] + padding[1], in_hw[1] + padding[2] + padding[3])
    if span[0] > padded[0] or span[1] > padded[1]:
        spans = "" if dilation == (1, 1) else (
            f", spanning {span[0]}x{span[1]} with DilationFactor {mat2str(list(dilation))}")
        raise ValueError(
            f"{fname}: the {what} {mat2str(list(k))}{spans} is larger than the padded input "
            f"({padded[0]}x{padded[1]}: input {in_hw[0]}x{in_hw[1]} with Padding "
            f"{mat2str(list(padding))}); the {what} must fit: use a smaller {what}, more "
            "Padding or a larger input.")
    out_hw = tuple((p - e) // s + 1 for p, e, s in zip(padded, span, stride))
    return padding, out_hw


def _pad(xp: Any, x: Any, pads: tuple[int, int, int, int], value: float) -> Any:
    """x (N, H, W, C) with ``value`` added around H and W; x itself when there is no padding."""
    t, b, l, r = pads
    if not (t or b or l or r):
        return x
    n, h, w, c = x.shape
    shape = (n, h + t + b, w + l + r, c)
    if math.prod(shape) * x.dtype.itemsize >= 2**62:  # past what any array can hold
        raise ValueError(f"Padding {mat2str(list(pads))} makes the padded input "
                         f"{shape[1]}x{shape[2]} per channel, larger than an array can hold")
    out = xp.zeros(shape, x.dtype) if value == 0 else xp.full(shape, value, dtype=x.dtype)
    out[:, t:t + h, l:l + w, :] = x
    return out


def _windows(xp: Any, x: Any, k: tuple[int, int], out_hw: tuple[int, int],
             stride: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """The (N, Ho, Wo, kh, kw, C) strided view of x (N, H, W, C) in which [n, o, p, i, j, c] is
    x[n, o*sh + i*dh, p*sw + j*dw, c]: every window without copying anything."""
    n, _, _, c = x.shape
    s_n, s_h, s_w, s_c = x.strides
    shape = (n, out_hw[0], out_hw[1], k[0], k[1], c)
    strides = (s_n, s_h * stride[0], s_w * stride[1], s_h * dilation[0], s_w * dilation[1], s_c)
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


def _patch_rows(xp: Any, block: Any, shape: tuple) -> Any:
    """The (N, Ho, Wo, kh, kw, C) view of the first kh*kw*C columns of patch rows ``block``
    (N*Ho*Wo, kh*kw*C [+ 1]), to write patches into. Made with explicit strides: a reshape of a
    column slice may legally return a copy, and writes into a copy would be lost."""
    s_row, s_col = block.strides
    n, ho, wo, kh, kw, c = shape
    strides = (ho * wo * s_row, wo * s_row, s_row, kw * c * s_col, c * s_col, s_col)
    return xp.lib.stride_tricks.as_strided(block, shape, strides)


def _offset(i: int, j: int, out_hw: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> tuple:
    """Index of the (N, Ho, Wo, C) slice of the padded input seen at kernel offset (i, j)."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(r0, r0 + (out_hw[0] - 1) * stride[0] + 1, stride[0]),
            slice(c0, c0 + (out_hw[1] - 1) * stride[1] + 1, stride[1]), slice(None))


def _col2im_buffer(xp: Any, in_shape: tuple[int, ...], pads: tuple[int, int, int, int],
                   wo: int, dtype: Any) -> Any:
    """The zeroed (N, Hp, Wp, C) buffer ``_col2im`` adds into: NHWC memory, or for fewer
    channels than output columns an NHWC view of (C, N, Hp, Wp) memory (see ``_col2im``)."""
    n, h, w, c = in_shape
    t, b, l, r = pads
    if c >= wo:
        return xp.zeros((n, h + t + b, w + l + r, c), dtype)
    return xp.zeros((c, n, h + t + b, w + l + r), dtype).transpose(1, 2, 3, 0)


def _col2im(xp: Any, g2: Any, w2: Any, dxp: Any, out_hw: tuple[int, int], k: tuple[int, int],
            stride: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Add dX of a convolution to the padded buffer ``dxp`` (N, Hp, Wp, C) from
    ``_col2im_buffer``: the patch gradients dY @ W^T, each added back onto the pixels its patch
    came from (one strided add per kernel offset)."""
    n, _, _, c = dxp.shape
    (ho, wo), (kh, kw) = out_hw, k
    if c >= wo:
        # Runs of C channels are the longer contiguous runs: patch gradients (N*Ho*Wo, kh*kw*C)
        # and an NHWC buffer.
        dcols = (g2 @ w2.T).reshape(n, ho, wo, kh, kw, c)

        def patch(i: int, j: int) -> Any:
            return dcols[:, :, :, i, j, :]
    else:
        # Few channels (a first layer's 3): the transposed GEMM W2 @ dY^T gives (kh, kw, C, N, Ho,
        # Wo) blocks, added to a (C, N, H, W) buffer, so the adds run along rows of Wo pixels
        # instead of C channels (5x faster for 3 channels).
        dcols = (w2 @ g2.T).reshape(kh, kw, c, n, ho, wo)

        def patch(i: int, j: int) -> Any:
            return dcols[i, j].transpose(1, 2, 3, 0)
    for i in range(kh):
        for j in range(kw):
            dxp[_offset(i, j, out_hw, stride, dilation)] += patch(i, j)


def _raw_array(a: Any, like: Any, name: str = "dlconv: argument") -> Any:
    """A non-dlarray argument (array, list, number) as a numeric array of ``like``'s dtype;
    what cannot be one is an error naming the argument."""
    try:
        data = dlarray(a)._data
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from None
    return data.astype(like.dtype) if data.dtype != like.dtype else data


# ---- convolution --------------------------------------------------------------------------------

def dlconv(X: dlarray, weights: Any, bias: Any, *args: Any, **kwargs: Any) -> dlarray:
    """2-D convolution (cross-correlation, no kernel flip) of "SSCB" images, MATLAB's ``dlconv``.

    ``Y = dlconv(X, weights, bias, Stride=1, Padding=0, DilationFactor=1)``; MATLAB-style pairs
    ``dlconv(X, W, b, "Stride", 2)`` work too and names are case-insensitive.

    Shapes: X is H x W x C x N ("SSCB") or H x W x C ("SSC"); weights is fh x fw x C x F (a dlarray
    or a plain array, unformatted); bias has F elements in any shape (or is one number, added to
    every output); the scalar 0 means no bias. Y is Ho x Wo x F x N with X's format.
    Stride and DilationFactor: a positive integer or [h w]. Padding: p, [ph pw] (top/bottom,
    left/right), [t b l r] or "same" (output ceil(in / stride); see the module docstring).

    Forward:  Y[o, p, f, n] = b[f] + sum_{i,j,c} Xpad[o*sh + i*dh, p*sw + j*dw, c, n] W[i,j,c,f],
    computed as one GEMM: patches (N*Ho*Wo, fh*fw*C) @ W.reshape(fh*fw*C, F).
    Backward: dW = patches^T @ dY, db = sum of dY over pixels and observations,
    dX = col2im(dY @ W^T) (each patch gradient added back where the patch came from).
    """
    opts = parse_name_value(args, kwargs, {"Stride": 1, "Padding": 0, "DilationFactor": 1},
                            "dlconv")
    stride = _option("dlconv", to_pair, "Stride", opts["Stride"])
    dilation = _option("dlconv", to_pair, "DilationFactor", opts["DilationFactor"])
    padding = _option("dlconv", to_padding, "Padding", opts["Padding"])
    x, perm, single = _images(X, "dlconv")
    wd, w4 = _filter_bank(weights, x)
    w_shape = tuple(wd.shape)
    n, h, w, c = x.shape
    kh, kw, _, f = w4.shape
    bd, b_shape = _bias(bias, f, x)
    xp = array_module(x, wd, bd)
    pads, (ho, wo) = _geometry("dlconv", (h, w), (kh, kw), stride, dilation, padding, "filter")

    # im2col: a strided window view (no copy) copied into the patch matrix, columns in
    # (fh, fw, C) order so the C-order reshape of the fh x fw x C x F weights matches; then one
    # GEMM whose rows are already (N, Ho, Wo): the result is NHWC. Both are done per chunk of
    # observations, the chunks on several threads (backend.threads).
    windows = _windows(xp, _pad(xp, x, pads, 0), (kh, kw), (ho, wo), stride, dilation)
    K, rows_per = kh * kw * c, ho * wo
    # X's dtype, as in fullyconnect: float64 weights or bias do not promote float32 data
    dtype = x.dtype
    w2 = w4.reshape(K, f).astype(dtype, copy=False)
    # A bias of one value per filter rides in the GEMM: the patch matrix gets a last column of
    # ones and the weights the bias as a last row, which saves a pass over Y, and in backward
    # the product that gives dW also gives db (its last row). Other biases are added after.
    fold = bd is not None and not isinstance(bd, float) and bd.size == f
    wk = xp.concatenate([w2, bd.reshape(1, f).astype(dtype, copy=False)]) if fold else w2
    # otherwise the bias is None or one number for every output (a float or 1 element)
    b_scalar = None if fold or bd is None else xp.asarray(bd, dtype=dtype).reshape(())
    cols = xp.empty((n * rows_per, K + fold), x.dtype)
    y = xp.empty((n * rows_per, f), dtype)

    def chunk(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds[0] * rows_per, bounds[1] * rows_per
        _patch_rows(xp, cols[r0:r1], (bounds[1] - bounds[0], ho, wo, kh, kw, c))[...] = \
            windows[bounds[0]:bounds[1]]
        if fold:
            cols[r0:r1, K] = 1
        xp.matmul(cols[r0:r1], wk, out=y[r0:r1])
        if b_scalar is not None:
            y[r0:r1] += b_scalar

    in_parallel(chunk, op_chunks(n, cols.size, xp))
    out = _to_canonical(y.reshape(n, ho, wo, f), perm, single)

    # The patch matrix is kept only when dW (or a folded db) can be asked for; without tracing
    # record drops this closure, so prediction keeps nothing.
    traced = [isinstance(v, dlarray) and v._node is not None for v in (weights, bias)]
    keep_cols = cols if traced[0] or (fold and traced[1]) else None
    x_dtype, w_dtype = x.dtype, wd.dtype
    b_dtype = getattr(bd, "dtype", None)

    def backward(gy: Any, needs: tuple) -> tuple:
        g2 = _to_nhwc(gy, perm, single).reshape(n * ho * wo, f)
        dxp = _col2im_buffer(xp, (n, h, w, c), pads, wo, g2.dtype) if needs[0] else None

        def chunk(bounds: tuple[int, int]) -> tuple:
            """dX added to its rows of dxp; this chunk's (dW, db) terms."""
            r0, r1 = bounds[0] * rows_per, bounds[1] * rows_per
            g, dw, db = g2[r0:r1], None, None
            if needs[0]:  # never computed for a first layer, whose input needs no gradient
                _col2im(xp, g, w2, dxp[bounds[0]:bounds[1]], (ho, wo), (kh, kw), stride,
                        dilation)
            if needs[1] or (needs[2] and fold):
                # (dY^T @ patches)^T: the same product, 10-20% faster in OpenBLAS than
                # patches^T @ dY (whose transposed operand is the tall patch matrix).
                dw = (g.T @ keep_cols[r0:r1]).T
                db, dw = (dw[K] if fold else None), (dw[:K] if needs[1] else None)
            if needs[2] and not fold:
                db = g.sum()  # a scalar bias (a float is not differentiated)
            return dw, db

        terms = in_parallel(chunk, op_chunks(n, keep_cols.size if needs[1] else g2.size, xp))
        dx = dw = db = None
        if needs[0]:
            t, _, l, _ = pads
            dx = _to_canonical(dxp[:, t:t + h, l:l + w, :], perm, single)
            dx = dx.astype(x_dtype, copy=False)
        if needs[1]:
            dw = sum_parts([d for d, _ in terms]).reshape(w_shape).astype(w_dtype, copy=False)
        if needs[2]:
            db = sum_parts([d for _, d in terms]).reshape(b_shape).astype(b_dtype, copy=False)
        return dx, dw, db

    return record(out, X._fmt, (X, weights, bias), backward)


def _filter_bank(weights: Any, x: Any) -> tuple[Any, Any]:
    """The weights' raw data and its fh x fw x C x F view (MATLAB drops trailing singleton
    sizes, so 2-D and 3-D weights are one filter or one channel), checked against the
    channels of x (N x H x W x C)."""
    wd = weights._data if isinstance(weights, dlarray) else _raw_array(weights, x,
                                                                       "dlconv: weights")
    if not 2 <= wd.ndim <= 4:
        raise ValueError("dlconv: weights must be a filterHeight x filterWidth x numChannels x "
                         f"numFilters array, got size {mat2str(list(wd.shape))}")
    w4 = wd.reshape(tuple(wd.shape) + (1,) * (4 - wd.ndim))
    kh, kw, wc, f = w4.shape
    if wc != x.shape[3]:
        raise ValueError(f"dlconv: the input X has {x.shape[3]} channels but the weights expect "
                         f"{wc} (weights are {kh}x{kw}x{wc}x{f}: filterHeight x filterWidth x "
                         "numChannels x numFilters); the third weights size must equal the "
                         "number of channels of X")
    return wd, w4


def _bias(bias: Any, f: int, x: Any) -> tuple[Any, tuple[int, ...]]:
    """The bias as None (no bias), a Python float (one number for every output) or an array of F
    or 1 elements, and its own shape."""
    if bias is None:
        return None, ()
    if not isinstance(bias, dlarray) and isinstance(bias, numbers.Real) \
            and not isinstance(bias, bool):
        # MATLAB's 0 means "no bias": nothing to add and nothing to differentiate.
        return (float(bias) if bias != 0 else None), ()
    bd = bias._data if isinstance(bias, dlarray) else _raw_array(bias, x, "dlconv: bias")
    if bd.size not in (f, 1):
        raise ValueError(f"dlconv: bias must have {f} elements (one per filter, numFilters = "
                         f"{f}) or be a scalar (0 for no bias), got {bd.size} elements of size "
                         f"{mat2str(list(bd.shape))}")
    return bd, tuple(bd.shape)


# ---- pooling ------------------------------------------------------------------------------------

def _pool_setup(fname: str, X: Any, poolsize: Any, opts: dict) -> tuple:
    """Validate a pooling call; returns x (NHWC), perm, single, pool, stride, pads, (Ho, Wo)."""
    x, perm, single = _images(X, fname)
    n, h, w, c = x.shape
    if isinstance(poolsize, str):
        if poolsize.lower() != "global":
            raise ValueError(f"{fname}: poolsize must be a positive integer, a vector of 2 "
                             f"positive integers or 'global', got {format_value(poolsize)}.")
        pool = (h, w)
    else:
        pool = _option(fname, to_pair, "poolsize", poolsize)
    stride = _option(fname, to_pair, "Stride", opts["Stride"])
    padding = _option(fname, to_padding, "Padding", opts["Padding"])
    if padding != "same" and (max(padding[:2]) >= pool[0] or max(padding[2:]) >= pool[1]):
        raise ValueError(f"{fname}: Padding {mat2str(list(padding))} must be smaller than the "
                         f"pool size {mat2str(list(pool))} (top/bottom padding < pool height, "
                         "left/right padding < pool width), so that every window holds data.")
    pads, out_hw = _geometry(fname, (h, w), pool, stride, (1, 1), padding, "pool size")
    return x, perm, single, pool, stride, pads, out_hw


def _is_tiling(pool: tuple, stride: tuple, pads: tuple) -> bool:
    """Non-overlapping, unpadded windows: the reshape fast path applies."""
    return stride == pool and not any(pads)


def _index_dtype(xp: Any, count: int) -> Any:
    return xp.int8 if count <= 127 else xp.int32


def _first_max(xp: Any, better: Any, k: int, index: Any, count: int) -> Any:
    """Update the running index of the window maximum among ``count`` candidates: k where
    ``better`` (strictly larger, so the first of equal maxima is kept), else unchanged.

    Offsets come in increasing k, so the update is ``maximum(index, better * k)``: ten times
    faster than ``where(better, k, index)`` (NumPy's where is slow on unpredictable masks)."""
    if index is None:  # k == 1: the index so far is 0 everywhere
        return better if count == 2 else better.astype(_index_dtype(xp, count))
    return xp.maximum(index, better * index.dtype.type(k))


def _fold(xp: Any, fn: Any, x: Any, pool: tuple, out_hw: tuple, track: bool = False,
          dest: Any = None) -> tuple:
    """Reduce the disjoint ph x pw windows of x (N, H, W, C) with the elementwise ``fn``.

    Fast path: reshape (a free view) to (N, Ho, ph, Wo*pw*C) and fold the ph rows, then to
    (N, Ho, Wo, pw, C) and fold the pw columns; elementwise ops over whole rows are about 5x
    faster than ``max(axis=(2, 4))`` on the 6-D view, whose inner loops are only C long.
    With ``track`` (max pooling under tracing) also returns which row won in every column
    (N, Ho, Wo*pw*C) and which column won (N, Ho, Wo, C), each the first on ties, so the first
    maximum in column-major (MATLAB) order wins. The result goes to ``dest`` (N, Ho, Wo, C) when
    given.
    """
    n, _, _, c = x.shape
    (ph, pw), (ho, wo) = pool, out_hw
    x = x[:, :ho * ph, :wo * pw, :]  # floor: rows and columns of no full window are dropped
    rows = x.reshape(n, ho, ph, wo * pw * c)
    acc, row_index = rows[:, :, 0], None
    for i in range(1, ph):
        if track:
            row_index = _first_max(xp, rows[:, :, i] > acc, i, row_index, ph)
        acc = fn(acc, rows[:, :, i])
    cols = acc.reshape(n, ho, wo, pw, c)
    out, col_index = cols[:, :, :, 0], None
    for j in range(1, pw):
        if track:
            col_index = _first_max(xp, cols[:, :, :, j] > out, j, col_index, pw)
        out = fn(out, cols[:, :, :, j], out=dest if j == pw - 1 else None)
    if dest is not None and pw == 1:
        dest[...] = out
        out = dest
    return (out if ph * pw > 1 or dest is not None else out.copy()), row_index, col_index


def _unfold_max(xp: Any, g: Any, row_index: Any, col_index: Any, pool: tuple,
                in_shape: tuple, dest: Any = None) -> Any:
    """Backward of the max-pooling fast path: route each dY (N, Ho, Wo, C) to its window's
    winner, first across the pw columns, then down the ph rows, writing each (N, Ho, ph, Wo*pw*C)
    block of the NHWC result once. Masks multiply (``g * mask``) rather than ``where``, which is
    about ten times slower in NumPy. The result goes to ``dest`` (of ``in_shape``) when given."""
    n, h, w, c = in_shape
    (ph, pw), (_, ho, wo, _) = pool, g.shape
    covered = h == ho * ph and w == wo * pw  # every pixel is in a window: dest is the last block
    if col_index is not None:
        spread = xp.empty((n, ho, wo, pw, c), g.dtype)
        _route(xp, g, col_index, [spread[:, :, :, j] for j in range(pw)])
        g = spread
    g = g.reshape(n, ho, 1, wo * pw * c)
    if row_index is not None:
        spread = dest.reshape(n, ho, ph, wo * pw * c) if dest is not None and covered else \
            xp.empty((n, ho, ph, wo * pw * c), g.dtype)
        _route(xp, g[:, :, 0], row_index, [spread[:, :, i] for i in range(ph)])
        if dest is not None and covered:
            return dest
        g = spread
    dx = _fill(xp, g.reshape(n, ho * ph, wo * pw, c), in_shape)
    if dest is None:
        return dx
    dest[...] = dx
    return dest


def _route(xp: Any, g: Any, index: Any, outs: list) -> None:
    """outs[k] = g where ``index`` is k, else 0. For two candidates ``index`` is the boolean
    "the second won", and outs are g·index and g − g·index (exact: g − g = 0, g − 0 = g), which
    for finite g saves a comparison and a multiply over ``g * (index == k)`` for each k."""
    if len(outs) == 2 and index.dtype == bool:
        xp.multiply(g, index, out=outs[1])
        xp.subtract(g, outs[1], out=outs[0])
        return
    for k, out in enumerate(outs):
        xp.multiply(g, index == k, out=out)


def _fill(xp: Any, d: Any, in_shape: tuple) -> Any:
    """d (N, Ho*ph, Wo*pw, C) as the (N, H, W, C) gradient: zeros for the rows and columns that
    no window covered (when H or W is not a multiple of the pool)."""
    if tuple(d.shape) == tuple(in_shape):
        return d
    out = xp.zeros(in_shape, d.dtype)
    out[:, :d.shape[1], :d.shape[2], :] = d
    return out


def _slide(xp: Any, fn: Any, xpad: Any, pool: tuple, stride: tuple, out_hw: tuple,
           track: bool = False) -> tuple:
    """Reduce overlapping or padded windows with ``fn``: one elementwise op per pool offset, each
    over the strided (N, Ho, Wo, C) slice that offset sees (no patch matrix is built). Offsets
    go in column-major order; with ``track`` also returns, per window, the position in that order
    of the first maximum (the MATLAB linear index within the window, 0-based)."""
    order = _window_order(pool)
    out, index = xpad[_offset(*order[0], out_hw, stride)].copy(), None
    for k, (i, j) in enumerate(order[1:], 1):
        part = xpad[_offset(i, j, out_hw, stride)]
        if track:
            index = _first_max(xp, part > out, k, index, len(order))
        out = fn(out, part)
    return out, index


def _window_order(pool: tuple) -> list[tuple[int, int]]:
    """Pool offsets (i, j) in MATLAB's column-major order: down the rows, then across."""
    return [(i, j) for j in range(pool[1]) for i in range(pool[0])]


def maxpool(X: dlarray, poolsize: Any, *args: Any, **kwargs: Any) -> dlarray:
    """Maximum over pooling windows of "SSCB" images, MATLAB's ``maxpool``.

    ``Y = maxpool(X, poolsize, Stride=1, Padding=0)`` or ``maxpool(X, "global")`` (one window
    covering all of H x W); MATLAB-style pairs ``maxpool(X, 2, "Stride", 2)`` work too.
    poolsize and Stride: a positive integer or [h w]; Padding as in dlconv (p, [a b], [t b l r] or
    "same"), each side smaller than the pool; padded pixels never win (they act as -Inf).

    Default Stride: 1, as MATLAB's (and maxPooling2dLayer's), so windows overlap: a 2x2 pool
    turns 6x6 into 5x5. Pass Stride=poolsize for the non-overlapping windows that PyTorch's
    default gives.

    Shapes: X is H x W x C x N ("SSCB") or H x W x C ("SSC"); Y is Ho x Wo x C x N, X's format.
    Forward:  Y[o, p, c, n] = max_{i, j} Xpad[o*sh + i, p*sw + j, c, n].
    Backward: each dY goes to the element that was the maximum of its window; on ties only the
    first maximum in MATLAB's column-major order (down the rows, then across) gets it.
    Overlapping windows accumulate.
    """
    opts = parse_name_value(args, kwargs, {"Stride": 1, "Padding": 0}, "maxpool")
    x, perm, single, pool, stride, pads, out_hw = _pool_setup("maxpool", X, poolsize, opts)
    xp = array_module(x)
    # The winners' positions are worked out only when a gradient can be asked for.
    track = is_tracing() and X._node is not None
    in_shape = tuple(x.shape)
    if _is_tiling(pool, stride, pads):
        # split over the observations to run on several threads (backend.threads)
        chunks = op_chunks(in_shape[0], x.size, xp)
        y = xp.empty((in_shape[0], *out_hw, in_shape[3]), x.dtype) if len(chunks) > 1 else None
        parts = in_parallel(lambda b: _fold(xp, xp.maximum, x[b[0]:b[1]], pool, out_hw, track,
                                            None if y is None else y[b[0]:b[1]]), chunks)
        y = parts[0][0] if y is None else y

        def backward(gy: Any, needs: tuple) -> tuple:
            g = _to_nhwc(gy, perm, single)
            if len(chunks) == 1:
                _, row_index, col_index = parts[0]
                dx = _unfold_max(xp, g, row_index, col_index, pool, in_shape)
            else:
                dx = xp.empty(in_shape, g.dtype)
                in_parallel(lambda k: _unfold_max(
                    xp, g[chunks[k][0]:chunks[k][1]], parts[k][1], parts[k][2], pool,
                    (chunks[k][1] - chunks[k][0], *in_shape[1:]),
                    dx[chunks[k][0]:chunks[k][1]]), range(len(chunks)))
            return (_to_canonical(dx, perm, single),)
    else:
        xpad = _pad(xp, x, pads, -xp.inf)
        y, index = _slide(xp, xp.maximum, xpad, pool, stride, out_hw, track)
        padded_shape = tuple(xpad.shape)

        def backward(gy: Any, needs: tuple) -> tuple:
            g = _to_nhwc(gy, perm, single)
            dxp = xp.zeros(padded_shape, g.dtype)
            disjoint = stride[0] >= pool[0] and stride[1] >= pool[1]
            for k, (i, j) in enumerate(_window_order(pool)):  # one strided pass per offset
                at = _offset(i, j, out_hw, stride)
                part = g if index is None else g * (index == k)
                if disjoint:  # each pixel is in at most one window: write, don't accumulate
                    dxp[at] = part
                else:
                    dxp[at] += part
            return (_unpad_to_canonical(dxp, pads, in_shape, perm, single),)

    return record(_to_canonical(y, perm, single), X._fmt, (X,), backward)


def avgpool(X: dlarray, poolsize: Any, *args: Any, **kwargs: Any) -> dlarray:
    """Mean over pooling windows of "SSCB" images, MATLAB's ``avgpool``.

    ``Y = avgpool(X, poolsize, Stride=1, Padding=0, PaddingValue=0)`` or
    ``avgpool(X, "global")``; MATLAB-style pairs work too. Options as in ``maxpool`` (including
    the default Stride, 1; see there). PaddingValue: a number (default 0, so padded
    zeros count in the mean, as MATLAB does) or "mean" (padding is left out of the mean: each
    window is averaged over the input pixels it holds).

    Shapes: X is H x W x C x N ("SSCB") or H x W x C ("SSC"); Y is Ho x Wo x C x N, X's format.
    Forward:  Y[o, p, c, n] = sum_{i, j} Xpad[o*sh + i, p*sw + j, c, n] / count, where count is
    ph*pw (or, for "mean", the number of input pixels in the window).
    Backward: dX[pixel] = sum over the windows holding the pixel of dY / count.
    """
    opts = parse_name_value(args, kwargs, {"Stride": 1, "Padding": 0, "PaddingValue": 0},
                            "avgpool")
    value = opts["PaddingValue"]
    exclude = isinstance(value, str) and value.lower() == "mean"
    if not exclude and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                            and abs(float(value)) != float("inf") and value == value):
        raise ValueError("avgpool: PaddingValue must be a finite number (default 0) or 'mean', "
                         f"got {format_value(value)}.")
    x, perm, single, pool, stride, pads, out_hw = _pool_setup("avgpool", X, poolsize, opts)
    xp = array_module(x)
    in_shape = tuple(x.shape)
    (ph, pw), (ho, wo) = pool, out_hw
    tiling = _is_tiling(pool, stride, pads)
    if tiling:
        y = _fold(xp, xp.add, x, pool, out_hw)[0]
    else:
        y = _slide(xp, xp.add, _pad(xp, x, pads, 0 if exclude else value), pool, stride,
                   out_hw)[0]
    # scale is 1 / count: a Python number (keeps float32) or, for "mean" with padding, an
    # (1, Ho, Wo, 1) array of 1 / (input pixels in each window).
    scale = 1.0 / (ph * pw)
    if exclude and any(pads):
        scale = _inverse_counts(xp, in_shape[1:3], pool, stride, pads, out_hw, x.dtype)
    y *= scale
    padded_shape = (in_shape[0], in_shape[1] + pads[0] + pads[1],
                    in_shape[2] + pads[2] + pads[3], in_shape[3])

    def backward(gy: Any, needs: tuple) -> tuple:
        gs = _to_nhwc(gy, perm, single) * scale
        n, c = in_shape[0], in_shape[3]
        if tiling:  # every window pixel gets dY / count: one broadcast copy, already NHWC
            d = xp.broadcast_to(gs[:, :, None, :, None, :], (n, ho, ph, wo, pw, c))
            return (_to_canonical(_fill(xp, d.reshape(n, ho * ph, wo * pw, c), in_shape),
                                  perm, single),)
        dxp = xp.zeros(padded_shape, gs.dtype)
        disjoint = stride[0] >= ph and stride[1] >= pw
        for i in range(ph):  # one strided write (or add) per pool offset
            for j in range(pw):
                at = _offset(i, j, out_hw, stride)
                if disjoint:
                    dxp[at] = gs
                else:
                    dxp[at] += gs
        return (_unpad_to_canonical(dxp, pads, in_shape, perm, single),)

    return record(_to_canonical(y, perm, single), X._fmt, (X,), backward)


def _inverse_counts(xp: Any, in_hw: tuple, pool: tuple, stride: tuple, pads: tuple,
                    out_hw: tuple, dtype: Any) -> Any:
    """1 / (number of input, not padding, pixels in each window), shaped (1, Ho, Wo, 1)."""
    counts = []
    for n, k, s, before, o in zip(in_hw, pool, stride, pads[::2], out_hw):
        start = xp.arange(o) * s - before  # window start in input coordinates
        counts.append(xp.minimum(start + k, n) - xp.maximum(start, 0))
    total = counts[0][:, None] * counts[1][None, :]
    return (1.0 / total).astype(dtype)[None, :, :, None]


def _unpad_to_canonical(dxp: Any, pads: tuple, in_shape: tuple, perm: tuple,
                        single: bool) -> Any:
    """Crop the padding off an (N, Hp, Wp, C) gradient and return it in canonical order."""
    t, _, l, _ = pads
    dx = dxp[:, t:t + in_shape[1], l:l + in_shape[2], :]
    return _to_canonical(dx, perm, single)
