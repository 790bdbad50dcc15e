"""``save(net, path)`` and ``load(path)``: a dlnetwork in one .npz file, without pickle.

The file is a NumPy .npz archive read with ``allow_pickle=False``:

* one array per learnable, state and other array-valued property, named ``layer<i>.<Property>``
  (gathered to host memory, so a network trained on a GPU loads anywhere);
* ``__structure__``: UTF-8 JSON (as uint8) with the format name and version, each layer's
  registered class name and its other properties (numbers, strings, tuples, lists), the
  network's ClassNames, activation sizes and initialization state.

Loading never runs code from the file: only layer classes registered with ``register_layer``
(every built-in layer; custom ones opt in) can be rebuilt, and property values are plain data.
A Python function cannot be saved as data, so ``save`` raises a ValueError naming the layer for a
functionLayer, an input layer with a callable Normalization, or an unregistered custom layer.

``save`` writes a temporary file in the target's folder and renames it over the target
(``os.replace``), so a crash mid-write leaves the old file intact. ``load`` puts arrays on the
active backend.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from contextlib import suppress
from typing import Any

import numpy as np

from ._matlab import MString
from .backend import active_module, array_module, to_module
from .dlarray import dlarray
from .layers.base import registered_layer
from .network import dlnetwork

__all__ = ["save", "load"]

FORMAT = "minidl.dlnetwork"
VERSION = 1
_TAGS = ("__tuple__", "__dict__", "__mstring__")


def _is_array(v: Any) -> bool:
    return isinstance(v, dlarray) or (array_module(v) is not np or isinstance(v, np.ndarray))


def _encode(v: Any, where: str) -> Any:
    """A property value as JSON data (tuples, dicts and MATLAB strings tagged)."""
    if v is None or isinstance(v, (bool, int, float)) and not isinstance(v, np.generic):
        return v
    if isinstance(v, MString):
        return {"__mstring__": str(v)}
    if isinstance(v, str):
        return v
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        return v.item()
    if isinstance(v, (list, tuple)):
        items = [_encode(x, where) for x in v]
        return {"__tuple__": items} if isinstance(v, tuple) else items
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return {"__dict__": {k: _encode(x, where) for k, x in v.items()}}
    if callable(v):
        raise ValueError(f"save: {where} holds a Python function ({getattr(v, '__name__', v)}), "
                         "which cannot be saved as data: write it as a custom layer class "
                         "decorated with register_layer, or rebuild that layer after load.")
    raise ValueError(f"save: {where} holds a {type(v).__name__}, which cannot be saved; only "
                     "numbers, strings, tuples, lists, dicts and arrays can.")


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, dict):
        if len(v) != 1 or next(iter(v)) not in _TAGS:
            raise ValueError(f"unexpected object {sorted(v)!r}")
        tag, inner = next(iter(v.items()))
        if tag == "__tuple__":
            return tuple(_decode(x) for x in _typed(inner, list))
        if tag == "__mstring__":
            return MString(_typed(inner, str))
        return {str(k): _decode(x) for k, x in _typed(inner, dict).items()}
    return v


def _typed(v: Any, kind: type) -> Any:
    if not isinstance(v, kind):
        raise ValueError(f"expected a {kind.__name__}, got {type(v).__name__}")
    return v


def _host(v: Any) -> np.ndarray:
    data = v._data if isinstance(v, dlarray) else v
    return np.ascontiguousarray(to_module(data, np))


# ---- save ----------------------------------------------------------------------------------------

def save(net: dlnetwork, path: str | os.PathLike) -> None:
    """Write ``net`` (layers, learnables, state, ClassNames) to ``path`` atomically (no pickle).

    The file is written exactly at ``path`` (no extension is added). Raises a ValueError naming
    the layer when a layer cannot be saved (see the module docstring).
    """
    if not isinstance(net, dlnetwork):
        raise TypeError(f"save expects a dlnetwork, got {type(net).__name__}")
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(net._layers):
        cls, label = type(layer), f"layer '{layer.Name}' ({type(layer).__name__})"
        if registered_layer(cls.__name__) is not cls:
            raise ValueError(f"save: {label} is a custom layer class that is not registered: "
                             "decorate the class with minidl.layers.register_layer so load can "
                             "rebuild it.")
        attributes, refs = {}, {}
        for key, value in vars(layer).items():
            if value is not None and _is_array(value):
                name = f"layer{i}.{key}"
                arrays[name] = _host(value)
                refs[key] = {"key": name, "dlarray": isinstance(value, dlarray),
                             "fmt": value.fmt if isinstance(value, dlarray) else ""}
            else:
                attributes[key] = _encode(value, f"{label} property '{key}'")
        layers.append({"class": cls.__name__, "attributes": attributes, "arrays": refs})
    class_names = net.ClassNames
    if isinstance(class_names, np.ndarray):
        class_names = class_names.tolist()
    structure = {"format": FORMAT, "version": VERSION, "layers": layers,
                 "network": {"initialized": net._initialized,
                             "activations": _encode(net._activations, "the network"),
                             "example": _encode(net._example, "the network"),
                             "ClassNames": _encode(class_names, "the network's ClassNames")}}
    text = json.dumps(structure).encode("utf-8")
    arrays["__structure__"] = np.frombuffer(text, dtype=np.uint8)
    _atomic_write(os.fspath(path), arrays)


def _atomic_write(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the archive to a temporary file beside ``path``, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): keep the old file's mode, or use 0644
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


# ---- load ----------------------------------------------------------------------------------------

def load(path: str | os.PathLike) -> dlnetwork:
    """Read a network written by ``save``; arrays go to the active backend.

    Raises FileNotFoundError for a missing file, and ValueError for a file that is corrupt,
    truncated, not a minidl network, of an unknown format version, or whose structure was altered.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: '{path}'")
    arrays = _read_archive(path)
    if "__structure__" not in arrays:
        raise ValueError(f"load: '{path}' is not a minidl network file (no __structure__ entry).")
    try:
        structure = json.loads(arrays.pop("__structure__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"load: the structure of '{path}' is corrupt or was altered: {err}") \
            from None
    if not isinstance(structure, dict) or structure.get("format") != FORMAT:
        raise ValueError(f"load: '{path}' is not a minidl network file (format "
                         f"{structure.get('format') if isinstance(structure, dict) else None!r}, "
                         f"expected {FORMAT!r}).")
    if structure.get("version") != VERSION:
        raise ValueError(f"load: '{path}' has format version {structure.get('version')!r}; this "
                         f"minidl reads version {VERSION}.")
    try:
        return _rebuild(structure, arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"load: the structure of '{path}' is invalid (altered or corrupt): "
                         f"{err}") from None


def _read_archive(path: str) -> dict[str, np.ndarray]:
    """Every array of the .npz, read now (so a truncated member fails here), pickle refused."""
    try:
        with open(path, "rb") as f:  # ours to close, even when NumPy fails half-way
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with archive:
                return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ValueError(f"load: '{path}' is not a valid minidl network file (corrupt, "
                         f"truncated or another kind of file): {err}") from None


def _rebuild(structure: dict, arrays: dict[str, np.ndarray]) -> dlnetwork:
    xp = active_module()
    layers = []
    for entry in _typed(structure["layers"], list):
        cls = registered_layer(_typed(entry["class"], str))
        if cls is None:
            raise ValueError(f"layer class '{entry['class']}' is not registered: import the "
                             "module that defines it (decorated with register_layer) first")
        layer = cls.__new__(cls)
        values = {key: _decode(v) for key, v in _typed(entry["attributes"], dict).items()}
        for key, ref in _typed(entry["arrays"], dict).items():
            data = arrays[_typed(ref["key"], str)]
            if data.dtype.kind not in "biuf":
                raise ValueError(f"array '{ref['key']}' has non-numeric dtype {data.dtype}")
            values[key] = dlarray._wrap(to_module(data, xp), _typed(ref["fmt"], str)) \
                if ref["dlarray"] else data
        for key, value in values.items():
            if not isinstance(key, str) or not key.isidentifier() or key.startswith("__"):
                raise ValueError(f"invalid property name {key!r}")
            object.__setattr__(layer, key, value)
        layers.append(layer)
    info = _typed(structure["network"], dict)
    net = dlnetwork.__new__(dlnetwork)
    net._layers = layers
    net._initialized = bool(info["initialized"])
    net._activations = [(tuple(size), str(fmt)) for size, fmt in _decode(info["activations"])]
    example = _decode(info["example"])
    net._example = None if example is None else (tuple(example[0]), str(example[1]))
    net.ClassNames = _decode(info["ClassNames"])
    return net
