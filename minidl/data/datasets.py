"""Synthetic data sets, generated locally so that examples and tests never need a download.

`digits` mirrors MATLAB's DigitDataset: 28x28 images of the digits 0-9, drawn from the fonts that
matplotlib ships and randomly rotated, scaled, shifted, thickened and thinned.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .image import sample_bilinear

__all__ = ["DigitData", "digits", "digit_glyphs"]

_VERSION = 1
_SIZE = 28
_SUPER = 2
_CELL = 64
_GLYPH_HEIGHT = 40.0
_CHUNK = 1000
_LUMA = np.array([0.299, 0.587, 0.114])
_FAMILIES = frozenset(
    {
        "DejaVu Sans",
        "DejaVu Sans Mono",
        "DejaVu Serif",
        "STIXGeneral",
        "cmr10",
        "cmb10",
        "cmss10",
        "cmti10",
        "cmtt10",
    }
)


@dataclass(frozen=True, eq=False)
class DigitData:
    """Train/validation/test splits of a digit data set.

    X arrays are float32 in MATLAB layout H x W x C x N (28 x 28 x 1 or 3 x N); T arrays are int64
    labels 0..9 of length N; ClassNames is the int64 array 0..9.
    """

    XTrain: np.ndarray
    TTrain: np.ndarray
    XValidation: np.ndarray
    TValidation: np.ndarray
    XTest: np.ndarray
    TTest: np.ndarray
    ClassNames: np.ndarray

    def __repr__(self) -> str:
        def size(x: np.ndarray) -> str:
            return "x".join(str(d) for d in x.shape)

        return (
            f"DigitData(XTrain={size(self.XTrain)}, XValidation={size(self.XValidation)}, "
            f"XTest={size(self.XTest)}, dtype={self.XTrain.dtype}, "
            f"ClassNames={self.ClassNames.tolist()})"
        )


def digits(
    num_images: int = 10000,
    *,
    color: bool = False,
    seed: int = 0,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    cache: bool = True,
) -> DigitData:
    """Generate (or load from the disk cache) a balanced synthetic digit data set.

    Each image is one font glyph under a random affine warp (rotation about +-15 degrees, glyph
    height 17-21 px, small aspect change and shift), a random stroke thickness and a little noise.
    Grayscale images (28x28x1) are a white digit on black in [0, 1], like MNIST. With color=True
    the images are 28x28x3 with random foreground/background colours (the digit always at least
    0.3 lighter in luma, so it stays legible) and a per-image brightness/contrast change, so
    per-image normalization has something to undo. Values are multiples of 1/255 (the cache
    stores uint8).

    The result depends only on the arguments (and matplotlib's bundled fonts); each split holds
    every class equally often (to within one image).
    """
    num_images = int(num_images)
    if num_images < 1:
        raise ValueError(f"num_images must be a positive integer, got {num_images}")
    sizes = _split_sizes(num_images, split)
    path = _cache_path(num_images, bool(color), int(seed), sizes) if cache else None
    arrays = _load_cache(path) if path is not None else None
    if arrays is None:
        arrays = _generate(sizes, bool(color), int(seed))
        if path is not None:
            _save_cache(path, arrays)
    return _to_digit_data(arrays)


@functools.lru_cache(maxsize=1)
def digit_glyphs() -> tuple[np.ndarray, np.ndarray]:
    """Render every (font, digit) glyph once; return (templates G x 64 x 64 float32, labels G).

    Each glyph is scaled so its bounding box is 40 px high and centred in a 64x64 cell, white on
    black in [0, 1] with anti-aliased edges. Fonts are the text fonts in matplotlib's own
    mpl-data/fonts/ttf folder, in file-name order, and rendering uses matplotlib's default style,
    so the set is the same on every machine. Rendered once per process; the arrays are read-only.
    """
    mpl = _matplotlib()
    fonts = _font_files()
    rows, cols = len(fonts), 10
    with mpl.style.context("default"):
        fig = mpl.Figure(figsize=(cols, rows), dpi=_CELL, facecolor="black")
        canvas = mpl.FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, cols * _CELL)
        ax.set_ylim(rows * _CELL, 0)
        ax.set_axis_off()
        for r, font in enumerate(fonts):
            for digit in range(cols):
                path = _glyph_path(font, digit, r, digit)
                ax.add_patch(mpl.PathPatch(path, facecolor="white", edgecolor="none"))
        canvas.draw()
    sheet = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255.0
    cells = sheet.reshape(rows, _CELL, cols, _CELL).transpose(0, 2, 1, 3)
    templates = np.ascontiguousarray(cells.reshape(rows * cols, _CELL, _CELL))
    labels = np.tile(np.arange(cols, dtype=np.int64), rows)
    templates.flags.writeable = labels.flags.writeable = False
    return templates, labels


@functools.lru_cache(maxsize=2)
def _matplotlib(render: bool = True) -> SimpleNamespace:
    """matplotlib, and with `render` the pieces that draw the glyphs, imported on first use.

    The one deliberate function-level import of this module (not a cycle breaker): matplotlib
    takes most of a second to import and `import minidl` must not load it
    (tests/backend/test_backend.py); only generating the digits needs the renderer, and a cache hit
    needs only the package's version (render=False, which skips the figure modules).
    """
    import matplotlib

    if not render:
        return SimpleNamespace(matplotlib=matplotlib)
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ft2font import FT2Font
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    return SimpleNamespace(
        matplotlib=matplotlib, style=matplotlib.style, FigureCanvasAgg=FigureCanvasAgg,
        Figure=Figure, FontProperties=FontProperties, FT2Font=FT2Font, PathPatch=PathPatch,
        TextPath=TextPath, Affine2D=Affine2D,
    )


def _font_files() -> list[str]:
    """Paths of matplotlib's bundled text fonts that map 0-9 to ten distinct glyphs."""
    mpl = _matplotlib()
    folder = Path(mpl.matplotlib.get_data_path(), "fonts", "ttf")
    found = []
    for file in sorted(folder.glob("*.ttf")):
        font = mpl.FT2Font(str(file))
        indices = {font.get_char_index(ord(c)) for c in "0123456789"}
        if font.family_name in _FAMILIES and len(indices) == 10 and 0 not in indices:
            found.append(str(file))
    if not found:
        raise RuntimeError(f"no usable digit fonts found in {folder}")
    return found


def _glyph_path(font: str, digit: int, row: int, col: int):
    """The outline of one digit, scaled to 40 px high, centred in its cell (y pointing down)."""
    mpl = _matplotlib()
    path = mpl.TextPath((0, 0), str(digit), size=100, prop=mpl.FontProperties(fname=font))
    box = path.get_extents()
    scale = _GLYPH_HEIGHT / box.height
    transform = (
        mpl.Affine2D()
        .translate(-(box.x0 + box.x1) / 2, -(box.y0 + box.y1) / 2)
        .scale(scale, -scale)
        .translate((col + 0.5) * _CELL, (row + 0.5) * _CELL)
    )
    return transform.transform_path(path)


def _split_sizes(n: int, split: tuple[float, float, float]) -> tuple[int, int, int]:
    """Number of train/validation/test images for fractions that sum to 1."""
    fractions = np.asarray(split, dtype=float)
    if fractions.shape != (3,) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1):
        raise ValueError(
            f"split must be three non-negative fractions (train, validation, test) summing to 1, "
            f"got {split!r}"
        )
    n_train = int(round(n * fractions[0]))
    n_val = min(int(round(n * fractions[1])), n - n_train)
    return n_train, n_val, n - n_train - n_val


def _generate(sizes: tuple[int, int, int], color: bool, seed: int) -> dict[str, np.ndarray]:
    """Draw labels and images for each split; X is uint8 N x 28 x 28 x C before conversion."""
    rng = np.random.default_rng(seed)
    templates, _ = digit_glyphs()
    fonts = len(templates) // 10
    labels = [rng.permutation(np.arange(n) % 10) for n in sizes]
    t = np.concatenate(labels).astype(np.int64)
    glyph = rng.integers(0, fonts, size=t.size) * 10 + t
    images = np.empty((t.size, _SIZE, _SIZE, 3 if color else 1), dtype=np.uint8)
    params = _warp_params(rng, t.size)
    styles = _color_params(rng, t.size) if color else None
    for start in range(0, t.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        masks = _render(templates, glyph[part], {k: v[part] for k, v in params.items()})
        if color:
            pixels = _colorize(masks, {k: v[part] for k, v in styles.items()}, rng)
        else:
            pixels = _add_noise(masks[..., None], rng)
        images[part] = np.round(pixels * 255).astype(np.uint8)
    bounds = np.cumsum((0,) + sizes)
    names = ("Train", "Validation", "Test")
    out = {}
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
        out["X" + name], out["T" + name] = images[lo:hi], t[lo:hi]
    return out


def _warp_params(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-image random geometry: angle (rad), glyph height (px), aspect, shift (px), thickness
    (supersampled px); each array has n rows."""
    return {
        "angle": np.deg2rad(rng.uniform(-15, 15, n)),
        "height": rng.uniform(17, 21, n),
        "aspect": np.exp(rng.uniform(-0.12, 0.12, n)),
        "shift": rng.uniform(-1.5, 1.5, (n, 2)),
        "thickness": rng.uniform(-0.7, 2.0, n),
    }


def _render(templates: np.ndarray, glyph: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """Warp, thicken and downsample a batch of glyphs: returns masks n x 28 x 28 in [0, 1].

    Sampling happens on a 2x supersampled 56x56 grid (bilinear), stroke thickness is changed
    there by grayscale erosion/dilation, and 2x2 averaging gives the anti-aliased 28x28 image.
    """
    size = _SIZE * _SUPER
    zoom = (_GLYPH_HEIGHT / (p["height"] * _SUPER)).astype(np.float32)
    cos = np.cos(p["angle"]).astype(np.float32) * zoom
    sin = np.sin(p["angle"]).astype(np.float32) * zoom
    aspect = p["aspect"].astype(np.float32)
    grid = np.arange(size, dtype=np.float32) - (size - 1) / 2
    shift = (p["shift"] * _SUPER).astype(np.float32)
    x = grid[None, None, :] - shift[:, 0, None, None]
    y = grid[None, :, None] - shift[:, 1, None, None]
    center = (_CELL - 1) / 2
    tx = (cos / aspect)[:, None, None] * x + (sin / aspect)[:, None, None] * y + center
    ty = cos[:, None, None] * y - sin[:, None, None] * x + center
    # the templates as an S x S x 1 x G image batch (a view); outside them reads 0, like their
    # zero border (at least 6 px wide), so clamping points to the template would give the same
    sheet = templates.transpose(1, 2, 0)[:, :, None, :]
    warped = sample_bilinear(sheet, tx, ty, source=glyph)[:, :, 0, :].transpose(2, 0, 1)
    thick = _stroke(warped, p["thickness"])
    return thick.reshape(-1, _SIZE, _SUPER, _SIZE, _SUPER).mean(axis=(2, 4))


def _morph(images: np.ndarray, op) -> np.ndarray:
    """3x3 cross-shaped grayscale dilation (op=np.maximum) or erosion (np.minimum), n x H x W."""
    fill = 0.0 if op is np.maximum else 1.0
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    out = images.copy()
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        op(out, padded[:, dy : dy + images.shape[1], dx : dx + images.shape[2]], out=out)
    return out


def _stroke(images: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    """Change stroke width by `thickness` supersampled pixels (-1..2), interpolating linearly
    between eroded, original, once- and twice-dilated copies of each image (n x H x W)."""
    dilated = _morph(images, np.maximum)
    levels = np.stack([_morph(images, np.minimum), images, dilated, _morph(dilated, np.maximum)])
    position = np.clip(thickness, -1, 2) + 1
    lower = np.minimum(np.floor(position).astype(np.intp), 2)
    weight = (position - lower).astype(np.float32)[:, None, None]
    rows = np.arange(images.shape[0])
    return levels[lower, rows] * (1 - weight) + levels[lower + 1, rows] * weight


def _add_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise with a per-image sigma of up to 0.05 and clip to [0, 1]."""
    sigma = rng.uniform(0.0, 0.05, (images.shape[0],) + (1,) * (images.ndim - 1))
    noise = rng.standard_normal(images.shape, dtype=np.float32) * sigma.astype(np.float32)
    return np.clip(images + noise, 0.0, 1.0)


def _color_params(rng: np.random.Generator, n: int, min_contrast: float = 0.3) -> dict:
    """Foreground/background RGB colours (n x 3) after a per-image brightness/contrast change.

    Pairs whose foreground is not at least `min_contrast` lighter than the background (luma,
    ITU-R 601 weights, in [0, 1]) are redrawn: the digit stays clearly visible and keeps the
    light-on-dark polarity of the grayscale set, while hue, brightness and contrast vary.
    """
    fg, bg = np.empty((n, 3)), np.empty((n, 3))
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        gain = rng.uniform(0.6, 1.3, (m, 1))
        offset = rng.uniform(-0.2, 0.2, (m, 1))
        pair = [
            np.clip((rng.uniform(0, 1, (m, 3)) - 0.5) * gain + 0.5 + offset, 0, 1)
            for _ in range(2)
        ]
        fg[todo], bg[todo] = pair
        todo = todo[(pair[0] - pair[1]) @ _LUMA < min_contrast]
    return {"fg": fg.astype(np.float32), "bg": bg.astype(np.float32)}


def _colorize(masks: np.ndarray, c: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Blend background and foreground colours through the glyph masks: n x 28 x 28 x 3."""
    fg, bg = c["fg"][:, None, None, :], c["bg"][:, None, None, :]
    return _add_noise(bg + (fg - bg) * masks[..., None], rng)


def _to_digit_data(arrays: dict[str, np.ndarray]) -> DigitData:
    """Convert uint8 N x H x W x C images to float32 H x W x C x N in [0, 1].

    The result is an H x W x C x N *view* of image-major memory (minidl's channels-last
    layout), so trainnet and minibatchpredict take mini-batches without copying the data set.
    """
    fields = {}
    for name in ("Train", "Validation", "Test"):
        x = arrays["X" + name]
        fields["X" + name] = (x.astype(np.float32) / 255).transpose(1, 2, 3, 0)
        fields["T" + name] = np.asarray(arrays["T" + name], dtype=np.int64)
    return DigitData(**fields, ClassNames=np.arange(10, dtype=np.int64))


def _cache_path(n: int, color: bool, seed: int, sizes: tuple[int, int, int]) -> Path:
    """Cache file for these parameters under $MINIDL_CACHE or ~/.cache/minidl."""
    key = {"v": _VERSION, "n": n, "color": color, "seed": seed, "sizes": list(sizes),
           "matplotlib": _matplotlib(render=False).matplotlib.__version__}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    root = os.environ.get("MINIDL_CACHE") or Path.home() / ".cache" / "minidl"
    return Path(root) / f"digits-v{_VERSION}-{digest}.npz"


def _load_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing or unreadable (empty, truncated, not
    an .npz, or lacking an array), so the caller regenerates the data and rewrites the file."""
    names = [p + s for s in ("Train", "Validation", "Test") for p in "XT"]
    try:
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                return None
            with data:
                return {name: data[name] for name in names}
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError):
        return None


def _save_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays atomically (temp file + os.replace); a cache that cannot be written is
    skipped, since it only saves time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
