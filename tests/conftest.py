"""Shared fixtures: the backend each test runs on, and seeded random data."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import minidl  # noqa: E402
from minidl.backend import canUseGPU, to_module, use_backend  # noqa: E402
from tests import fakegpu  # noqa: E402,F401  (registers the 'fakegpu' test double)

BACKENDS = ["numpy", "fakegpu", pytest.param("cupy", marks=pytest.mark.gpu)]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """Run the test on NumPy, on the CuPy test double, and on CuPy when a GPU is present.

    Yields the array module; new arrays minidl makes (weights, mini-batches) go there too.
    """
    name = request.param
    if name == "cupy" and not canUseGPU():
        pytest.skip("needs CuPy and a CUDA device (none here): the CuPy path runs on GPU machines")
    use_backend(name)
    try:
        yield minidl.backend.active_module()
    finally:
        use_backend("numpy")


def dev(xp, a):
    """Copy a NumPy array (or nested arrays) to module xp."""
    return to_module(np.asarray(a), xp)


def host(a):
    """A NumPy copy of a raw array or dlarray's data."""
    if isinstance(a, minidl.dlarray):
        a = a.extractdata()
    return to_module(a, np)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
