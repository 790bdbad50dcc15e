"""Tests for the solvers: each against formulas written out here, step by step."""

import math

import numpy as np
import pytest

import minidl
from minidl import dlarray, dlfeval, dlgradient
from minidl.backend import array_module
from minidl.layers import featureInputLayer, fullyConnectedLayer, softmaxLayer
from minidl.networks.network import Table, dlnetwork, forward
from minidl.ops.loss import crossentropy
from minidl.training.optimizers import adamupdate, dlupdate, rmspropupdate, sgdmupdate
from tests.conftest import dev, host

W0 = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
GRADS = [np.array([[0.1, -0.2], [0.3, 0.4]], dtype=np.float32),
         np.array([[-0.5, 0.25], [0.0, 1.0]], dtype=np.float32),
         np.array([[0.2, 0.2], [-0.1, -0.3]], dtype=np.float32)]


def _sgdm_reference(lr, mu, steps):
    w, v = W0.astype(np.float64), 0.0
    for g in GRADS[:steps]:
        v = mu * v - lr * g
        w = w + v
    return w, v


def _adam_reference(lr, b1, b2, eps, steps):
    w, m, v = W0.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(GRADS[:steps], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        w = w - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    return w, m, v


def _rmsprop_reference(lr, b2, eps, steps):
    w, v = W0.astype(np.float64), 0.0
    for g in GRADS[:steps]:
        v = b2 * v + (1 - b2) * g ** 2
        w = w - lr * g / (np.sqrt(v) + eps)
    return w, v


def test_sgdm_three_steps_match_formula(xp):
    w, vel = dlarray(dev(xp, W0)), None
    for g in GRADS:
        w, vel = sgdmupdate(w, dlarray(dev(xp, g)), vel, 0.1, 0.8)
    ref_w, ref_v = _sgdm_reference(0.1, 0.8, 3)
    assert isinstance(w, dlarray) and w.dtype == np.float32 and vel.dtype == np.float32
    np.testing.assert_allclose(host(w), ref_w, rtol=1e-6)
    np.testing.assert_allclose(host(vel), ref_v, rtol=1e-6)


def test_sgdm_first_step_by_hand():
    w, vel = sgdmupdate(dlarray(np.float32([1.0, 2.0])), dlarray(np.float32([0.5, -1.0])), None)
    # defaults learnRate 0.01, momentum 0.9: vel = -0.01 * g, w = w + vel
    np.testing.assert_allclose(host(vel), [-0.005, 0.01], rtol=1e-6)
    np.testing.assert_allclose(host(w), [0.995, 2.01], rtol=1e-6)


def test_adam_three_steps_match_formula(xp):
    w, m, v = dlarray(dev(xp, W0)), None, None
    for t, g in enumerate(GRADS, start=1):
        w, m, v = adamupdate(w, dlarray(dev(xp, g)), m, v, t, 0.05, 0.75, 0.95, 1e-8)
    ref_w, ref_m, ref_v = _adam_reference(0.05, 0.75, 0.95, 1e-8, 3)
    assert w.dtype == m.dtype == v.dtype == np.float32
    np.testing.assert_allclose(host(w), ref_w, rtol=1e-5)
    np.testing.assert_allclose(host(m), ref_m, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(host(v), ref_v, rtol=1e-5)


def test_adam_first_step_is_lr_times_sign():
    # At t = 1 the bias-corrected step is lr * g / (|g| + eps) = lr * sign(g).
    w, _, _ = adamupdate(dlarray(np.float32([1.0, 1.0])), dlarray(np.float32([3.0, -0.5])),
                         None, None, 1)
    np.testing.assert_allclose(host(w), [0.999, 1.001], rtol=1e-6)


def test_rmsprop_three_steps_match_formula(xp):
    w, v = dlarray(dev(xp, W0)), None
    for g in GRADS:
        w, v = rmspropupdate(w, dlarray(dev(xp, g)), v, 0.01, 0.9, 1e-6)
    ref_w, ref_v = _rmsprop_reference(0.01, 0.9, 1e-6, 3)
    np.testing.assert_allclose(host(w), ref_w, rtol=1e-5)
    np.testing.assert_allclose(host(v), ref_v, rtol=1e-5)


def test_containers_keep_structure_and_callers_arrays():
    a, b = np.float32([1.0, 2.0]), np.float32([[3.0]])
    params = {"a": dlarray(a.copy(), "C"), "b": [dlarray(b.copy())]}
    grads = {"a": dlarray(np.float32([1.0, 1.0]), "C"), "b": [dlarray(np.float32([[2.0]]))]}
    new, vel = sgdmupdate(params, grads, None, 0.5, 0.0)
    assert set(new) == {"a", "b"} and isinstance(new["b"], list)
    assert new["a"].fmt == "C" and vel["a"].fmt == "C"
    np.testing.assert_allclose(host(new["a"]), [0.5, 1.5])
    np.testing.assert_allclose(host(new["b"][0]), [[2.0]])
    np.testing.assert_array_equal(host(params["a"]), a)  # caller's arrays untouched
    new2, vel2 = sgdmupdate(new, grads, vel, 0.5, 0.5)
    np.testing.assert_allclose(host(vel2["a"]), [-0.75, -0.75])
    np.testing.assert_array_equal(host(vel["a"]), [-0.5, -0.5])


def test_tuple_and_raw_arrays():
    w, vel = sgdmupdate(np.float32([1.0]), np.float32([1.0]), None, 0.1)
    assert isinstance(w, np.ndarray) and w.dtype == np.float32
    np.testing.assert_allclose(w, [0.9])
    out, _ = rmspropupdate((dlarray(np.float32([1.0])),), (dlarray(np.float32([1.0])),), None)
    assert isinstance(out, tuple)


def test_learn_rate_factors_scale_each_parameter():
    params = [dlarray(np.float32([1.0])), dlarray(np.float32([1.0])), dlarray(np.float32([1.0]))]
    grads = [dlarray(np.float32([1.0]))] * 3
    new, _ = sgdmupdate(params, grads, None, 0.1, 0.9, learnRateFactors=[1, 2, 0])
    np.testing.assert_allclose([float(p) for p in new], [0.9, 0.8, 1.0], rtol=1e-6)
    new, m, v = adamupdate(params, grads, None, None, 1, learnRateFactors=[1, 0.5, 0])
    np.testing.assert_allclose([float(p) for p in new], [0.999, 0.9995, 1.0], rtol=1e-6)
    assert float(m[2]) == pytest.approx(0.1)  # frozen parameters still update their state


def test_bad_arguments_name_what_is_wrong():
    p = [dlarray(np.float32([1.0]))]
    with pytest.raises(ValueError, match="grad holds 2 arrays but there are 1 parameters"):
        sgdmupdate(p, [p[0], p[0]], None)
    with pytest.raises(ValueError, match="iteration must be a positive integer"):
        adamupdate(p, p, None, None, 0)
    with pytest.raises(ValueError, match="sqGradDecay"):
        rmspropupdate(p, p, None, 0.01, 1.0)
    with pytest.raises(ValueError, match="learnRateFactors has 2 entries"):
        sgdmupdate(p, p, None, learnRateFactors=[1, 1])
    with pytest.raises(TypeError, match="sgdmupdate: the parameters must be"):
        sgdmupdate("w", p, None)


def test_gradients_must_fit_their_parameters_and_dicts_match_by_key():
    f32 = np.float32
    w, g = dlarray(np.zeros((2, 1), f32)), dlarray(np.ones((1, 3), f32))
    for update in (lambda: sgdmupdate(w, g, None), lambda: adamupdate(w, g, None, None, 1),
                   lambda: rmspropupdate(w, g, None)):
        with pytest.raises(ValueError, match="grad 1 has size 1x3 but its parameter has size "
                                             "2x1"):
            update()
    with pytest.raises(ValueError, match="state 1 has size 3 but its parameter has size 2x1"):
        sgdmupdate(w, dlarray(np.ones((2, 1), f32)), dlarray(np.ones(3, f32)))
    params = {"W": dlarray(np.zeros(2, f32)), "b": dlarray(np.zeros(2, f32))}
    grads = {"b": dlarray(np.ones(2, f32)), "W": dlarray(np.full(2, 5, f32))}
    new, vel = sgdmupdate(params, grads, None, 1.0, 0.0)
    np.testing.assert_array_equal(host(new["W"]), [-5, -5])
    np.testing.assert_array_equal(host(new["b"]), [-1, -1])
    new, _ = sgdmupdate(new, grads, {"b": vel["b"], "W": vel["W"]}, 1.0, 0.5)
    np.testing.assert_array_equal(host(new["W"]), [-12.5, -12.5])
    with pytest.raises(ValueError, match=r"the grad dict has other keys than the parameters "
                                         r"\(missing: \['b'\], extra: \['c'\]\)"):
        sgdmupdate(params, {"W": grads["W"], "c": grads["b"]}, None)


def test_float64_gradients_keep_float32_parameters_float32():
    w32, g64 = np.zeros(2, np.float32), np.ones(2)
    assert [x.dtype for x in sgdmupdate(w32, g64, None)] == [np.float32] * 2
    assert [x.dtype for x in adamupdate(w32, g64, None, None, 1)] == [np.float32] * 3
    assert [x.dtype for x in rmspropupdate(w32, g64, None)] == [np.float32] * 2


def test_custom_loop_on_a_dlnetwork(xp):
    minidl.rng(0)
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(2), softmaxLayer()])
    X = dlarray(dev(xp, np.float32([[1, 0, -1, 2], [0, 1, 1, 0], [2, 2, 0, 1]])), "CB")
    T = dlarray(dev(xp, np.float32([[1, 0, 1, 0], [0, 1, 0, 1]])), "CB")

    def model_loss(net):
        Y, _ = forward(net, X)
        loss = crossentropy(Y, T)
        return loss, dlgradient(loss, net.Learnables)

    before = [host(v) for v in net.Learnables.Value]
    _, grad = dlfeval(model_loss, net)
    new, vel = sgdmupdate(net, grad, None, 0.5)
    assert type(new).__name__ == "dlnetwork" and isinstance(vel, Table)
    assert vel.Parameter == net.Learnables.Parameter
    for w, g, n in zip(before, grad.Value, new.Learnables.Value):
        np.testing.assert_allclose(host(n), w - 0.5 * host(g), rtol=1e-6)
    np.testing.assert_array_equal(host(net.Learnables.Value[0]), before[0])  # caller's net kept
    _, grad = dlfeval(model_loss, new)
    table, avg_g, avg_sq = adamupdate(new.Learnables, grad, None, None, 1)
    assert isinstance(table, Table) and isinstance(avg_sq, Table)
    net3, vel = sgdmupdate(new, grad, vel)
    assert all(array_module(v._data) is xp for v in net3.Learnables.Value)


# ---- dlupdate ---------------------------------------------------------------------------------

def _small_net():
    minidl.rng(0)
    return dlnetwork([featureInputLayer(3), fullyConnectedLayer(2), softmaxLayer()])


def test_dlupdate_applies_fun_to_every_learnable_of_a_network(xp):
    net = _small_net()
    net = minidl.dlupdate(lambda w: dlarray(dev(xp, host(w))), net)  # onto the backend
    before = [host(v) for v in net.Learnables.Value]
    new = dlupdate(lambda w: 0.5 * w, net)
    assert type(new).__name__ == "dlnetwork"
    for b, n in zip(before, new.Learnables.Value):
        assert array_module(n._data) is xp and n.dtype == np.float32
        np.testing.assert_allclose(host(n), 0.5 * b, rtol=1e-7)
    np.testing.assert_array_equal(host(net.Learnables.Value[0]), before[0])  # caller's net kept


def test_dlupdate_with_state_matches_sgdmupdate():
    net = _small_net()
    grads = net.Learnables.with_values([dlarray(np.full(v.shape, 0.1 * (i + 1), np.float32))
                                        for i, v in enumerate(net.Learnables.Value)])

    def sgdm(w, g, v):
        v = 0.9 * v - 0.01 * g
        return w + v, v

    vel = dlupdate(lambda w: 0 * w, grads)
    assert isinstance(vel, Table)
    mine, ref = net, net
    ref_vel = None
    for _ in range(2):
        mine, vel = dlupdate(sgdm, mine, grads, vel)
        ref, ref_vel = sgdmupdate(ref, grads, ref_vel, 0.01, 0.9)
    assert type(mine).__name__ == "dlnetwork" and isinstance(vel, Table)
    for a, b in zip(mine.Learnables.Value, ref.Learnables.Value):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-6)
    for a, b in zip(vel.Value, ref_vel.Value):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-6)


def test_dlupdate_on_a_dict_with_an_extra_input():
    """MATLAB's L1-regularization example: gradients = dlupdate(@(g, w) g + f*sign(w), grads, w)."""
    params = {"W": dlarray(W0), "b": dlarray(np.float32([[-1.0], [0.0]]))}
    grads = {"W": dlarray(GRADS[0]), "b": dlarray(np.float32([[0.5], [0.5]]))}
    out = dlupdate(lambda g, w: g + 0.001 * np.sign(w.extractdata()), grads, params)
    assert list(out) == ["W", "b"]
    np.testing.assert_allclose(host(out["W"]), GRADS[0] + 0.001 * np.sign(W0), rtol=1e-6)
    np.testing.assert_allclose(host(out["b"]), [[0.499], [0.5]], rtol=1e-6)
    filled = dlupdate(lambda w: 3, params)  # a number fills the parameter's size and dtype
    assert filled["W"].dtype == np.float32
    np.testing.assert_array_equal(host(filled["W"]), np.full((2, 2), 3, np.float32))


def test_dlupdate_is_traced_inside_dlfeval():
    params = {"W": dlarray(W0), "b": dlarray(np.float32([[-1.0], [2.0]]))}

    def loss_fn(p):
        squared = dlupdate(lambda w: w * w, p)
        loss = squared["W"].sum() + squared["b"].sum()
        return loss, dlgradient(loss, p)

    _, grad = dlfeval(loss_fn, params)
    np.testing.assert_allclose(host(grad["W"]), 2 * W0)
    np.testing.assert_allclose(host(grad["b"]), [[-2.0], [4.0]])


def test_dlupdate_matches_dicts_by_key_and_checks_sizes():
    params = {"W": dlarray(W0), "b": dlarray(np.zeros((2, 1), np.float32))}
    grads = {"b": dlarray(np.ones((2, 1), np.float32)), "W": dlarray(GRADS[0])}  # other order
    out = dlupdate(lambda w, g: w + g, params, grads)
    np.testing.assert_allclose(host(out["W"]), W0 + GRADS[0])
    np.testing.assert_allclose(host(out["b"]), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"input X1 entry 2 \('b'\) has size 2x2 but its "
                                         r"parameter has size 2x1"):
        dlupdate(lambda w, g: w, params, {"W": grads["W"], "b": grads["W"]})
    with pytest.raises(ValueError, match=r"missing: \['b'\]"):
        dlupdate(lambda w, g: w, params, {"W": grads["W"]})
    assert dlupdate(lambda w: np.float32(0), params)["W"].shape == (2, 2)  # a NumPy scalar fills


def test_dlupdate_bad_arguments_say_what_is_wrong():
    params = {"W": dlarray(W0), "b": dlarray(np.zeros((2, 1), np.float32))}
    with pytest.raises(TypeError, match="fun must be a function"):
        dlupdate(params, params)
    with pytest.raises(TypeError, match="must be a dlnetwork"):
        dlupdate(lambda w: w, 5)
    with pytest.raises(ValueError, match="input X1 holds 1 arrays but there are 2 parameters"):
        dlupdate(lambda w, g: w, params, [dlarray(W0)])
    with pytest.raises(ValueError, match="same number of outputs"):
        dlupdate(lambda w: (w, w) if w.shape == (2, 2) else w, params)
    with pytest.raises(TypeError, match="fun must return arrays, got str"):
        dlupdate(lambda w: "w", params)
