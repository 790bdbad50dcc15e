"""MATLAB-style image datastores, and the function forms every datastore answers to.

* `imageDatastore` collects image files from folders (optionally recursively) and labels them
  by folder name; `splitEachLabel` divides one per label; `readall(imds)` loads every image into
  one H x W x C x N float32 array, the layout trainnet and minibatchpredict consume.
* In-memory arrays (`arrayDatastore`) and datastores side by side (`combine`) are in
  ``minidl.arraydatastore``.
* `read`, `readall`, `hasdata`, `reset`, `shuffle`, `readimage` and `countEachLabel` are also
  functions, as MATLAB users call them (``read(ds)``); each calls the method of the same name,
  so `hasdata`, `reset` and `shuffle` serve a `minibatchqueue` as well.

Positions of observations (`readimage(imds, i)`, `subset`) are 0-based, as all Python indexing
in minidl; `IterationDimension` is a MATLAB dimension number and stays 1-based (the rule of
docs/matlab-to-minidl.md: arguments that *are* MATLAB dimension numbers keep MATLAB's meaning).

Every datastore here also has the two methods the rest of minidl reads them with:
`read_all(image_size)` -> (X, labels or None) for trainnet, minibatchpredict and testnet, and
`read_batch(indices)` -> one entry per variable for minibatchqueue, each entry either an array
with the observations along its last axis or a list of per-observation pieces.
"""

from __future__ import annotations

import glob
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._matlab import check_flag, check_nonneg_int
from ..backend import generator, permutation
from .image import resize

__all__ = [
    "ImageDatastore", "imageDatastore", "splitEachLabel", "countEachLabel", "readimage",
    "read", "readall", "hasdata", "reset", "shuffle",
]

DEFAULT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_OPTIONS = ("IncludeSubfolders", "LabelSource", "FileExtensions")
_LABEL_SOURCES = ("none", "foldernames")


class ImageDatastore:
    """A sorted list of image files (`Files`) with optional string labels (`Labels`, or None).

    Images are read lazily, only by `read`, `readall`, `read_all`, `read_images`, `readimage`
    and `read_batch`. `read` walks the files in order, one image per call, as MATLAB's read
    with ReadSize 1.
    """

    def __init__(
        self,
        files: Sequence[str],
        labels: Sequence[str] | np.ndarray | None = None,
        file_extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    ) -> None:
        self.Files = [str(f) for f in files]
        self.FileExtensions = tuple(file_extensions)
        self.Labels = labels
        self._position = 0

    @property
    def Labels(self) -> np.ndarray | None:
        """One label per file (numpy str array), or None for an unlabeled datastore."""
        return self._labels

    @Labels.setter
    def Labels(self, labels: Sequence[str] | np.ndarray | None) -> None:
        if labels is None:
            self._labels = None
            return
        labels = np.asarray(labels, dtype=str).reshape(-1)
        if labels.size != len(self.Files):
            raise ValueError(
                f"Labels must have one entry per file: got {labels.size} labels for "
                f"{len(self.Files)} files"
            )
        self._labels = labels

    @property
    def NumObservations(self) -> int:
        """Number of files."""
        return len(self.Files)

    def __len__(self) -> int:
        return len(self.Files)

    def __repr__(self) -> str:
        shown = "\n".join(f"             '{f}'" for f in self.Files[:3])
        more = f"\n              ... and {len(self.Files) - 3} more" if len(self.Files) > 3 else ""
        if self._labels is None:
            labels = "none"
        else:
            counts = ", ".join(f"{k} ({v})" for k, v in list(self.countEachLabel().items())[:5])
            extra = ", ..." if len(np.unique(self._labels)) > 5 else ""
            labels = f"{len(np.unique(self._labels))} classes: {counts}{extra}"
        return (
            "ImageDatastore with properties:\n\n"
            f"    NumObservations: {len(self.Files)}\n"
            f"              Files: {{\n{shown}{more}\n             }}\n"
            f"             Labels: {labels}\n"
            f"     FileExtensions: {', '.join(self.FileExtensions)}"
        )

    def countEachLabel(self) -> dict[str, int]:
        """Number of files per label, as {label: count} in sorted label order."""
        if self._labels is None:
            raise ValueError("countEachLabel needs a labeled datastore (Labels is None)")
        names, counts = np.unique(self._labels, return_counts=True)
        return {str(k): int(v) for k, v in zip(names, counts, strict=True)}

    def subset(self, indices: Iterable[int] | Iterable[bool]) -> ImageDatastore:
        """A new datastore with the files (and labels) at `indices` (0-based, in that order),
        or where a logical vector of one value per file is true (MATLAB's subset)."""
        idx = self._indices(indices)
        labels = None if self._labels is None else self._labels[idx]
        return ImageDatastore([self.Files[i] for i in idx], labels, self.FileExtensions)

    def _indices(self, indices: Any) -> np.ndarray:
        given = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        n = len(self.Files)
        if given.dtype.kind == "b":
            if given.shape != (n,):
                raise ValueError(f"subset: a logical vector needs one value per file ({n}), got "
                                 f"{given.size}")
            return np.flatnonzero(given)
        if given.size and (given.dtype.kind not in "iu" or given.min() < 0 or given.max() >= n):
            raise ValueError(f"subset: indices must be integers from 0 to {n - 1} (0-based) or "
                             f"a logical vector, got {given.ravel()[:5].tolist()}")
        return given.astype(np.intp).ravel()

    def splitEachLabel(
        self, *args: float | int | str, seed: int | None = None
    ) -> tuple[ImageDatastore, ...]:
        """Split per label; see the module-level `splitEachLabel`."""
        return splitEachLabel(self, *args, seed=seed)

    def readimage(self, index: int) -> np.ndarray:
        """The image of file `index` (0-based) as H x W x C float32 with values 0-255.

        MATLAB's ``readimage(imds, i)`` counts from 1: it is ``readimage(imds, i - 1)`` here,
        as every position in Python (and `subset`) counts from 0.
        """
        n = len(self.Files)
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < n:
            raise ValueError(f"readimage: index must be an integer from 0 to {n - 1} (0-based; "
                             f"MATLAB's readimage(imds, i) is readimage(imds, i - 1)), got "
                             f"{index!r}")
        return read_image(self.Files[int(index)])

    def readall(self, image_size: Sequence[int] | None = None) -> np.ndarray:
        """Every image, as MATLAB's readall(imds): one H x W x C x N float32 array, values 0-255.

        MATLAB returns a cell array because its images may differ in size; here they are
        stacked because an H x W x C x N array is what trainnet, minibatchpredict and dlarray
        take, and `image_size` = (h, w) or (h, w, c) resizes images that differ (see
        `read_all`). Labels are not part of it: they are `Labels` (use `read_all` for both).
        """
        return self.read_all(image_size)[0]

    def read_all(
        self, image_size: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Read every image: returns (X, labels), X of shape H x W x C x N float32, labels a copy
        of `Labels` (or None). This is how trainnet and minibatchpredict read a datastore.

        Values keep MATLAB's range: 0-255 for 8-bit images (16-bit images are scaled to 0-255),
        converted to float32 without rescaling, as MATLAB trains on uint8 images cast to single.
        `image_size` = (h, w) resizes every image (bilinear with antialiasing, as Pillow's
        BILINEAR: `minidl.data.image.resize`) and keeps its channels, converting grayscale to
        RGB when the files mix both; (h, w, c) with c = 1 or 3 also converts to grayscale or
        RGB. Without `image_size` all images must share one size.
        Raises ValueError naming the file for unreadable or corrupt images.
        """
        height, width, channels = _parse_size(image_size)
        images = [read_image(f, channels) for f in self.Files]
        if not images:
            x = np.zeros((height or 0, width or 0, channels or 1, 0), dtype=np.float32)
        else:
            if height is not None:
                images = [resize(im, height, width) for im in images]
            x = _stack(images, self.Files)
        labels = None if self._labels is None else self._labels.copy()
        return x, labels

    def read_images(self, image_size: Sequence[int] | None = None) -> np.ndarray:
        """Only the images of `read_all` (the same as `readall`): H x W x C x N float32."""
        return self.read_all(image_size)[0]

    # ---- sequential reading, as MATLAB's read/hasdata/reset/shuffle ---------------------------
    def hasdata(self) -> bool:
        """True while `read` has files left to read."""
        return self._position < len(self.Files)

    def reset(self) -> None:
        """Start reading from the first file again."""
        self._position = 0

    def read(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The next image and its info: (H x W x C float32 image, {"Filename", "Label"}).

        MATLAB's ``[img, info] = read(imds)``; both outputs are returned, as minidl does for
        every function with several outputs (``img, info = read(imds)``). "Label" is present
        only for a labeled datastore. Raises StopIteration after the last file.
        """
        if not self.hasdata():
            raise StopIteration("read: no more data in the ImageDatastore; use reset(ds) to "
                                "read it again")
        i = self._position
        self._position += 1
        info: dict[str, Any] = {"Filename": self.Files[i]}
        if self._labels is not None:
            info["Label"] = self._labels[i]
        return read_image(self.Files[i]), info

    def shuffle(self) -> ImageDatastore:
        """A new datastore with the files (and labels) in random order, as MATLAB's shuffle(ds).

        The order is drawn from minidl's generator, so ``rng(seed)`` makes it reproducible.
        """
        return self._reordered(permutation(len(self.Files)))

    def partition(self, n: int, index: int) -> ImageDatastore:
        """Part ``index`` of ``n`` (MATLAB's ``partition(ds, n, index)``): a contiguous block of
        the files, floor(N / n) of them plus one for each of the first N mod n parts."""
        return partition_of(self, n, index)

    def _reordered(self, order: np.ndarray) -> ImageDatastore:
        return self.subset(order)

    def read_batch(self, indices: np.ndarray) -> tuple[list[np.ndarray]]:
        """The images at `indices` (0-based) as a list of H x W x C arrays: the one variable
        that `read` gives (its first output). minibatchqueue reads labels from `Labels`."""
        return ([read_image(self.Files[i]) for i in np.asarray(indices).tolist()],)


def imageDatastore(
    location: str | os.PathLike | Sequence[str | os.PathLike],
    *name_value: object,
    IncludeSubfolders: bool = False,
    LabelSource: str = "none",
    FileExtensions: str | Sequence[str] = DEFAULT_EXTENSIONS,
    **options: object,
) -> ImageDatastore:
    """Collect image files from folders and/or files, as MATLAB's imageDatastore.

    `location` is a folder, a file, a glob pattern, or a list of them. Options may be given as
    keywords or as MATLAB name-value pairs, with case-insensitive names:
    ``imageDatastore(folder, "IncludeSubfolders", True, "LabelSource", "foldernames")``.
    IncludeSubfolders searches folders recursively; LabelSource="foldernames" labels each image
    by its parent folder's name; FileExtensions selects which files count as images.
    Files are returned sorted. Raises FileNotFoundError for a missing location and ValueError for
    bad options or when no image is found.
    """
    settings = {
        "IncludeSubfolders": IncludeSubfolders,
        "LabelSource": LabelSource,
        "FileExtensions": FileExtensions,
    }
    if len(name_value) % 2:
        raise ValueError(
            f"options must come in name-value pairs; got {len(name_value)} extra arguments. "
            f"Valid names: {', '.join(_OPTIONS)}"
        )
    pairs = list(zip(name_value[::2], name_value[1::2], strict=True)) + list(options.items())
    for name, value in pairs:
        settings[_option_name(name, _OPTIONS)] = value
    recursive = check_flag("IncludeSubfolders", settings["IncludeSubfolders"])
    label_source = _option_value("LabelSource", settings["LabelSource"], _LABEL_SOURCES)
    extensions = _parse_extensions(settings["FileExtensions"])
    locations = _as_list(location)
    files = sorted({f for loc in locations for f in _find_files(loc, recursive, extensions)})
    if not files:
        raise ValueError(
            f"no image files with extensions {', '.join(extensions)} found in "
            f"{', '.join(repr(str(loc)) for loc in locations)}"
            + ("" if recursive else " (subfolders not searched; use IncludeSubfolders=True)")
        )
    labels = [os.path.basename(os.path.dirname(f)) for f in files]
    return ImageDatastore(files, labels if label_source == "foldernames" else None, extensions)


def splitEachLabel(
    ds: ImageDatastore, *args: float | int | str, seed: int | None = None
) -> tuple[ImageDatastore, ...]:
    """Split a datastore per label into len(p) + 1 datastores, as MATLAB's splitEachLabel.

    ``splitEachLabel(ds, 0.8)`` puts the first 80% of each label's files (rounded down) in the
    first datastore and the rest in the second; ``splitEachLabel(ds, 5)`` puts 5 files per label
    in the first. Several proportions (or counts) give several datastores. With "randomized" the
    files of each label are drawn at random (from minidl's generator, so ``rng(seed)`` repeats
    them, or from a generator seeded with `seed`). Files keep their original order within each
    result. An unlabeled datastore is split as one label.
    """
    if not isinstance(ds, ImageDatastore):
        raise TypeError(f"splitEachLabel: ds must be an imageDatastore, got {type(ds).__name__}")
    randomized = False
    parts: list[float | int] = []
    for arg in args:
        if isinstance(arg, str):
            if arg.lower() not in ("randomized", "randomize"):
                raise ValueError(f"unknown splitEachLabel option {arg!r}; valid: 'randomized'")
            randomized = True
        else:
            parts.append(arg)
    if len(ds) == 0:
        raise ValueError("splitEachLabel: the datastore has no files to split")
    groups = _label_groups(ds)
    if not randomized:
        rng = None
    elif seed is None:  # minidl's generator, as MATLAB's rng governs splitEachLabel
        rng = generator()
    else:
        rng = np.random.default_rng(check_nonneg_int("seed", seed))
    counts = _split_counts(parts, groups)
    chosen: list[list[np.ndarray]] = [[] for _ in range(len(parts) + 1)]
    for members, sizes in zip(groups.values(), counts, strict=True):
        order = rng.permutation(members) if rng is not None else members
        bounds = np.cumsum([0, *sizes, len(members) - sum(sizes)])
        for k in range(len(chosen)):
            chosen[k].append(order[bounds[k] : bounds[k + 1]])
    return tuple(ds.subset(np.sort(np.concatenate(c)).tolist()) for c in chosen)


# ---------------------------------------------------------------------------------------------
# MATLAB's function forms: read(ds), hasdata(ds), ... call the method of the same name


def _method(name: str, obj: Any, what: str = "a datastore or a minibatchqueue") -> Any:
    method = getattr(obj, name, None)
    if not callable(method) or isinstance(obj, type):
        raise TypeError(f"{name} expects {what}, got {type(obj).__name__}")
    return method


def read(ds: Any) -> Any:
    """The next data of a datastore, as MATLAB's ``read(ds)`` (see each datastore's `read`)."""
    return _method("read", ds, "a datastore")()


def readall(ds: Any, *args: Any) -> Any:
    """All data of a datastore, as MATLAB's ``readall(ds)``: the images of an imageDatastore
    (H x W x C x N; ``readall(imds, image_size)`` resizes), the slices of an arrayDatastore, the
    underlying datastores' data side by side for a combined one."""
    return _method("readall", ds, "a datastore")(*args)


def hasdata(x: Any) -> bool:
    """True if a datastore can `read`, or a minibatchqueue can give a mini-batch (MATLAB's
    ``hasdata``)."""
    return bool(_method("hasdata", x)())


def reset(x: Any) -> None:
    """Rewind a datastore or a minibatchqueue to the start of its data (MATLAB's ``reset``)."""
    _method("reset", x)()


def shuffle(x: Any) -> Any:
    """MATLAB's ``shuffle``: for a datastore, a new shuffled datastore (``ds = shuffle(ds)``);
    for a minibatchqueue, shuffles it in place and rewinds it (returns None), as MATLAB's
    ``shuffle(mbq)``. The order comes from minidl's generator (``rng``)."""
    return _method("shuffle", x)()


def readimage(imds: ImageDatastore, index: int) -> np.ndarray:
    """The image at 0-based position `index` (MATLAB's 1-based ``readimage(imds, i)`` is
    ``readimage(imds, i - 1)``), as H x W x C float32 with values 0-255."""
    return _method("readimage", imds, "an imageDatastore")(index)


def countEachLabel(imds: ImageDatastore) -> dict[str, int]:
    """Files per label as {label: count}, in sorted label order (MATLAB returns a table)."""
    return _method("countEachLabel", imds, "an imageDatastore")()


def _label_groups(ds: ImageDatastore) -> dict[str, np.ndarray]:
    """File indices per label (sorted labels); unlabeled datastores form a single group."""
    if ds.Labels is None:
        return {"": np.arange(len(ds))}
    return {str(k): np.flatnonzero(ds.Labels == k) for k in np.unique(ds.Labels)}


def _split_counts(parts: list[float | int], groups: dict[str, np.ndarray]) -> list[list[int]]:
    """Files per label for each requested part: fractions are floored, counts are checked."""
    if not parts:
        raise ValueError("splitEachLabel needs a proportion in (0, 1) or a count per label")
    fractions = [_is_fraction(p) for p in parts]
    if any(fractions) and not all(fractions):
        raise ValueError(f"do not mix proportions and counts in splitEachLabel: {parts}")
    if all(fractions):
        if sum(parts) > 1 + 1e-12:
            raise ValueError(f"splitEachLabel proportions must sum to at most 1, got {parts}")
        return [[int(np.floor(p * len(m) + 1e-9)) for p in parts] for m in groups.values()]
    need = sum(int(p) for p in parts)
    for name, members in groups.items():
        if need > len(members):
            label = f"label {name!r}" if name else "the datastore"
            raise ValueError(
                f"splitEachLabel asks for {need} files per label but {label} has only "
                f"{len(members)}"
            )
    return [[int(p) for p in parts] for _ in groups]


def _is_fraction(p: object) -> bool:
    """True for a proportion in (0, 1), False for a non-negative integer count; else ValueError."""
    if isinstance(p, (bool, np.bool_)):
        pass
    elif isinstance(p, (int, np.integer)) and p >= 0:
        return False
    elif isinstance(p, (float, np.floating)) and 0 < p < 1:
        return True
    raise ValueError(
        f"splitEachLabel proportion must be a fraction in (0, 1) or a non-negative integer "
        f"count per label, got {p!r}"
    )


def _option_name(name: object, valid: Sequence[str]) -> str:
    """The canonical spelling of a case-insensitive option name; ValueError if unknown."""
    if isinstance(name, str):
        for option in valid:
            if name.lower() == option.lower():
                return option
    raise ValueError(f"unknown option {name!r}; valid options are: {', '.join(valid)}")


def _option_value(name: str, value: object, valid: Sequence[str]) -> str:
    """The canonical spelling of a case-insensitive string value; ValueError if not valid."""
    if isinstance(value, str) and value.lower() in valid:
        return value.lower()
    raise ValueError(f"invalid {name} {value!r}; valid values are: {', '.join(valid)}")



def _parse_extensions(value: object) -> tuple[str, ...]:
    """Lower-case extensions with a leading dot, from a string or a sequence of strings."""
    items = [value] if isinstance(value, str) else value
    try:
        items = list(items)
    except TypeError:
        items = [None]
    if not items or not all(isinstance(e, str) and e.strip(".") for e in items):
        raise ValueError(
            f"invalid FileExtensions {value!r}; valid values are an extension such as '.png' "
            f"or a list of them"
        )
    return tuple("." + e.lower().lstrip(".") for e in items)


def _as_list(location: object) -> list[str]:
    """One or several locations as a list of str paths."""
    if isinstance(location, (str, os.PathLike)):
        return [os.fspath(location)]
    if not isinstance(location, (list, tuple, np.ndarray)) or getattr(location, "ndim", 1) != 1 \
            or len(location) == 0 or not all(
            isinstance(loc, (str, os.PathLike)) for loc in location):
        raise TypeError("imageDatastore: location must be a folder, a file, a pattern or a "
                        f"non-empty list of them (strings), got {type(location).__name__}")
    return [os.fspath(loc) for loc in location]


def _find_files(location: str, recursive: bool, extensions: tuple[str, ...]) -> list[str]:
    """Image files at a folder, file or glob pattern; FileNotFoundError if nothing is there."""
    def is_image(path: str) -> bool:
        """A regular file (not a pipe, device or folder, which could block or fail reading)
        with one of the extensions."""
        return os.path.splitext(path)[1].lower() in extensions and os.path.isfile(path)

    if os.path.isdir(location):
        if recursive:
            return [
                os.path.join(root, f)
                for root, _, names in os.walk(location)
                for f in names
                if is_image(os.path.join(root, f))
            ]
        return [
            os.path.join(location, f)
            for f in os.listdir(location)
            if is_image(os.path.join(location, f))
        ]
    if os.path.exists(location) and not os.path.isfile(location) \
            and not glob.has_magic(location):
        raise ValueError(f"{location!r} is neither a folder nor a regular file")
    if os.path.isfile(location):
        if not is_image(location):
            raise ValueError(
                f"file {location!r} does not have one of the FileExtensions "
                f"{', '.join(extensions)}"
            )
        return [location]
    if glob.has_magic(location):
        matches = [m for m in sorted(glob.glob(location, recursive=recursive))
                   if os.path.isdir(m) or is_image(m)]  # regular files only
        if matches:
            return [f for m in matches for f in _find_files(m, recursive, extensions)]
    raise FileNotFoundError(f"folder or file not found: {location!r}")


def _parse_size(image_size: Sequence[int] | None) -> tuple[int | None, int | None, int | None]:
    """(h, w, c) from None, (h, w) or (h, w, c); c must be 1 or 3."""
    if image_size is None:
        return None, None, None
    whole = [isinstance(s, numbers.Integral) or (isinstance(s, numbers.Real) and float(s)
                                                  .is_integer()) for s in image_size]
    size = tuple(int(s) for s, ok in zip(image_size, whole) if ok)
    if not all(whole) or len(size) not in (2, 3) or min(size) < 1 \
            or (len(size) == 3 and size[2] not in (1, 3)):
        raise ValueError(
            f"image_size must be (height, width) or (height, width, channels) with channels 1 "
            f"or 3, got {tuple(image_size)!r}"
        )
    return size[0], size[1], (size[2] if len(size) == 3 else None)


def read_image(path: str, channels: int | None = None) -> np.ndarray:
    """Decode one image to H x W x C float32, 0-255: grayscale (C=1) or RGB (C=3, alpha dropped).

    `channels` forces grayscale (1) or RGB (3). 16-bit images are scaled to 0-255. Unreadable
    or corrupt files raise ValueError naming the file.
    """
    # imported on first use, deliberately (not a cycle breaker): Pillow is optional at import
    # time and `import minidl` must not load it (tests/backend/test_backend.py)
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I", "F") or img.mode.startswith("I;16"):
                scale = 255 / 65535 if img.mode != "F" else 1.0
                array = np.asarray(img, dtype=np.float32) * np.float32(scale)
                if channels == 3:
                    array = np.repeat(array[..., None], 3, axis=-1)
            else:
                gray = img.mode in ("1", "L", "LA") if channels is None else channels == 1
                array = np.asarray(img.convert("L" if gray else "RGB"), dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"cannot read image file {path!r}: {err}") from err
    return array[..., None] if array.ndim == 2 else array


def _stack(images: list[np.ndarray], files: list[str]) -> np.ndarray:
    """Stack H x W x C images into H x W x C x N, promoting grayscale to RGB when mixed."""
    channels = max(im.shape[2] for im in images)
    shape = images[0].shape[:2]
    for im, f in zip(images, files, strict=True):
        if im.shape[:2] != shape:
            raise ValueError(
                f"images differ in size ({shape[0]}x{shape[1]} vs {im.shape[0]}x{im.shape[1]} "
                f"in {f!r}); pass image_size=(height, width) to resize them"
            )
    x = np.empty(shape + (channels, len(images)), dtype=np.float32)
    for i, im in enumerate(images):
        x[..., i] = im
    return x


# ---- partition: the part of a datastore one worker reads ---------------------------------------

def partition_bounds(total: int, n: int, index: int) -> tuple[int, int]:
    """(start, stop), 0-based, of part ``index`` (1-based) of ``n`` contiguous parts of
    ``total`` items: floor(total / n) each, one more for each of the first total mod n parts
    (MATLAB's partition of 10 files into 3 gives 4, 3, 3, in order)."""
    for name, value, low in (("n", n, 1), ("index", index, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"partition: {name} must be a positive integer, got {value!r}")
    if index > n:
        raise ValueError(f"partition: index must be from 1 to n ({n}), got {index}")
    base, extra = divmod(int(total), int(n))
    k = int(index) - 1
    start = k * base + min(k, extra)
    return start, start + base + (1 if k < extra else 0)


def partition_of(ds: Any, n: int, index: int) -> Any:
    """Part ``index`` (1-based) of ``n`` of a datastore (MATLAB's ``partition(ds, n, index)``):
    a datastore of the same kind over that contiguous block of its observations."""
    start, stop = partition_bounds(ds.NumObservations, n, index)
    return ds._reordered(np.arange(start, stop))
