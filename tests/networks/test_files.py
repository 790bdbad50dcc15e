"""Issue 18, files are data, and bounded: crafted .npz files (built here by hand with zipfile,
NumPy's .npy format and json, as minidl/io.py documents the format) must give a ValueError from
``load`` before anything large is allocated; stored properties pass the constructors'
validators; killed saves leave no temporaries behind for good; imageDatastore takes regular
files only."""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

import minidl as dl

# ---- crafting files ----------------------------------------------------------------------------

def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _structure(path) -> dict:
    return json.loads(np.load(path)["__structure__"].tobytes())


def _write(path, structure, members: dict[str, bytes] | None = None, text: bytes | None = None,
           compress: dict[str, int] | None = None) -> None:
    """An .npz at ``path`` with ``members`` (name.npy -> bytes) and the given structure."""
    members = dict(members or {})
    text = json.dumps(structure).encode() if text is None else text
    members["__structure__.npy"] = _npy(np.frombuffer(text, dtype=np.uint8))
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=(compress or {}).get(name, zipfile.ZIP_STORED))


def _saved(tmp_path, layers, initialize=True, name="net.npz"):
    net = dl.dlnetwork(layers, Initialize=initialize)
    path = tmp_path / name
    dl.save(net, path)
    return path, _structure(path), _members(path)


def _layer(structure, cls):
    return next(e for e in structure["layers"] if e["class"] == cls)


def _load_fails(path, match=None):
    with pytest.raises(ValueError, match=match):
        dl.load(path)


def _conv_layers():
    return [dl.imageInputLayer([4, 4, 1], Normalization="none"),
            dl.convolution2dLayer(3, 2, Padding=1), dl.leakyReluLayer(0.1),
            dl.dropoutLayer(0.3), dl.fullyConnectedLayer(2), dl.softmaxLayer()]


# ---- sizes claimed by a small file ---------------------------------------------------------------

def test_huge_input_size_in_a_small_file(tmp_path):
    """A file of a few KB declaring a 1e6 x 1e6 input: a ValueError, not MemoryError (or an
    attempt to allocate terabytes)."""
    for initialize in (True, False):
        path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)],
                            initialize)
        _layer(s, "FeatureInputLayer")["attributes"]["InputSize"] = 10**12
        _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
        assert os.path.getsize(path) < 5000
        path2, s2, m2 = _saved(tmp_path, [dl.imageInputLayer([4, 4, 1], Normalization="none"),
                                          dl.flattenLayer()], initialize, "img.npz")
        _layer(s2, "ImageInputLayer")["attributes"]["InputSize"] = {"__tuple__": [10**6, 10**6,
                                                                               1]}
        _write(path2, s2, {k: v for k, v in m2.items() if k != "__structure__.npy"})
        for p in (path, path2):
            _load_fails(p)


def test_huge_padding_in_a_small_file(tmp_path):
    path, s, m = _saved(tmp_path, _conv_layers())
    conv = _layer(s, "Convolution2DLayer")["attributes"]
    conv["PaddingSize"] = {"__tuple__": [10**6] * 4}
    conv["Stride"] = {"__tuple__": [10**6, 10**6]}  # output stays small; the padded input not
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path)


def test_npy_header_claiming_1e12_elements(tmp_path):
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    m["layer1.Weights.npy"] = buf.getvalue() + b"\0" * 24
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path)


def test_unreferenced_member_is_not_read(tmp_path):
    """A member no layer references (here 64 MB of zeros, deflated to some 64 KB) is never
    inflated: loading stays far below its size."""
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    members = {k: v for k, v in m.items() if k != "__structure__.npy"}
    members["junk.npy"] = _npy(np.zeros(16 * 2**20, dtype=np.float32))
    _write(path, s, members, compress={"junk.npy": zipfile.ZIP_DEFLATED})
    assert os.path.getsize(path) < 2**20
    tracemalloc.start()
    try:
        dl.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"load allocated {peak / 2**20:.0f} MB for an unreferenced member"


def test_member_size_must_match_its_header(tmp_path):
    """A deflated member whose declared size exceeds what its header says is refused."""
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    m["layer1.Weights.npy"] = m["layer1.Weights.npy"] + b"\0" * 4096  # trailing bytes
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path)


def test_deeply_nested_json(tmp_path):
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    text = json.dumps(s).encode()
    deep = b"[" * 100000 + b"]" * 100000
    text = text.replace(b'"Name": "fc"', b'"Name": "fc", "Junk": ' + deep)
    _write(path, None, {k: v for k, v in m.items() if k != "__structure__.npy"}, text=text)
    _load_fails(path)


def test_empty_list_where_a_structure_is_expected(tmp_path):
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)],
                        initialize=False)
    s["network"]["example"] = []
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path)
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    s["network"]["activations"] = [[]] * 2
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path)


# ---- stored properties pass the constructors' validators ---------------------------------------

@pytest.mark.parametrize("initialize", [True, False])
@pytest.mark.parametrize("cls,prop,value", [
    ("DropoutLayer", "Probability", 5),
    ("LeakyReLULayer", "Scale", float("nan")),
    ("Convolution2DLayer", "WeightLearnRateFactor", -1.0),
    ("Convolution2DLayer", "BiasL2Factor", "big"),
    ("FullyConnectedLayer", "WeightsInitializer", "bogus"),
    ("ImageInputLayer", "Normalization", "bogus"),
    ("Convolution2DLayer", "Stride", {"__tuple__": [0, 0]}),
    ("Convolution2DLayer", "NumFilters", 0),
    ("Convolution2DLayer", "FilterSize", {"__tuple__": [0, 3]}),
    ("FullyConnectedLayer", "OutputSize", "x"),
])
def test_stored_property_is_validated(tmp_path, initialize, cls, prop, value):
    path, s, m = _saved(tmp_path, _conv_layers(), initialize)
    _layer(s, cls)["attributes"][prop] = value
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path, match=prop)


def test_uninitialized_network_file_fails_at_load_not_initialize(tmp_path):
    path, s, m = _saved(tmp_path, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2),
                                   dl.batchNormalizationLayer()], initialize=False)
    _layer(s, "FullyConnectedLayer")["attributes"]["OutputSize"] = {"__tuple__": []}
    _write(path, s, {k: v for k, v in m.items() if k != "__structure__.npy"})
    _load_fails(path)


# ---- temporaries ---------------------------------------------------------------------------------

def test_stale_temporary_of_a_killed_save_is_removed(tmp_path):
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    target = tmp_path / "net.npz"
    stale = tmp_path / ".net.npz.abc123.tmp"  # what a save killed mid-write leaves
    stale.write_bytes(b"PK\3\4" + b"\0" * 1000)
    other = tmp_path / ".other.npz.abc123.tmp"  # another target's: not ours to remove
    other.write_bytes(b"x")
    dl.save(net, target)
    assert not stale.exists()
    assert other.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".net.npz")] == []


def test_save_does_not_remove_a_temporary_being_written(tmp_path):
    """Two saves of one target at the same time both succeed (neither removes the other's
    temporary while it is being written)."""
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(200),
                        dl.fullyConnectedLayer(200)])
    target = tmp_path / "net.npz"
    errors = []

    def work():
        try:
            for _ in range(5):
                dl.save(net, target)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    dl.load(target)


# ---- imageDatastore: regular files only ----------------------------------------------------------

def _png(path):
    """A 2x2 grayscale PNG written by hand (zlib + struct), so no image library is needed."""
    import zlib

    raw = b"".join(b"\0" + bytes([0, 255]) for _ in range(2))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_image_datastore_skips_named_pipes(tmp_path):
    sub = tmp_path / "cats"
    sub.mkdir()
    _png(sub / "a.png")
    os.mkfifo(sub / "x.png")
    os.mkdir(sub / "folder.png")
    ds = dl.imageDatastore(str(tmp_path), IncludeSubfolders=True)
    assert [os.path.basename(f) for f in ds.Files] == ["a.png"]
    ds = dl.imageDatastore(str(sub / "*.png"))
    assert [os.path.basename(f) for f in ds.Files] == ["a.png"]
    with pytest.raises((ValueError, FileNotFoundError), match="x.png"):
        dl.imageDatastore(str(sub / "x.png"))
