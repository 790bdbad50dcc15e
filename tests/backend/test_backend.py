"""The backend switch, device moves, and the rule that import minidl loads nothing optional."""

import subprocess
import sys

import numpy as np
import pytest

import minidl as dl
import minidl.backend as backend
from tests.fakegpu import FakeDeviceArray


def test_import_loads_neither_matplotlib_nor_cupy():
    code = ("import sys, minidl; "
            "print('matplotlib' in sys.modules, 'cupy' in sys.modules, 'PIL' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="unknown backend 'tpu'.*'numpy', 'cupy', 'auto'"):
        dl.use_backend("tpu")
    with pytest.raises(TypeError, match="must be a string"):
        dl.use_backend(3)


def test_cupy_request_without_cupy_or_gpu_is_a_clear_error():
    if dl.canUseGPU():
        pytest.skip("a GPU is present here: the error path cannot be exercised")
    with pytest.raises(backend.BackendUnavailableError, match="CuPy|CUDA"):
        dl.use_backend("cupy")
    assert dl.use_backend("auto") == "numpy"


def test_environment_variable_selects_the_backend():
    code = "import minidl.backend as b; print(b.active_name())"
    env = {"MINIDL_BACKEND": "auto", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() in ("numpy", "cupy")


def test_gpuarray_and_gather_round_trip_on_the_device_double():
    dl.use_backend("fakegpu")
    try:
        X = dl.dlarray(np.arange(6.0).reshape(2, 3), "CB")
        G = dl.gpuArray(X)
        assert isinstance(dl.extractdata(G), FakeDeviceArray) and G.fmt == "CB"
        H = dl.gather(G * 2)
        assert isinstance(dl.extractdata(H), np.ndarray)
        np.testing.assert_array_equal(dl.extractdata(H), np.arange(6.0).reshape(2, 3) * 2)
        raw = dl.gpuArray(np.ones(3))
        assert isinstance(raw, FakeDeviceArray)
        assert isinstance(dl.gather(raw), np.ndarray)
    finally:
        dl.use_backend("numpy")


def test_mixing_host_and_device_arrays_is_an_error():
    dl.use_backend("fakegpu")
    try:
        device = dl.dlarray(dl.gpuArray(np.ones(3)))
        with pytest.raises(TypeError, match="cannot mix fakegpu and numpy arrays"):
            device + dl.dlarray(np.ones(3))
    finally:
        dl.use_backend("numpy")


def test_rng_makes_draws_repeatable_and_checks_its_seed():
    dl.rng(7)
    a = backend.generator().standard_normal(3)
    dl.rng(7)
    np.testing.assert_array_equal(a, backend.generator().standard_normal(3))
    dl.rng("default")
    with pytest.raises(ValueError, match="nonnegative integer"):
        dl.rng(-1)
    dl.rng(7, "twister")  # MATLAB's generator names are accepted; the stream is minidl's own
    np.testing.assert_array_equal(a, backend.generator().standard_normal(3))
    dl.rng(7, "Philox")
    np.testing.assert_array_equal(a, backend.generator().standard_normal(3))
    with pytest.raises(ValueError, match="generator must be one of twister, .*got 'mt19937'"):
        dl.rng(7, "mt19937")


def test_scatter_add_accumulates_on_both_backends():
    for xp in (np, backend.backend_module("fakegpu")):
        target = xp.zeros(3)
        backend.scatter_add(target, xp.asarray(np.array([0, 0, 2])), xp.asarray(np.ones(3)))
        np.testing.assert_array_equal(backend.to_module(target, np), [2, 0, 1])
