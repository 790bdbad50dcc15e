"""minidl's random numbers: one NumPy generator on the host, seeded by MATLAB's ``rng``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["rng"]


# Random numbers come from one NumPy generator on the host, so a seed gives the same weights and
# the same shuffles on every backend; arrays are then moved to the active device.
_generator = np.random.default_rng(0)
_thread = threading.local()  # .generator: a run's own generator (own_generator)


GENERATORS = ("twister", "simdTwister", "combRecursive", "multFibonacci", "philox",
              "threefry", "v5uniform", "v5normal", "v4")
"""MATLAB's generator names: accepted by ``rng`` so transcribed calls run; all use NumPy's."""


def rng(seed: int | str = "default", generator: str = "twister") -> None:
    """Seed minidl's random numbers (initial weights, shuffling, dropout), like MATLAB's rng.

    ``rng("default")`` is ``rng(0)``; ``rng("shuffle")`` seeds from the operating system.
    ``generator`` takes MATLAB's names ("twister", "philox", ...) but every one seeds NumPy's
    default generator (PCG64): the same seed gives the same numbers in minidl, not MATLAB's.
    """
    global _generator
    if not (isinstance(generator, str) and generator.lower() in
            {g.lower() for g in GENERATORS}):
        raise ValueError(f"rng: generator must be one of {', '.join(GENERATORS)}, got "
                         f"{generator!r}")
    if isinstance(seed, str) and seed == "default":
        seed = 0
    elif isinstance(seed, str) and seed == "shuffle":
        seed = None
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError("rng seed must be a nonnegative integer, 'default' or 'shuffle', "
                         f"got {seed!r}")
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator behind minidl's random numbers (see ``rng``): the global one, or on a
    thread inside ``own_generator`` (a trainnet run), that run's own."""
    return getattr(_thread, "generator", None) or _generator


@contextmanager
def own_generator() -> Iterator[np.random.Generator]:
    """Inside the block, this thread draws from a generator of its own, seeded once from the
    global generator on entry: a training run's shuffles, dropout and augmentation then depend
    on ``rng`` and not on what other threads draw meanwhile."""
    before = getattr(_thread, "generator", None)
    _thread.generator = np.random.default_rng(int(generator().integers(2**63)))
    try:
        yield _thread.generator
    finally:
        _thread.generator = before


def permutation(n: int) -> np.ndarray:
    """A random order of n observations from minidl's generator (seeded by ``rng``)."""
    return generator().permutation(n)
