"""Networks saved by an earlier minidl load and predict as they did when they were saved.

fixtures/saved holds networks written by the minidl of commit b048ed7 (before the package moved
into rooms; ``make_saved.py`` there says how), each with the input it was given and the
prediction it made then: a chain with input statistics, batch and instance normalization and
class names (save format 1), a graph with a skip connection and layer normalization (format 2),
and an LSTM network.
"""

from pathlib import Path

import numpy as np
import pytest

import minidl as dl

SAVED = Path(__file__).parent / "fixtures" / "saved"
FORMATS = {"chain": "SSCB", "graph": "CB", "recurrent": "CBT"}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_network_saved_before_loads_and_predicts_the_same(name):
    net = dl.load(SAVED / f"{name}.npz")
    X = dl.dlarray(np.load(SAVED / f"{name}_X.npy"), FORMATS[name])
    then = np.load(SAVED / f"{name}_Y.npy")
    now = net.predict(X).extractdata()
    assert now.dtype == np.float32 and now.shape == then.shape
    np.testing.assert_allclose(now, then, rtol=1e-5, atol=1e-6 * float(np.abs(then).max()))


def test_a_saved_network_keeps_its_class_names_and_structure():
    chain = dl.load(SAVED / "chain.npz")
    assert list(chain.ClassNames) == ["a", "b", "c"]
    assert len(chain.Layers) == 10 and chain.Initialized
    graph = dl.load(SAVED / "graph.npz")
    assert ("skip", "add", "in2") in {tuple(c) for c in zip(
        graph.Connections.Source, [d.split("/")[0] for d in graph.Connections.Destination],
        [d.split("/")[-1] for d in graph.Connections.Destination])}
