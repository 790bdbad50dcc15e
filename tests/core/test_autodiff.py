"""dlfeval / dlgradient: MATLAB semantics, containers, accumulation, freeing, deep graphs."""

import numpy as np
import pytest

import minidl as dl
from minidl.core import GradcheckError, record
from tests.conftest import dev, host


def rosenbrock(x):
    y = 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
    return y, dl.dlgradient(y, x)


def test_matlab_rosenbrock_reference(xp):
    fval, grad = dl.dlfeval(rosenbrock, dl.dlarray(dev(xp, np.array([-1.0, 2.0]))))
    assert float(fval) == 104
    np.testing.assert_allclose(host(grad), [396, 200])


def test_dlgradient_outside_dlfeval_is_an_error():
    x = dl.dlarray(np.ones(2))
    with pytest.raises(RuntimeError, match="must be called inside a function evaluated by dlfeval"):
        dl.dlgradient(x.sum(), x)


def test_dlgradient_argument_errors():
    def nonscalar(x):
        return dl.dlgradient(x * 2, x)

    with pytest.raises(ValueError, match="real scalar"):
        dl.dlfeval(nonscalar, dl.dlarray(np.ones(3)))
    with pytest.raises(TypeError, match="must be a dlarray"):
        dl.dlfeval(lambda x: dl.dlgradient(3.0, x), dl.dlarray(np.ones(3)))
    outside = dl.dlarray(np.ones(3))
    with pytest.raises(ValueError, match="input 1 is not traced"):
        dl.dlfeval(lambda x: dl.dlgradient((x * 2).sum(), outside), dl.dlarray(np.ones(3)))
    with pytest.raises(ValueError, match="not traced"):
        dl.dlfeval(lambda x: dl.dlgradient(outside.sum(), x), dl.dlarray(np.ones(3)))


def test_gradients_accumulate_where_a_value_is_reused():
    def f(x):
        y = x * x + x * 3 + x
        return dl.dlgradient(y.sum(), x)

    g = dl.dlfeval(f, dl.dlarray(np.array([1.0, 2.0])))
    np.testing.assert_allclose(host(g), 2 * np.array([1.0, 2.0]) + 4)


def test_containers_keep_their_structure_and_formats():
    params = {"w": dl.dlarray(np.array([1.0, 2.0]), "CB"), "b": [dl.dlarray(np.array(3.0))]}

    def f(p):
        loss = (p["w"] * p["b"][0]).sum()
        return dl.dlgradient(loss, p)

    g = dl.dlfeval(f, params)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list)
    assert g["w"].fmt == "CB"
    np.testing.assert_allclose(host(g["w"]), [[3.0], [3.0]])
    np.testing.assert_allclose(host(g["b"][0]), 3.0)


def test_several_inputs_give_a_tuple_and_unused_inputs_get_zeros():
    def f(a, b, c):
        return dl.dlgradient((a * b).sum(), a, b, c)

    ga, gb, gc = dl.dlfeval(f, *(dl.dlarray(np.full(2, v)) for v in (2.0, 5.0, 7.0)))
    np.testing.assert_allclose(host(ga), [5, 5])
    np.testing.assert_allclose(host(gb), [2, 2])
    np.testing.assert_allclose(host(gc), [0, 0])


def test_nothing_is_recorded_outside_dlfeval_and_outputs_are_untraced():
    x = dl.dlarray(np.ones(3))
    assert (x * 2 + 1)._node is None
    y = dl.dlfeval(lambda a: a * 2, x)
    assert y._node is None and x._node is None


def test_dlarray_created_inside_dlfeval_is_traced():
    def f():
        w = dl.dlarray(np.array([3.0]))
        return dl.dlgradient((w * w).sum(), w)

    np.testing.assert_allclose(host(dl.dlfeval(f)), [6.0])


def test_deep_graph_needs_no_recursion():
    def f(x):
        y = x
        for _ in range(5000):
            y = y * 1.0001 + 0.0
        return dl.dlgradient(y.sum(), x)

    g = dl.dlfeval(f, dl.dlarray(np.ones(2)))
    np.testing.assert_allclose(host(g), np.full(2, 1.0001 ** 5000), rtol=1e-9)


def test_retain_data():
    def twice(x, retain):
        y = (x * x).sum()
        return dl.dlgradient(y, x, RetainData=retain), dl.dlgradient(y, x)

    g1, g2 = dl.dlfeval(twice, dl.dlarray(np.array([1.0, 3.0])), True)
    np.testing.assert_allclose(host(g1), host(g2))
    with pytest.raises(RuntimeError, match="RetainData=True"):
        dl.dlfeval(twice, dl.dlarray(np.array([1.0, 3.0])), False)


def test_backward_is_told_which_inputs_need_gradients():
    seen = []

    def spy(a, b):
        def backward(gy, needs):
            seen.append(needs)
            return (gy if needs[0] else None, gy if needs[1] else None)
        return record(a._data + b._data, "", (a, b), backward)

    def f(a, b):
        return dl.dlgradient(spy(a, b).sum(), b)

    dl.dlfeval(f, dl.dlarray(np.ones(2)), dl.dlarray(np.ones(2)))
    assert seen == [(False, True)]


def test_gradcheck_catches_a_wrong_gradient():
    def wrong_square(a):
        return record(a._data ** 2, "", (a,), lambda gy, needs: (gy * a._data,))

    with pytest.raises(GradcheckError, match="gradient of input 1 is wrong"):
        dl.gradcheck(lambda a: wrong_square(a), dl.dlarray(np.array([1.0, 2.0])))
    assert dl.gradcheck(lambda a: a * a, dl.dlarray(np.array([1.0, 2.0]))) < 1e-8


def test_gradients_are_writeable_and_share_no_memory(xp):
    x = dl.dlarray(dev(xp, np.ones(3, np.float32)))

    def f(a, b, c):
        return dl.dlgradient(a.sum() + (b + c).sum() + (a * 2).mean(), a, b, c, c, [a])

    grads = dl.dlfeval(f, x, x, dl.dlarray(dev(xp, np.ones((3, 1)))))
    arrays = [g._data for g in grads[:4]] + [grads[4][0]._data]
    np.testing.assert_allclose(host(arrays[0]), np.full(3, 1 + 2 / 3), rtol=1e-6)
    if xp is np:
        for i, g in enumerate(arrays):
            assert g.flags.writeable and 0 not in g.strides
            assert not any(np.shares_memory(g, h) for h in arrays[i + 1:])
    for g in arrays:
        g[...] = 7.0
    assert all((host(g) == 7.0).all() for g in arrays)
    g = dl.dlfeval(lambda a: dl.dlgradient(a.sum(), a), x)
    g._data[0] = 5.0
    np.testing.assert_allclose(host(g), [5, 1, 1])
    assert host(g).dtype == np.float32


def test_dlgradient_with_respect_to_a_non_dlarray_is_a_type_error():
    x = dl.dlarray(np.ones(3))
    for bad, named in ((np.ones(3), "numpy.ndarray"), ([], "a list holding no dlarray"),
                       ({"w": 1.0}, "a dict holding no dlarray"), (0.5, "float")):
        with pytest.raises(TypeError, match=f"argument 2 .* must be a dlarray or a container.*"
                                            f"got {named}"):
            dl.dlfeval(lambda a, b: dl.dlgradient(a.sum(), a, b), x, bad)
    g = dl.dlfeval(lambda p: dl.dlgradient(p["w"].sum(), p), {"w": x, "name": "layer"})
    assert g["name"] == "layer"
    np.testing.assert_allclose(host(g["w"]), [1, 1, 1])


def test_containers_keep_their_types():
    from collections import OrderedDict, defaultdict, namedtuple

    Pair = namedtuple("Pair", "w b")
    table = defaultdict(list, w=dl.dlarray(np.array([2.0])))
    ordered = OrderedDict([("b", dl.dlarray(np.array([3.0]))), ("a", dl.dlarray(np.ones(1)))])

    def f(pair, table, ordered):
        loss = (pair.w * pair.b * table["w"] * ordered["a"]).sum()
        return (pair, table, ordered), dl.dlgradient(loss, pair, table, ordered)

    (pair, tab, od), (g_pair, g_tab, g_od) = dl.dlfeval(
        f, Pair(dl.dlarray(np.array([1.0])), dl.dlarray(np.array([5.0]))), table, ordered)
    assert type(pair) is Pair and type(g_pair) is Pair
    assert type(tab) is defaultdict and tab.default_factory is list and type(g_tab) is defaultdict
    assert type(od) is OrderedDict and list(g_od) == ["b", "a"]
    np.testing.assert_allclose(host(g_pair.w), [10.0])
    np.testing.assert_allclose(host(g_tab["w"]), [5.0])
    np.testing.assert_allclose(host(g_od["b"]), [0.0])


def test_gradcheck_one_element_outputs_and_zero_gradients():
    assert dl.gradcheck(lambda x: x * 2, dl.dlarray(np.ones((1, 1)))) < 1e-8
    assert dl.gradcheck(lambda x: (x * x).sum().reshape(1, 1), dl.dlarray(np.ones(3))) < 1e-8
    x = dl.dlarray(np.array([0.3, 1.7, 2.2]))
    assert dl.gradcheck(lambda x: (x - x.mean()).sum(), x) < 1e-6
    assert dl.gradcheck(lambda x: (x * 0.1 + 0.3 - x * 0.1).sum() * 1000, x) < 1e-6
    assert dl.gradcheck(lambda x, y: (x * 2).sum() + y.sum() * 0, x, x) < 1e-6
    with pytest.raises(GradcheckError, match="input 1 is wrong"):
        dl.gradcheck(lambda a: record(a._data * 0, "", (a,), lambda gy, needs: (gy * 1e-3,)), x)
