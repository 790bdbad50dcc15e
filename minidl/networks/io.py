"""``save(net, path)`` and ``load(path)``: a dlnetwork in one .npz file, without pickle.

The file is a NumPy .npz archive read with ``allow_pickle=False``:

* one array per learnable, state and other array-valued property, named ``layer<i>.<Property>``
  (gathered to host memory, so a network trained on a GPU loads anywhere), of exactly its shape
  and dtype (bool, integer, float, complex or text; ``save`` refuses object arrays with a
  TypeError naming the layer and property, since they cannot be read without pickle);
* ``network.ClassNames`` when ClassNames is an array of numbers or text (it comes back an array
  of that dtype; a 1-D object array goes into the JSON as a list and comes back an object array);
* ``__structure__``: UTF-8 JSON (as uint8) with the format name and version, each layer's
  registered class name and its other properties (numbers, strings, tuples, lists), the
  network's other ClassNames, activation sizes and initialization state, and, for a network
  that is not a plain chain, its connections (source, destination layer, destination input)
  and the sizes of its example inputs.

A chain of layers is written as format version 1 (as before graphs existed, so older minidl
reads it); any other graph as version 2, which older minidl refuses by its version instead of
misreading it as a chain.

Loading never runs code from the file: only layer classes registered with ``register_layer``
(every built-in layer; custom ones opt in) can be rebuilt, and property values are plain data.
A Python function cannot be saved as data, so ``save`` raises a ValueError naming the layer for a
functionLayer, an input layer with a callable Normalization, or an unregistered custom layer.

``load`` checks what it rebuilds, so an altered file fails there with a ValueError rather than
later with an unrelated error: layer Names are unique non-empty strings, no property hides a
method of the layer class, learnables and state are float dlarrays (or empty), connections
join existing layers' outputs to existing inputs (each input fed once) without a cycle, and an
initialized network's layers, run on copies over zeros in topological order, keep their
learnables' sizes and give the recorded activation sizes.

``save`` writes a temporary file in the target's folder and renames it over the target
(``os.replace``), so a crash mid-write leaves the old file intact. ``load`` puts arrays on the
active backend.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import tempfile
import zipfile
from collections import Counter
from contextlib import suppress
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then left in place
    fcntl = None  # type: ignore[assignment]

import numpy as np

from .._matlab import MString, size_str
from ..backend import active_module, array_module, to_module
from ..core import canonical_format, dlarray
from ..layers import (
    STATISTICS,
    InputLayer,
    Layer,
    input_names,
    registered_layer,
    validate_properties,
)
from .graph import topological_order
from .network import check_network, dlnetwork

__all__ = ["save", "load"]

FORMAT = "minidl.dlnetwork"
VERSION = 1  # a chain of layers
GRAPH_VERSION = 2  # any other graph: connections and example inputs stored
_TAGS = ("__tuple__", "__dict__", "__mstring__")
_ARRAY_KINDS = "biufcSU"  # bool, numbers and text: what np.load reads without pickle
_CLASS_NAMES = "network.ClassNames"


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
    """A C-ordered NumPy array of an array's or dlarray's data, of exactly its shape (0-d too)."""
    data = v._data if isinstance(v, dlarray) else v
    return np.require(to_module(data, np), requirements="C")


# ---- checks shared by save and load: save refuses what load would refuse ------------------------

def _check_array(a: Any, where: str) -> None:
    """TypeError unless ``a`` (a host array) is one load reads back without pickle."""
    if a.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"{where} has dtype {a.dtype}, which cannot be stored without pickle; "
                        "expected a bool, integer, float, complex or text array.")


def _check_param(value: Any, where: str) -> None:
    """TypeError unless a learnable or state value is None (empty) or a float dlarray."""
    if value is not None and not (isinstance(value, dlarray) and value.dtype.kind == "f"):
        got = f"dtype {value.dtype}" if hasattr(value, "dtype") else type(value).__name__
        kind = "a plain array" if not isinstance(value, dlarray) else "a dlarray"
        raise TypeError(f"{where} must be a float dlarray or None (empty), got {kind} of {got}.")


def _check_key(cls: type, key: Any, where: str) -> None:
    """ValueError unless ``key`` can name a property of a ``cls`` layer without hiding a method."""
    if not isinstance(key, str) or not key.isidentifier() or key.startswith("__"):
        raise ValueError(f"{where}: invalid property name {key!r}; expected a Python identifier "
                         "that does not start with '__'.")
    if callable(getattr(cls, key, None)):
        raise ValueError(f"{where}: property '{key}' would hide the method {cls.__name__}.{key}; "
                         "expected a data property.")


def _check_dlarray(data: Any, fmt: str, where: str) -> None:
    """ValueError unless ``data`` and ``fmt`` are what a dlarray holds: float data and a format
    in canonical order (as the dlarray constructor leaves it)."""
    if data.dtype.kind != "f" or (fmt and canonical_format(fmt, data.ndim)[0] != fmt):
        raise ValueError(f"{where} of dtype {data.dtype} and size {size_str(data.shape)} cannot be "
                         f"a dlarray with format {fmt!r}; expected float data and a canonical "
                         "format such as 'SSCB'.")


def _check_names(names: list, prefix: str) -> None:
    """ValueError unless every layer Name is a non-empty string and no two are equal."""
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(f"{prefix}layer {i + 1} has Name {name!r}; expected a non-empty "
                             "string.")
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        where = [str(i + 1) for i, name in enumerate(names) if name == repeated[0]]
        raise ValueError(f"{prefix}layer names must be unique, but '{repeated[0]}' names layers "
                         f"{', '.join(where)}.")


def _label(layer: Layer) -> str:
    return f"layer '{layer.Name}' ({type(layer).__name__})"


# ---- save ----------------------------------------------------------------------------------------

def save(net: dlnetwork, path: str | os.PathLike) -> None:
    """Write ``net`` (layers, learnables, state, ClassNames) to ``path`` atomically (no pickle).

    The file is written exactly at ``path`` (no extension is added). Raises a ValueError naming
    the layer when a layer cannot be saved (see the module docstring).
    """
    check_network(net, "save")
    _check_names([layer.Name for layer in net.layers_view], "save: ")
    arrays: dict[str, np.ndarray] = {}
    layers = [_save_layer(i, layer, arrays) for i, layer in enumerate(net.layers_view)]
    info = {"initialized": net._initialized,
            "activations": _encode(net._activations, "the network"),
            **_save_class_names(net.ClassNames, arrays)}
    examples = [_encode(example, "the network") for example in net._examples]
    if net._connections == _chain(net.layers_view) and len(examples) <= 1:
        version, info["example"] = VERSION, examples[0] if examples else None
    else:
        version, info["examples"] = GRAPH_VERSION, examples
        info["connections"] = [list(c) for c in net._connections]
    structure = {"format": FORMAT, "version": version, "layers": layers, "network": info}
    text = json.dumps(structure).encode("utf-8")
    arrays["__structure__"] = np.frombuffer(text, dtype=np.uint8)
    _atomic_write(os.fspath(path), arrays)


def _save_layer(i: int, layer: Layer, arrays: dict[str, np.ndarray]) -> dict:
    """Layer ``i``'s structure entry; its arrays go into ``arrays`` as ``layer<i>.<Property>``."""
    cls, label = type(layer), _label(layer)
    if registered_layer(cls.__name__) is not cls:
        raise ValueError(f"save: {label} is a custom layer class that is not registered: "
                         "decorate the class with minidl.layers.register_layer so load can "
                         "rebuild it.")
    params = cls.learnables + cls.states
    attributes, refs = {}, {}
    for key, value in vars(layer).items():
        where = f"save: {label} property '{key}'"
        _check_key(cls, key, f"save: {label}")
        if key in params:
            _check_param(value, where)
        if value is not None and _is_array(value):
            name = f"layer{i}.{key}"
            arrays[name] = _host(value)
            _check_array(arrays[name], where)
            if isinstance(value, dlarray):
                _check_dlarray(arrays[name], value.fmt, where)
            refs[key] = {"key": name, "dlarray": isinstance(value, dlarray),
                         "fmt": value.fmt if isinstance(value, dlarray) else ""}
        else:
            attributes[key] = _encode(value, f"{label} property '{key}'")
    attributes.update({name: None for name in params if name not in vars(layer)})
    return {"class": cls.__name__, "attributes": attributes, "arrays": refs}


def _save_class_names(names: Any, arrays: dict[str, np.ndarray]) -> dict:
    """The network's ClassNames as structure entries, keeping an array an array of its dtype.

    A NumPy array is stored as an array (``ClassNamesKind`` "array"); an object array (say, of
    strings and numbers) as a JSON list rebuilt as a 1-D object array ("object"); anything else
    as JSON data, as before ClassNamesKind existed.
    """
    where = "save: the network's ClassNames"
    if not isinstance(names, np.ndarray):
        return {"ClassNames": _encode(names, "the network's ClassNames")}
    if names.dtype.kind == "O":
        if names.ndim != 1:
            raise TypeError(f"{where} is a {names.ndim}-D object array; expected a 1-D one, or "
                            "an array of numbers or text.")
        return {"ClassNames": _encode(names.tolist(), "the network's ClassNames"),
                "ClassNamesKind": "object"}
    _check_array(names, where)
    arrays[_CLASS_NAMES] = _host(names)
    return {"ClassNames": None, "ClassNamesKind": "array"}


def _temporary(folder: str, base: str) -> tuple[int, str]:
    """A new temporary file for ``base`` in ``folder``, open and locked (``flock``, where the
    system has it) for as long as the save writes it, so ``_remove_stale`` leaves it alone."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        with suppress(OSError):  # another save may have removed it before the lock was taken
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd, tmp
        os.close(fd)


def _remove_stale(folder: str, base: str) -> None:
    """Remove the temporaries that saves of ``base`` killed mid-write left behind (named as
    ``_temporary`` names them): those no running save holds locked. Without ``flock`` nothing
    is removed (a temporary being written cannot be told from a stale one)."""
    if fcntl is None:
        return
    prefix = f".{base}."
    with suppress(OSError):
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")
                 and len(n) > len(prefix) + 4]
        for name in names:
            stale = os.path.join(folder, name)
            with suppress(OSError):
                fd = os.open(stale, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                try:
                    if not os.path.isfile(stale):
                        continue
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: being written
                    if os.path.samestat(os.fstat(fd), os.stat(stale)):
                        os.unlink(stale)
                finally:
                    os.close(fd)


def _atomic_write(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the archive to a temporary file beside ``path``, then rename it over ``path``;
    first remove the temporaries that killed saves of the same target left behind."""
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale(folder, base)
    fd, tmp = _temporary(folder, base)
    lock = os.dup(fd)  # holds the lock until the rename, after the file itself is closed
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
    finally:
        os.close(lock)


# ---- load ----------------------------------------------------------------------------------------

def load(path: str | os.PathLike) -> dlnetwork:
    """Read a network written by ``save``; arrays go to the active backend.

    Raises FileNotFoundError for a missing file, and ValueError for a file that is corrupt,
    truncated, not a minidl network, of an unknown format version, or whose structure was altered.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: '{path}'")
    with open(path, "rb") as f:  # ours to close, even when reading fails half-way
        arrays = _Archive(f, path)
        return _load_from(arrays, path)


def _load_from(arrays: _Archive, path: str) -> dlnetwork:
    """``load`` on an open archive: the structure first, then only the members it names."""
    if "__structure__" not in arrays:
        raise ValueError(f"load: '{path}' is not a minidl network file (no __structure__ entry).")
    raw = arrays.pop("__structure__", MAX_STRUCTURE_BYTES).tobytes()
    try:
        text = raw.decode("utf-8")
        _check_nesting(text)
        structure = json.loads(text)
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"load: the structure of '{path}' is corrupt or was altered: {err}") \
            from None
    if not isinstance(structure, dict) or structure.get("format") != FORMAT:
        raise ValueError(f"load: '{path}' is not a minidl network file (format "
                         f"{structure.get('format') if isinstance(structure, dict) else None!r}, "
                         f"expected {FORMAT!r}).")
    if structure.get("version") not in (VERSION, GRAPH_VERSION):
        raise ValueError(f"load: '{path}' has format version {structure.get('version')!r}; this "
                         f"minidl reads version {VERSION} or {GRAPH_VERSION}.")
    try:
        return _rebuild(structure, arrays)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ValueError(f"load: the structure of '{path}' is invalid (altered or corrupt): "
                         f"{err}") from None


MAX_STRUCTURE_BYTES = 1 << 26  # 64 MiB of JSON: far more than any network's structure
MAX_ARRAY_BYTES = 1 << 35  # 32 GiB: no single stored array of a network is larger
MAX_JSON_DEPTH = 64  # nesting of the structure's JSON (a network's is below 10)
MAX_ELEMENTS = 1 << 28  # values per observation of an input, activation or padded input
DEFLATE_RATIO = 1100  # deflate inflates at most ~1032-fold: a member claiming more is false


class _Archive:
    """The members of an .npz, read one at a time when asked for (``arrays[key]``), so a member
    the structure does not reference is never inflated; each is checked before anything is
    allocated: its .npy header is a plain dtype and shape, and the bytes that shape needs are
    exactly what the member holds (after the header), within ``MAX_ARRAY_BYTES`` and what its
    compressed size can inflate to. Pickled data is refused (``allow_pickle`` is never on)."""

    def __init__(self, f: Any, path: str) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(f)
            self.names = {n[:-4]: n for n in self.zip.namelist() if n.endswith(".npy")}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise self._invalid(str(err) or "not a zip archive") from None

    def _invalid(self, reason: str) -> ValueError:
        return ValueError(f"load: '{self.path}' is not a valid minidl network file (corrupt, "
                          f"truncated or another kind of file): {reason}")

    def __contains__(self, key: str) -> bool:
        return key in self.names

    def pop(self, key: str, limit: int = MAX_ARRAY_BYTES) -> np.ndarray:
        return self.read(key, limit)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.names:
            raise KeyError(f"no array '{key}' in the file")
        return self.read(key, MAX_ARRAY_BYTES)

    def read(self, key: str, limit: int) -> np.ndarray:
        """Member ``key`` as a NumPy array, checked as the class docstring says."""
        name = self.names[key]
        try:
            info = self.zip.getinfo(name)
            if info.file_size > limit or (info.compress_type != zipfile.ZIP_STORED and
                                          info.file_size > DEFLATE_RATIO * info.compress_size
                                          + 4096):
                raise ValueError(f"member '{name}' claims {info.file_size} bytes, more than it "
                                 "can hold or than a network's array may have")
            with self.zip.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"member '{name}' has .npy format version {version}; "
                                     "save writes 1.0 or 2.0")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                    else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(member)  # a bounded header, no pickle
                if dtype.hasobject or dtype.kind not in _ARRAY_KINDS:
                    raise ValueError(f"member '{name}' has dtype {dtype}: it holds Python "
                                     "objects, which are never unpickled")
                count = math.prod(shape)
                nbytes = count * dtype.itemsize
                if nbytes + member.tell() != info.file_size:
                    raise ValueError(f"member '{name}' declares {size_str(shape) or 'scalar'} "
                                     f"{dtype} ({nbytes} bytes) but holds "
                                     f"{info.file_size - member.tell()} bytes of data")
                data = bytearray(nbytes)
                if member.readinto(data) != nbytes:
                    raise ValueError(f"member '{name}' is truncated")
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
            raise self._invalid(str(err)) from None
        array = np.frombuffer(data, dtype=dtype, count=count)
        return array.reshape(shape, order="F" if fortran else "C")


def _check_nesting(text: str) -> None:
    """ValueError when the JSON nests deeper than ``MAX_JSON_DEPTH`` (json and _decode recurse;
    a deeply nested file would otherwise end in RecursionError). Brackets inside strings do
    not count."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    steps = np.frombuffer(bare.encode("ascii", "replace"), dtype=np.uint8)
    opens = ((steps == ord("[")) | (steps == ord("{"))).astype(np.int64)
    closes = ((steps == ord("]")) | (steps == ord("}"))).astype(np.int64)
    depth = np.cumsum(opens - closes)
    if depth.size and depth.max() > MAX_JSON_DEPTH:
        raise ValueError(f"the structure nests {int(depth.max())} levels deep; a network's "
                         f"nests fewer than {MAX_JSON_DEPTH}")


def _check_elements(size: Any, what: str) -> None:
    """ValueError when a size the file claims has more than ``MAX_ELEMENTS`` values per
    observation (the batch dimension, last, does not count)."""
    values = math.prod(int(n) for n in size)
    if values > MAX_ELEMENTS:
        raise ValueError(f"{what} has size {size_str(size)}, {values} values per observation; at "
                         f"most {MAX_ELEMENTS} are allowed")


def _rebuild(structure: dict, arrays: dict[str, np.ndarray]) -> dlnetwork:
    """The network the structure describes, checked as the module docstring says (``load``
    turns any KeyError, TypeError, ValueError or AttributeError into its ValueError)."""
    xp = active_module()
    entries = _typed(structure["layers"], list)
    layers = [_load_layer(i, _typed(entry, dict), arrays, xp) for i, entry in enumerate(entries)]
    _check_names([layer.Name for layer in layers], "")
    for layer in layers:
        _check_layer(layer)
    info = _typed(structure["network"], dict)
    net = dlnetwork(Initialize=False)
    net._layers = layers
    if structure["version"] == VERSION:
        net._connections = _chain(layers)
        example = _decode(info["example"])
        examples = [] if example is None else [example]
    else:
        net._connections = _load_connections(layers, _typed(info["connections"], list))
        examples = _decode(_typed(info["examples"], list))
    examples = [_size_and_format(e, "an example input") for e in examples]
    activations = [_size_and_format(a, "an activation") for a in
                   _typed(_decode(info["activations"]), list)]
    net.ClassNames = _load_class_names(info, arrays)
    if _typed(info["initialized"], bool):
        _check_runs(net, activations, examples)
        net._set_initialized(activations, examples)
    elif activations:
        raise ValueError("an uninitialized network records activation sizes")
    else:
        net._examples = examples
    return net


def _chain(layers: list[Layer]) -> list[tuple[str, str, str]]:
    """The connections of ``layers`` joined in a chain (what dlnetwork(layers) makes)."""
    return [(a.Name, b.Name, (input_names(b) or ("",))[0]) for a, b in zip(layers, layers[1:])]


def _size_and_format(v: Any, what: str) -> tuple[tuple[int, ...], str]:
    """A recorded (size, format) pair, its size within ``MAX_ELEMENTS`` per observation."""
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ValueError(f"{what} must be recorded as [size, format], got {v!r:.80}")
    size = _size(v[0])
    _check_elements(size[:-1] if size else size, what)
    return size, _typed(v[1], str)


def _size(v: Any) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"a size must be a list of integers, got {type(v).__name__}")
    size = tuple(v)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in size):
        raise ValueError(f"a size must hold non-negative integers, got {v!r}")
    return size


def _load_connections(layers: list[Layer], entries: list) -> list[tuple[str, str, str]]:
    """Connections checked: [source, destination, input] strings naming existing layers and
    inputs, each input fed once, no cycle."""
    by_name = {layer.Name: layer for layer in layers}
    out: list[tuple[str, str, str]] = []
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 3
                and all(isinstance(x, str) for x in entry)):
            raise ValueError(f"a connection must be [source, destination, input], got {entry!r}")
        source, destination, inp = entry
        if source not in by_name or destination not in by_name:
            raise ValueError(f"the connection {entry!r} names a layer the network lacks")
        if inp not in input_names(by_name[destination]):
            raise ValueError(f"the connection {entry!r} ends at an input layer '{destination}' "
                             "does not have")
        if any(c[1:] == (destination, inp) for c in out):
            raise ValueError(f"input '{destination}/{inp}' is connected twice")
        out.append((source, destination, inp))
    topological_order(layers, out)  # a ValueError for a cycle
    return out


def _load_layer(i: int, entry: dict, arrays: dict[str, np.ndarray], xp: Any) -> Layer:
    """Layer ``i`` rebuilt from its entry: a registered class, checked property names and arrays.

    A learnable or state the entry lacks is set to None (empty), as an unset one reads.
    """
    cls = registered_layer(_typed(entry["class"], str))
    if cls is None:
        raise ValueError(f"layer class '{entry['class']}' is not registered: import the "
                         "module that defines it (decorated with register_layer) first")
    where = f"layer {i + 1} ({cls.__name__})"
    layer = cls.__new__(cls)
    values = {key: _decode(v) for key, v in _typed(entry["attributes"], dict).items()}
    for key, ref in _typed(entry["arrays"], dict).items():
        values[key] = _load_array(_typed(ref, dict), arrays, xp)
    values.update({name: None for name in cls.learnables + cls.states if name not in values})
    for key, value in values.items():
        _check_key(cls, key, where)
        object.__setattr__(layer, key, value)
    return layer


def _load_array(ref: dict, arrays: dict[str, np.ndarray], xp: Any) -> Any:
    """The array ``ref`` names: a dlarray on the active backend, or a host NumPy array."""
    key = _typed(ref["key"], str)
    data = arrays[key]
    _check_array(data, f"array '{key}'")
    if not _typed(ref["dlarray"], bool):
        return data
    fmt = _typed(ref["fmt"], str)
    _check_dlarray(data, fmt, f"array '{key}'")
    return dlarray._wrap(to_module(data, xp), fmt)


def _check_layer(layer: Layer) -> None:
    """Learnables and state are float dlarrays or None; an input layer's sizes and statistics
    fit its format (so an uninitialized network fails here too, not at initialize)."""
    label = _label(layer)
    for name in type(layer).learnables + type(layer).states:
        _check_param(getattr(layer, name), f"{label} {name}")
    validate_properties(layer, label)  # the constructors' validators (layers.properties)
    if not isinstance(layer, InputLayer):
        return
    size = layer.sample_size
    per_observation = len(layer.fmt.replace("B", "").replace("T", ""))  # "SSCB": 3, "CBT": 1
    if len(size) != per_observation or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size):
        raise ValueError(f"{label}: InputSize {layer.InputSize!r} does not fit its format "
                         f"'{layer.fmt}'; expected {per_observation} positive integers.")
    _check_elements(size, f"{label}: InputSize")
    for stat in STATISTICS:
        if getattr(layer, stat, None) is not None:
            object.__setattr__(layer, stat, layer._check_statistic(stat, getattr(layer, stat)))


def _check_runs(net: dlnetwork, activations: list, examples: list) -> None:
    """An initialized network's layers, on copies and in topological order, infer the recorded
    sizes, keep the sizes of their learnables and state, and run ``predict`` on zeros: weights
    or hyperparameters altered to values the network cannot run with fail here, naming the
    layer."""
    layers = list(net.layers_view)
    if len(activations) != len(layers):
        raise ValueError(f"the network records {len(activations)} activation sizes for "
                         f"{len(layers)} layers")
    endpoints = net._input_endpoints()
    open_inputs = [ep for ep in endpoints if ep[1] is not None]
    if len(examples) != len(open_inputs):
        raise ValueError(f"the network is initialized but records {len(examples)} example input "
                         f"sizes for {len(open_inputs)} inputs without an input layer")
    given = dict(zip(open_inputs, examples))
    index = {layer.Name: i for i, layer in enumerate(layers)}
    feeds = {(index[d], inp): index[s] for s, d, inp in net._connections}
    for i in topological_order(layers, net._connections):
        layer, recorded = layers[i], activations[i]
        if isinstance(layer, InputLayer):
            inputs = []
        else:
            inputs = [activations[feeds[(i, inp)]] if (i, inp) in feeds else given[(i, inp)]
                      for inp in input_names(layer)]
        for out in _probe(layer, inputs):
            if out != recorded:
                raise ValueError(f"{_label(layer)} gives output size {size_str(out[0])} "
                                 f"({out[1]}), but the file records {size_str(recorded[0])} "
                                 f"({recorded[1]})")


def _probe(layer: Layer, inputs: list[tuple[tuple[int, ...], str]]) -> list[tuple]:
    """(output size, format) that a copy of ``layer`` initialized for zeros of the ``inputs``
    sizes reports, and that its predict on them gives; a ValueError naming the layer when it
    fails or resizes a learnable or state. An input layer (no inputs) runs on zeros of its own
    size."""
    trial, label = copy.copy(layer), _label(layer)
    per_observation = getattr(type(layer), "batch_states", ())  # H x N recurrent states
    for name in per_observation:  # the probe runs one observation, from the initial state
        object.__setattr__(trial, name, None)
    xp = active_module()
    shown = ", ".join(f"{size_str(size)} ({fmt})" for size, fmt in inputs)
    padding = getattr(layer, "PaddingSize", None)
    if isinstance(padding, tuple) and len(padding) == 4 and len(inputs) == 1 \
            and len(inputs[0][0]) == 4 and all(isinstance(p, int) for p in padding):
        (h, w, c, _), _ = inputs[0]
        t, b, left, right = padding
        _check_elements((h + t + b, w + left + right, c), f"{label}: the padded input")
    try:
        if isinstance(trial, InputLayer):
            out_size, out_fmt = trial.initialize()
            inputs = [(out_size, out_fmt)]
            shown = f"{size_str(out_size)} ({out_fmt})"
        elif len(inputs) == 1:
            out_size, out_fmt = trial.initialize(*inputs[0])
        else:
            out_size, out_fmt = trial.initialize([s for s, _ in inputs], [f for _, f in inputs])
        Y = trial.predict(*[dlarray._wrap(xp.zeros(size, dtype="float32"), fmt)
                            for size, fmt in inputs])
    except MemoryError:
        raise
    except Exception as err:  # any other failure of the layer's own code: the file is unusable
        raise ValueError(f"{label} does not run with its saved properties on input of size "
                         f"{shown}: {type(err).__name__}: {err}") from err
    for name in type(layer).learnables + type(layer).states:
        if name in per_observation:
            saved = getattr(layer, name)  # rows: H per direction (2H for bilstmLayer)
            hidden = getattr(layer, "state_rows", getattr(layer, "NumHiddenUnits", None))
            if saved is not None and (saved.ndim != 2 or saved.shape[0] != hidden):
                raise ValueError(f"{label}: its saved {name} has size {size_str(saved.shape)}, but "
                                 f"it should be {hidden}xN")
            continue
        saved, needed = getattr(layer, name), getattr(trial, name)
        if saved is None and needed is not None:
            raise ValueError(f"{label}: its {name} is missing, but the network is initialized "
                             f"(expected size {size_str(needed.shape)})")
        if saved is not None and (needed is None or needed.shape != saved.shape):
            should = "empty" if needed is None else f"of size {size_str(needed.shape)}"
            raise ValueError(f"{label}: its saved {name} has size {size_str(saved.shape)}, but it "
                             f"should be {should}")
    return [(tuple(out_size), out_fmt), (tuple(Y.shape), Y.fmt)]


def _load_class_names(info: dict, arrays: dict[str, np.ndarray]) -> Any:
    """ClassNames as saved: JSON data, an array, or a 1-D object array (see _save_class_names)."""
    kind = info.get("ClassNamesKind")
    if kind is None:
        return _decode(info["ClassNames"])
    if kind == "array":
        names = arrays[_CLASS_NAMES]
        _check_array(names, f"array '{_CLASS_NAMES}'")
        return names
    if kind == "object":
        items = _typed(_decode(info["ClassNames"]), list)
        names = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):  # one by one: list items stay lists, not a 2-D array
            names[i] = item
        return names
    raise ValueError(f"unknown ClassNamesKind {kind!r}; expected 'array' or 'object'")
