"""dlarray: construction, formats and their rules, operators, reductions, indexing."""

import numpy as np
import pytest

import minidl as dl
from minidl.core import primitives as M
from tests.conftest import dev, host

NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"  # the copy= protocol of __array__


def test_numeric_conversion_rules():
    assert dl.dlarray(np.array([True, False])).dtype == np.float32
    assert dl.dlarray(np.arange(3)).dtype == np.float32
    assert dl.dlarray(np.ones(2, np.float32)).dtype == np.float32
    assert dl.dlarray(np.ones(2, np.float64)).dtype == np.float64
    with pytest.raises(TypeError, match="numeric"):
        dl.dlarray("abc")
    with pytest.raises(TypeError, match="numeric"):
        dl.dlarray(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="complex"):
        dl.dlarray(np.ones(2, complex))


@pytest.mark.parametrize("fmt, message", [
    ("SSXB", "invalid dimension label 'X'"),
    ("SCCB", "more than one 'C'"),
    ("SBB", "more than one 'B'"),
    ("SS", "2 labels but the data has 4 dimensions"),
])
def test_format_errors(fmt, message):
    with pytest.raises(ValueError, match=message):
        dl.dlarray(np.zeros((2, 3, 4, 5)), fmt)


def test_format_is_permuted_to_canonical_order(xp, rng):
    x = rng.standard_normal((5, 3, 4, 6)).astype(np.float32)  # N C H W
    X = dl.dlarray(dev(xp, x), "BCSS")
    assert dl.dims(X) == "SSCB"
    assert X.shape == (4, 6, 3, 5)
    np.testing.assert_array_equal(host(X), x.transpose(2, 3, 1, 0))
    assert dl.dims(dl.dlarray(np.zeros((2, 3)), "TC")) == "CT"
    assert dl.dims(dl.dlarray(np.zeros((2, 3)), "TS")) == "ST"


def test_trailing_singleton_labels_and_queries():
    X = dl.dlarray(np.zeros((28, 28, 3)), "SSCB")
    assert X.shape == (28, 28, 3, 1)
    assert dl.finddim(X, "S") == [0, 1]
    assert dl.finddim(X, "B") == [3]
    assert dl.finddim(X, "T") == []
    assert dl.dims(dl.stripdims(X)) == ""
    assert dl.dims(dl.dlarray(np.zeros(3))) == ""
    assert isinstance(dl.extractdata(X), np.ndarray)
    with pytest.raises(ValueError, match="label must be one of"):
        dl.finddim(X, "Q")
    with pytest.raises(TypeError, match="expects a dlarray"):
        dl.dims(np.zeros(3))


def test_relabel_existing_dlarray_is_differentiable():
    x = np.arange(6.0).reshape(2, 3)
    X = dl.dlarray(dl.dlarray(x), "CS")
    assert X.fmt == "SC" and X.shape == (3, 2)

    def f(a):
        return (dl.dlarray(a, "CS") * np.arange(6.0).reshape(3, 2)).sum()

    assert dl.gradcheck(f, dl.dlarray(x)) < 1e-8


def test_repr_shows_sizes_labels_and_precision():
    text = repr(dl.dlarray(np.zeros((28, 28, 3, 2), np.float32), "SSCB"))
    assert "28(S) × 28(S) × 3(C) × 2(B) single dlarray" in text
    assert "2×3 dlarray" in repr(dl.dlarray(np.zeros((2, 3))))


def test_operators_keep_format_and_dtype(xp, rng):
    a = dl.dlarray(dev(xp, rng.random((2, 3)).astype(np.float32)), "CB")
    for out in (a + 1, 1 - a, a * 2.5, a / 3, 2 ** a, a ** 2, -a, abs(a), a + a):
        assert out.fmt == "CB"
        assert out.dtype == np.float32
    np.testing.assert_allclose(host(a * a - a / 2), host(a) ** 2 - host(a) / 2, rtol=1e-6)
    assert isinstance(a > 0.5, type(dl.extractdata(a)))


def test_formatted_operands_are_matched_by_label(xp, rng):
    x = rng.random((4, 5, 3, 2))
    b = rng.random(3)
    y = dl.dlarray(dev(xp, x), "SSCB") + dl.dlarray(dev(xp, b), "C")
    assert y.fmt == "SSCB"
    np.testing.assert_allclose(host(y), x + b[None, None, :, None])

    def f(bias):
        return ((dl.dlarray(x, "SSCB") * bias) ** 2).sum()

    assert dl.gradcheck(f, dl.dlarray(b, "C")) < 1e-7


def test_reductions(xp, rng):
    x = rng.random((4, 5, 3, 2))
    X = dl.dlarray(dev(xp, x), "SSCB")
    total = X.sum()
    assert total.fmt == "" and total.shape == ()
    np.testing.assert_allclose(float(total), x.sum())
    s = X.mean("S")
    assert s.fmt == "SSCB" and s.shape == (1, 1, 3, 2)
    np.testing.assert_allclose(host(s), x.mean(axis=(0, 1), keepdims=True))
    np.testing.assert_allclose(host(X.sum(3)), x.sum(axis=3, keepdims=True))
    with pytest.raises(ValueError, match="label.*'T'.*SSCB"):
        X.sum("T")
    with pytest.raises(ValueError, match="axis 7 is out of range"):
        X.sum(7)


def test_reshape_and_indexing_formats(rng):
    X = dl.dlarray(rng.random((4, 5, 3, 2)), "SSCB")
    assert X.reshape(20, 6).fmt == ""
    with pytest.raises(ValueError, match=r"cannot reshape a dlarray of size \(4, 5, 3, 2\)"):
        X.reshape(7, 7)
    assert X[:2, 1:].fmt == "SSCB"
    assert X[0].fmt == ""
    assert X[:, :, 0, 1].shape == (4, 5)


def test_indexing_gradients_accumulate_repeats(xp):
    def f(a):
        return (a[dev(xp, np.array([0, 0, 2]))] * dev(xp, np.array([1.0, 2.0, 3.0]))).sum()

    assert dl.gradcheck(f, dl.dlarray(dev(xp, np.array([0.5, -1.0, 2.0])))) < 1e-8
    g = dl.dlfeval(lambda a: dl.dlgradient(f(a), a), dl.dlarray(dev(xp, np.zeros(3))))
    np.testing.assert_allclose(host(g), [3.0, 0.0, 3.0])


def test_matmul(rng):
    A, B = rng.random((3, 4)), rng.random((4, 2))
    np.testing.assert_allclose(host(dl.dlarray(A) @ dl.dlarray(B)), A @ B)
    assert dl.gradcheck(lambda a, b: a @ b, dl.dlarray(A), dl.dlarray(B)) < 1e-8
    with pytest.raises(ValueError, match="inner sizes differ: 3x4 times 3x4"):
        dl.dlarray(A) @ dl.dlarray(A)
    with pytest.raises(ValueError, match="needs two matrices"):
        dl.dlarray(np.ones(3)) @ dl.dlarray(A)


def test_numpy_operand_defers_to_dlarray(rng):
    a = dl.dlarray(rng.random(3))
    out = np.ones(3) * a
    assert isinstance(out, dl.dlarray)


def test_float_conversion():
    assert float(dl.dlarray(np.array([2.5]))) == 2.5
    with pytest.raises(TypeError, match="one element"):
        float(dl.dlarray(np.ones(2)))


def test_format_spec_formats_a_one_element_dlarray_as_its_number():
    loss = dl.dlarray(np.float32(0.123456))
    assert f"{loss:.4f}" == "0.1235" and f"{loss:8.2e}" == "1.23e-01"
    assert f"{dl.dlarray(np.array([[3]]), 'CB'):.1f}" == "3.0"
    assert f"{loss}" == str(loss)  # no spec: the full display
    assert f"{dl.dlarray(np.float32(7)):03d}" == "007"  # a whole number takes integer specs
    with pytest.raises(TypeError, match="format spec '.2f' needs a dlarray of one element"):
        f"{dl.dlarray(np.ones(2)):.2f}"


def test_module_functions_alias_methods(rng):
    x = rng.random(4) + 0.1
    X = dl.dlarray(x)
    np.testing.assert_allclose(host(M.sum(X)), host(X.sum()))
    np.testing.assert_allclose(host(X.exp()), np.exp(x))
    np.testing.assert_allclose(host(X.log()), np.log(x))
    np.testing.assert_allclose(host(X.sqrt()), np.sqrt(x))


def test_unformatted_operand_aligns_from_the_left_like_matlab(rng):
    x = rng.random((4, 5, 3, 2))
    offset = rng.random((1, 1, 3))
    y = dl.dlarray(x, "SSCB") + offset
    np.testing.assert_allclose(host(y), x + offset[..., None])
    assert dl.gradcheck(lambda o: (dl.dlarray(x, "SSCB") * o).sum(), dl.dlarray(offset)) < 1e-8


def test_inverse_permutation_matches_argsort():
    from minidl.core import inverse_permutation

    rng = np.random.default_rng(0)
    for n in range(1, 6):
        perm = tuple(int(i) for i in rng.permutation(n))
        assert inverse_permutation(perm) == tuple(int(i) for i in np.argsort(perm))


def test_numpy_conversion_honours_copy():
    X = dl.dlarray(np.ones(3))
    for copied in (np.array(X), np.array(X, copy=True), np.array(X, dtype=np.float32)):
        copied[0] = 5.0
        assert X._data[0] == 1.0
    assert np.shares_memory(np.asarray(X), X._data)
    assert np.shares_memory(np.array(X, copy=False), X._data)
    if NUMPY_2:  # NumPy 1.x reads copy=False as "copy if needed" and never passes it on
        with pytest.raises(ValueError, match="without a copy"):
            np.array(X, dtype=np.float32, copy=False)


def test_numpy_conversion_of_device_data_copies(xp):
    X = dl.dlarray(dev(xp, np.ones(3)))
    assert isinstance(np.asarray(X), np.ndarray)
    if xp is not np and NUMPY_2:
        with pytest.raises(ValueError, match="without a copy.*device"):
            np.array(X, copy=False)


def test_len_of_a_scalar_dlarray_is_a_type_error():
    assert len(dl.dlarray(np.ones((4, 2)))) == 4
    with pytest.raises(TypeError, match="len\\(\\) of unsized object"):
        len(dl.dlarray(np.float32(3)))
