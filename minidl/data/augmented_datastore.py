"""Images resized or cropped to a network's input, optionally augmented: MATLAB's
augmentedImageDatastore.

``augmentedImageDatastore(outputSize, imds_or_X, Y, DataAugmentation=aug)`` resizes or crops a
data set to the network's input size and, in training, transforms every image differently each
epoch (with an imageDataAugmenter, minidl/data/augment.py).

What MATLAB does, as its documentation describes it (MathWorks reference pages for
augmentedImageDatastore; the R2017b-era source of the class, found in the code index; a MATLAB
Answers thread on OutputSizeMode; all read through the search tool and paraphrased here):
augmentedImageDatastore(outputSize, imds | X, Y): per image, ColorPreprocessing ("none",
"gray2rgb" replicates a single channel, "rgb2gray" uses rgb2gray's luma weights) then the
augmentation (at the source size) then OutputSizeMode: "resize" (bilinear, the default),
"centercrop" or "randcrop" (a crop needs images at least OutputSize large). Properties:
NumObservations, MiniBatchSize 128, DataAugmentation "none", ColorPreprocessing "none",
OutputSize, OutputSizeMode "resize", DispatchInBackground false. In training it perturbs the
data anew every epoch.

What minidl does differently, and why:

* `read`, `readall`, `read_batch` (minibatchqueue) augment, as MATLAB's reads do. `read_all`
  (how trainnet, minibatchpredict and testnet read any datastore) does not: it gives the
  resized or centre-cropped images once, so validation, testing and prediction are never
  augmented. trainnet augments each training mini-batch instead through `augment_batch`:
  for an array source it reads the batch's images from the source and follows MATLAB's order
  exactly; for an imageDatastore (files not kept in memory) it works at the output size: for
  "resize" the transform is conjugated by the resize scale, so translations stay in source
  pixels and the geometry equals MATLAB's augment-then-resize up to resampling; "randcrop" is
  the centre crop moved by a random crop offset (pixels beyond the centre crop become
  FillValue). With images already at OutputSize both paths are MATLAB's exactly.
* Tables, DispatchInBackground=true, partitionByIndex and preview are not provided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._matlab import (
    check_choice,
    check_flag,
    check_positive_int,
    format_properties,
    format_value,
    is_int,
    parse_name_value,
)
from ..backend import array_module, generator, permutation, to_module
from ..core import dlarray
from .augment import IDENTITY_PARAMS, ImageDataAugmenter, warp
from .datastore import ImageDatastore, partition_of, read_image
from .image import resize

__all__ = ["AugmentedImageDatastore", "augmentedImageDatastore"]

_RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)  # rgb2gray's weights


# ---- cropping and colour ----------------------------------------------------------------------
def _crop_offsets(size: int, out: int, u: np.ndarray | None) -> np.ndarray:
    """Top (or left) crop offsets: centred (u None) or floor((size - out) * u), as MATLAB."""
    if u is None:
        return np.full(1, (size - out) // 2)
    return np.floor((size - out) * u).astype(np.int64)


def _crop(X: Any, height: int, width: int, random: bool) -> Any:
    """Centre or random (one offset per image) crop of H x W x C x N to height x width."""
    H, W, _, N = X.shape
    if H < height or W < width:
        raise ValueError(f"OutputSizeMode 'centercrop' and 'randcrop' need images at least "
                         f"OutputSize [{height} {width}], got {H}x{W}")
    if not random:
        top, left = (H - height) // 2, (W - width) // 2
        return X[top:top + height, left:left + width]
    g = generator()
    top, left = _crop_offsets(H, height, g.random(N)), _crop_offsets(W, width, g.random(N))
    xp = array_module(X)
    rows = to_module(top[:, None] + np.arange(height), xp)[:, :, None]
    cols = to_module(left[:, None] + np.arange(width), xp)[:, None, :]
    n = xp.arange(N)[:, None, None]
    return xp.transpose(xp.transpose(X, (3, 0, 1, 2))[n, rows, cols], (1, 2, 3, 0))


def _color(X: Any, mode: str) -> Any:
    """ColorPreprocessing of an H x W x C x N batch: gray2rgb repeats one channel, rgb2gray
    takes rgb2gray's weighted sum of three; other channel counts are left as they are."""
    xp = array_module(X)
    if mode == "gray2rgb" and X.shape[2] == 1:
        return xp.repeat(X, 3, axis=2)
    if mode == "rgb2gray" and X.shape[2] == 3:
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        weights = to_module(np.asarray(_RGB2GRAY, dtype=dtype), xp)
        return xp.tensordot(X.astype(dtype), weights, axes=(2, 0))[:, :, None, :]
    return X


# ---- augmentedImageDatastore -----------------------------------------------------------------
_DS_DEFAULTS: dict[str, Any] = {
    "DataAugmentation": "none", "ColorPreprocessing": "none", "OutputSizeMode": "resize",
    "DispatchInBackground": False, "MiniBatchSize": 128,
}


class AugmentedImageDatastore:
    """Images resized or cropped to OutputSize, optionally augmented (MATLAB's
    augmentedImageDatastore); create it with `augmentedImageDatastore`.

    The source is an imageDatastore (read lazily, its Labels as responses) or an
    H x W x C x N array (NumPy or CuPy, kept as given) with optional responses Y.
    """

    def __init__(self, output_size: tuple[int, int], source: Any, responses: Any,
                 settings: dict[str, Any], order: np.ndarray | None = None) -> None:
        self.OutputSize = output_size
        self._source, self._responses = source, responses
        self.DataAugmentation = settings["DataAugmentation"]
        self.ColorPreprocessing = settings["ColorPreprocessing"]
        self.OutputSizeMode = settings["OutputSizeMode"]
        self.DispatchInBackground = False
        self.MiniBatchSize = settings["MiniBatchSize"]
        n = len(source.Files) if isinstance(source, ImageDatastore) else source.shape[3]
        self._order = np.arange(n) if order is None else order
        self._position = 0
        self._source_hw: np.ndarray | None = None  # per observation, set by read_all for imds

    @property
    def MiniBatchSize(self) -> int:
        """Observations per `read` (default 128)."""
        return self._mini_batch_size

    @MiniBatchSize.setter
    def MiniBatchSize(self, value: int) -> None:
        self._mini_batch_size = check_positive_int("MiniBatchSize", value)

    @property
    def NumObservations(self) -> int:
        """Number of images."""
        return int(self._order.size)

    def __len__(self) -> int:
        return self.NumObservations

    def __repr__(self) -> str:
        aug = self.DataAugmentation
        return format_properties("augmentedImageDatastore", [(None, [
            ("NumObservations", format_value(self.NumObservations)),
            ("MiniBatchSize", format_value(self.MiniBatchSize)),
            ("DataAugmentation", format_value(aug) if isinstance(aug, str)
             else "[1×1 imageDataAugmenter]"),
            ("ColorPreprocessing", format_value(self.ColorPreprocessing)),
            ("OutputSize", format_value(list(self.OutputSize))),
            ("OutputSizeMode", format_value(self.OutputSizeMode)),
            ("DispatchInBackground", format_value(self.DispatchInBackground)),
        ])])

    # ---- the pipeline ----------------------------------------------------------------------
    @property
    def _augmenter(self) -> ImageDataAugmenter | None:
        aug = self.DataAugmentation
        return None if isinstance(aug, str) or aug.is_identity else aug

    def _prepare(self, X: Any, augment: bool) -> Any:
        """Colour, then (optionally) augmentation, then resize or crop: MATLAB's order."""
        X = _color(X, self.ColorPreprocessing)
        if augment and self._augmenter is not None:
            X = self._augmenter.augment(X)
        height, width = self.OutputSize
        if X.shape[:2] == (height, width):
            return X
        if self.OutputSizeMode == "resize":
            return resize(X, height, width)
        return _crop(X, height, width, random=augment and self.OutputSizeMode == "randcrop")

    def _images(self, positions: np.ndarray, augment: bool,
                record_sizes: bool = False) -> Any:
        """The observations at `positions` of the current order, prepared: h x w x c x n."""
        items = self._order[positions]
        if not isinstance(self._source, ImageDatastore):
            xp = array_module(self._source)
            return self._prepare(xp.take(self._source, to_module(items, xp), axis=3), augment)
        raw = [read_image(self._source.Files[i])[..., None] for i in items.tolist()]
        if record_sizes:
            self._source_hw = np.array([im.shape[:2] for im in raw], dtype=np.int64).reshape(-1, 2)
        images = [self._prepare(im, augment) for im in raw]  # sizes differ: one at a time
        if not images:
            channels = {"gray2rgb": 3, "rgb2gray": 1}.get(self.ColorPreprocessing, 1)
            return np.zeros((*self.OutputSize, channels, 0), dtype=np.float32)
        if len({im.shape[2] for im in images}) > 1:
            raise ValueError("augmentedImageDatastore: the images have different numbers of "
                             "channels; set ColorPreprocessing to 'gray2rgb' or 'rgb2gray'")
        return np.concatenate(images, axis=3)

    def _labels(self, positions: np.ndarray) -> Any:
        """Responses at `positions` (labels: a vector; numeric: rows, or the last axis)."""
        items = self._order[positions]
        if isinstance(self._source, ImageDatastore):
            return None if self._source.Labels is None else self._source.Labels[items]
        Y = self._responses
        if Y is None:
            return None
        return Y[items] if Y.ndim <= 2 else np.take(Y, items, axis=Y.ndim - 1)

    # ---- minidl's datastore protocol -------------------------------------------------------
    def read_all(self, image_size: Sequence[int] | None = None) -> tuple[Any, Any]:
        """(X, responses) for trainnet, minibatchpredict and testnet: every image at
        OutputSize (resized, or centre-cropped for both crop modes), never augmented; X is
        h x w x c x N float32 (an array source keeps its array module and float dtype).
        `image_size` is ignored: OutputSize decides (trainnet checks it against the input
        layer). trainnet augments each training mini-batch with `augment_batch`."""
        everything = np.arange(self.NumObservations)
        return self._images(everything, False, record_sizes=True), self._labels(everything)

    def augment_batch(self, X: Any, indices: Any = None) -> Any:
        """A training mini-batch of `read_all`'s images (h x w x c x n, NumPy or CuPy, or a
        dlarray), each randomly transformed anew: the trainnet hook.

        Returns X itself when there is nothing random (no DataAugmentation, not "randcrop").
        `indices` are the batch's positions in read_all's order (on X's device or the host),
        as trainnet passes them: for an array source they select the source images, which are
        augmented at the source size and then resized or cropped (MATLAB's order); for an
        imageDatastore the batch itself is warped at the output size, and the indices give
        each image's source size when they differ. Without them an array source is warped at
        the output size too.
        """
        if isinstance(X, dlarray):
            out = self._augment_raw(X._data, indices)
            return X if out is X._data else dlarray._wrap(out, X.fmt)
        return self._augment_raw(X, indices)

    def _augment_raw(self, X: Any, indices: Any) -> Any:
        """`augment_batch` on a raw h x w x c x n array."""
        aug, mode = self._augmenter, self.OutputSizeMode
        if aug is None and mode != "randcrop":
            return X
        if not isinstance(self._source, ImageDatastore) and indices is not None:
            # an array source is at hand: MATLAB's exact order (augment at the source size,
            # then resize or crop), as `read_batch` does, with no fill bands from a crop
            positions = np.asarray(to_module(indices, np), dtype=np.int64).ravel()
            if positions.size != X.shape[3]:
                raise ValueError(f"augment_batch: {positions.size} indices for a batch of "
                                 f"{X.shape[3]} images: give one position per image")
            out = self._images(positions, True)
            return to_module(out, array_module(X)).astype(X.dtype, copy=False)
        n = X.shape[3]
        params = aug.draw(n) if aug is not None else IDENTITY_PARAMS[:, None].repeat(n, axis=1)
        src_h, src_w = self._source_sizes(X, indices)
        height, width = self.OutputSize
        scale: Any = 1.0
        shift: Any = 0.0
        if mode == "resize":
            scale = (height / src_h, width / src_w)
        elif mode == "randcrop":  # the centre crop moved to a random crop's place
            g = generator()
            u, w = g.random(n), g.random(n)
            shift = (_crop_offset_shift(src_h, height, u, X),
                     _crop_offset_shift(src_w, width, w, X))
        fill = aug.FillValue if aug is not None else 0.0
        return warp(X, params, fill, scale, shift)

    def _source_sizes(self, X: Any, indices: Any) -> tuple[Any, Any]:
        """Source (height, width): numbers when uniform, else per-image arrays of X's module."""
        if not isinstance(self._source, ImageDatastore):
            return self._source.shape[0], self._source.shape[1]
        if self._source_hw is None:
            raise ValueError("augment_batch: call read_all first (it records the image sizes)")
        hw = self._source_hw
        if np.all(hw == hw[0]):
            return int(hw[0, 0]), int(hw[0, 1])
        if indices is None:
            raise ValueError("augment_batch: the images differ in size; pass the batch's "
                             "indices (positions in read_all's order)")
        sizes = to_module(hw.astype(np.float64), array_module(X))[indices]
        return sizes[:, 0], sizes[:, 1]

    def read_batch(self, indices: np.ndarray) -> tuple[Any, ...]:
        """minibatchqueue's read: (images h x w x c x n, augmented as `read`, responses) at
        `indices` (0-based), or (images,) without responses."""
        positions = np.asarray(indices, dtype=np.int64).ravel()
        labels = self._labels(positions)
        images = self._images(positions, True)
        return (images,) if labels is None else (images, labels)

    # ---- MATLAB's sequential reading -------------------------------------------------------
    def hasdata(self) -> bool:
        """True while `read` has observations left."""
        return self._position < self.NumObservations

    def reset(self) -> None:
        """Start reading from the first observation again."""
        self._position = 0

    def read(self) -> Any:
        """The next MiniBatchSize observations, augmented: (X, responses), or X alone without
        responses (MATLAB's table of input and response). StopIteration at the end."""
        if not self.hasdata():
            raise StopIteration("read: no more data in the augmentedImageDatastore; use "
                                "reset(ds) to read it again")
        stop = min(self._position + self.MiniBatchSize, self.NumObservations)
        batch = self.read_batch(np.arange(self._position, stop))
        self._position = stop
        return batch[0] if len(batch) == 1 else batch

    def readall(self) -> Any:
        """Every observation as `read` gives them (augmented, as MATLAB's readall)."""
        batch = self.read_batch(np.arange(self.NumObservations))
        return batch[0] if len(batch) == 1 else batch

    def shuffle(self) -> AugmentedImageDatastore:
        """A new datastore with the observations in random order (minidl's generator)."""
        return self._reordered(permutation(self.NumObservations))

    def partition(self, n: int, index: int) -> AugmentedImageDatastore:
        """Part ``index`` of ``n`` (MATLAB's ``partition(ds, n, index)``): a contiguous block of
        the observations, floor(N / n) of them plus one for each of the first N mod n parts."""
        return partition_of(self, n, index)

    def _reordered(self, order: np.ndarray) -> AugmentedImageDatastore:
        settings = {k: getattr(self, k) for k in _DS_DEFAULTS}
        return AugmentedImageDatastore(self.OutputSize, self._source, self._responses,
                                       settings, self._order[order])


def _crop_offset_shift(size: Any, out: int, u: np.ndarray, X: Any) -> Any:
    """Content shift that turns the centre crop into the crop at floor((size - out) * u):
    minus (random offset - centre offset). `size` is a number or a device vector."""
    if np.isscalar(size):
        if size < out:
            raise ValueError(f"OutputSizeMode 'randcrop' needs images at least OutputSize, got "
                             f"size {size} for {out}")
        return -(_crop_offsets(size, out, u) - (size - out) // 2).astype(np.float64)
    xp = array_module(X)
    span = size - out
    return -(xp.floor(span * to_module(u, xp)) - xp.floor(span / 2))


def augmentedImageDatastore(outputSize: Sequence[int], source: Any, *args: Any,
                            **options: Any) -> AugmentedImageDatastore:
    """Resize, crop and augment images for training and prediction (MATLAB's
    augmentedImageDatastore).

    ``augmentedImageDatastore(outputSize, imds)``, ``(outputSize, X, Y)`` or
    ``(outputSize, X)``: outputSize is [height width] (a third element is ignored); imds an
    imageDatastore (its Labels are the responses), X an H x W x C x N array and Y its labels
    or responses (N values, N x R rows, or an array with N along its last axis). Options,
    keywords or name-value pairs: DataAugmentation ("none" or an imageDataAugmenter),
    ColorPreprocessing ("none", "gray2rgb", "rgb2gray"), OutputSizeMode ("resize",
    "centercrop", "randcrop"), MiniBatchSize (128), DispatchInBackground (only false).
    """
    size = None if isinstance(outputSize, str) else np.asarray(outputSize, dtype=object).ravel()
    if size is None or size.size not in (2, 3) or not all(
            is_int(s) and s >= 1 for s in size):
        raise ValueError(f"outputSize must be [height width] (or [height width channels]) of "
                         f"positive integers, got {outputSize!r}")
    output_size = (int(size[0]), int(size[1]))
    responses = None
    if args and not isinstance(args[0], str):
        responses, args = args[0], args[1:]
    s = parse_name_value(args, options, _DS_DEFAULTS, "augmentedImageDatastore")
    aug = s["DataAugmentation"]
    if isinstance(aug, str):
        aug = check_choice("DataAugmentation", aug, ("none",))
    elif not isinstance(aug, ImageDataAugmenter):
        raise TypeError(f"DataAugmentation must be an imageDataAugmenter or 'none', got "
                        f"{type(aug).__name__}")
    settings = {
        "DataAugmentation": aug,
        "ColorPreprocessing": check_choice("ColorPreprocessing", s["ColorPreprocessing"],
                                           ("none", "gray2rgb", "rgb2gray")),
        "OutputSizeMode": check_choice("OutputSizeMode", s["OutputSizeMode"],
                                       ("resize", "centercrop", "randcrop")),
        "MiniBatchSize": check_positive_int("MiniBatchSize", s["MiniBatchSize"]),
    }
    if check_flag("DispatchInBackground", s["DispatchInBackground"]):
        raise ValueError("DispatchInBackground must be false: minidl prepares images serially")
    if isinstance(source, ImageDatastore):
        if responses is not None:
            raise ValueError("augmentedImageDatastore: with an imageDatastore the responses are "
                             "its Labels; do not give Y")
        return AugmentedImageDatastore(output_size, source, None, settings)
    if not (hasattr(source, "shape") and hasattr(source, "dtype")) or source.ndim != 4 \
            or source.dtype.kind not in "biuf":
        raise TypeError(f"augmentedImageDatastore: the images must be an imageDatastore or a "
                        f"numeric H x W x C x N array, got {type(source).__name__}"
                        + (f" of shape {tuple(source.shape)}" if hasattr(source, "shape") else ""))
    if responses is not None:
        responses = np.asarray(responses)
        n, count = source.shape[3], (responses.shape[0] if responses.ndim <= 2
                                     else responses.shape[-1])
        if responses.ndim == 0 or count != n:
            raise ValueError(f"augmentedImageDatastore: Y must have one response per image "
                             f"({n}), got an array of shape {responses.shape}")
    return AugmentedImageDatastore(output_size, source, responses, settings)

