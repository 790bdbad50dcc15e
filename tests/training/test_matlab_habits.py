"""Issue 18, MATLAB habits: confusionmat, confusionchart (a matplotlib figure saved as PNG, with
RowSummary and ColumnSummary), categories, helpful messages for MATLAB names minidl lacks, and
Verbose=false is quiet."""

from __future__ import annotations

import numpy as np
import pytest

import minidl as dl

TRUE = np.array(["cat", "dog", "dog", "bird", "cat", "dog"])
PRED = np.array(["cat", "cat", "dog", "bird", "dog", "dog"])


def test_confusionmat_counts_true_rows_predicted_columns():
    C = dl.confusionmat(TRUE, PRED)
    # classes in sorted order: bird, cat, dog
    np.testing.assert_array_equal(C, [[1, 0, 0], [0, 1, 1], [0, 1, 2]])
    assert C.sum() == len(TRUE)


def test_confusionmat_order_and_numeric_labels():
    C = dl.confusionmat(TRUE, PRED, Order=["dog", "cat", "bird"])
    np.testing.assert_array_equal(C, [[2, 1, 0], [1, 1, 0], [0, 0, 1]])
    C = dl.confusionmat(np.array([1, 2, 2, 3]), np.array([1, 2, 3, 3]))
    np.testing.assert_array_equal(C, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_confusionmat_checks_its_arguments():
    with pytest.raises(ValueError, match="same number"):
        dl.confusionmat(TRUE, PRED[:3])
    with pytest.raises(ValueError, match="Order"):
        dl.confusionmat(TRUE, PRED, Order=["dog", "cat"])


def test_categories_are_the_sorted_distinct_labels():
    assert list(dl.categories(TRUE)) == ["bird", "cat", "dog"]
    assert list(dl.categories(np.array([3, 1, 3, 2]))) == [1, 2, 3]
    with pytest.raises(TypeError, match="labels"):
        dl.categories(None)


def test_confusionchart_saves_a_png_with_summaries(tmp_path):
    pytest.importorskip("matplotlib")
    cm = dl.confusionchart(TRUE, PRED, RowSummary="row-normalized",
                           ColumnSummary="column-normalized", Title="Pets")
    np.testing.assert_array_equal(cm.NormalizedValues, dl.confusionmat(TRUE, PRED))
    assert list(cm.ClassLabels) == ["bird", "cat", "dog"]
    assert cm.RowSummary == "row-normalized" and cm.ColumnSummary == "column-normalized"
    path = tmp_path / "chart.png"
    cm.saveas(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cm2 = dl.confusionchart(dl.confusionmat(TRUE, PRED), ["bird", "cat", "dog"])
    np.testing.assert_array_equal(cm2.NormalizedValues, cm.NormalizedValues)
    with pytest.raises(ValueError, match="RowSummary"):
        dl.confusionchart(TRUE, PRED, RowSummary="sideways")


@pytest.mark.parametrize("name,hint", [
    ("classify", "scores2label"),
    ("activations", "Outputs"),
    ("plotconfusion", "confusionchart"),
    ("categorical", "categories"),
])
def test_missing_matlab_names_say_what_to_use(name, hint):
    with pytest.raises(AttributeError, match=hint):
        getattr(dl, name)


def test_verbose_false_is_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X = np.random.default_rng(0).random((32, 3)).astype("float32")
    T = np.array(["a", "b"] * 16)
    opts = dl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=16, Verbose=False,
                              Plots="training-progress")
    _, info = dl.trainnet(X, T, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2),
                                 dl.softmaxLayer()], "crossentropy", opts)
    assert capsys.readouterr().out == ""
    assert info.PlotFile and (tmp_path / "training-progress.png").exists()
