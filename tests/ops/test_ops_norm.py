"""Normalization ops: forward against per-block loops in float64, gradients against finite
differences, batchnorm's running statistics and prediction mode, formats, dtypes and errors."""

import numpy as np
import pytest

import minidl as dl
from minidl.ops import norm as Nm
from tests.conftest import dev, host

# ---- an independent reference: loop over the blocks that share a mean and a variance ---------


def _blocks_layout(x, fmt):
    """x (canonical, format fmt) as (C, N, R): channels, observations, everything else."""
    c = fmt.index("C")
    b = fmt.index("B") if "B" in fmt else None
    order = [c] + ([b] if b is not None else []) + [i for i in range(x.ndim) if i not in (c, b)]
    moved = x.transpose(order)
    C, N = x.shape[c], (x.shape[b] if b is not None else 1)
    return moved.reshape(C, N, -1), order, moved.shape


def reference(kind, x, fmt, offset, scale, eps=1e-5, groups=None):
    """y = scale·(x − mean)/sqrt(var + eps) + offset, mean and (biased) var per block."""
    x = np.asarray(x, np.float64)
    xr, order, moved_shape = _blocks_layout(x, fmt)
    C, N, _ = xr.shape
    xhat = np.empty_like(xr)

    def norm(index):
        block = xr[index]
        xhat[index] = (block - block.mean()) / np.sqrt(block.var() + eps)

    if kind == "batch":
        for c in range(C):
            norm(np.s_[c])
    elif kind == "instance":
        for c in range(C):
            for n in range(N):
                norm(np.s_[c, n])
    elif kind == "layer":
        for n in range(N):
            norm(np.s_[:, n])
    else:
        per = C // groups
        for n in range(N):
            for g in range(groups):
                norm(np.s_[g * per:(g + 1) * per, n])
    y = xhat * np.ravel(scale)[:, None, None] + np.ravel(offset)[:, None, None]
    return y.reshape(moved_shape).transpose(np.argsort(order))


def call(kind, X, offset, scale, groups=None, **kw):
    if kind == "batch":
        return Nm.batchnorm(X, offset, scale, **kw)
    if kind == "instance":
        return Nm.instancenorm(X, offset, scale, **kw)
    if kind == "layer":
        return Nm.layernorm(X, offset, scale, **kw)
    return Nm.groupnorm(X, groups, offset, scale, **kw)


KINDS = ["batch", "instance", "layer", "group"]
SHAPES = {"SSCB": (3, 4, 6, 2), "SCB": (5, 6, 3), "CB": (6, 4), "CBT": (6, 2, 3),
          "SSC": (3, 2, 6), "SCBT": (3, 6, 2, 2)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", list(SHAPES))
def test_forward_matches_block_loops(xp, rng, kind, fmt):
    x = rng.standard_normal(SHAPES[fmt]) * 3 + 1
    C = x.shape[fmt.index("C")]
    offset, scale = rng.standard_normal(C), rng.standard_normal(C)
    if (kind, fmt) == ("instance", "CB"):  # one element per statistic: an error, see below
        with pytest.raises(ValueError, match="statistics of a single element"):
            call(kind, dl.dlarray(dev(xp, x), fmt), dev(xp, offset), dev(xp, scale))
        return
    Y = call(kind, dl.dlarray(dev(xp, x), fmt), dev(xp, offset), dev(xp, scale), groups=2)
    assert Y.fmt == fmt and Y.shape == x.shape
    np.testing.assert_allclose(host(Y), reference(kind, x, fmt, offset, scale, groups=2),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups", [1, 3, 6, "all-channels", "channel-wise"])
@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_group_counts_and_epsilon(xp, rng, groups, eps):
    x = rng.standard_normal((3, 4, 6, 2))
    offset, scale = rng.standard_normal(6), rng.standard_normal(6)
    G = {"all-channels": 1, "channel-wise": 6}.get(groups, groups)
    Y = Nm.groupnorm(dl.dlarray(dev(xp, x), "SSCB"), groups, dev(xp, offset), dev(xp, scale),
                     Epsilon=eps)
    np.testing.assert_allclose(host(Y), reference("group", x, "SSCB", offset, scale, eps, G),
                               rtol=1e-10, atol=1e-10)


def test_group_extremes_are_layer_and_instance(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 4, 6, 2))), "SSCB")
    o, s = dev(xp, rng.standard_normal(6)), dev(xp, rng.standard_normal(6))
    np.testing.assert_allclose(host(Nm.groupnorm(X, "all-channels", o, s)),
                               host(Nm.layernorm(X, o, s)), rtol=1e-12)
    np.testing.assert_allclose(host(Nm.groupnorm(X, "channel-wise", o, s)),
                               host(Nm.instancenorm(X, o, s)), rtol=1e-12)


def test_data_stored_nhwc_gives_the_same_result_and_stays_nhwc(xp, rng):
    nhwc = rng.standard_normal((2, 3, 4, 6))
    X = dl.dlarray(dev(xp, nhwc), "BSSC")  # canonical (H, W, C, N) view of N, H, W, C memory
    x = nhwc.transpose(1, 2, 3, 0)
    o, s = rng.standard_normal(6), rng.standard_normal(6)
    for kind in KINDS:
        Y = call(kind, X, dev(xp, o), dev(xp, s), groups=3)
        np.testing.assert_allclose(host(Y), reference(kind, x, "SSCB", o, s, groups=3),
                                   rtol=1e-10, atol=1e-10)
        assert Y.extractdata().transpose(3, 0, 1, 2).flags.c_contiguous


# ---- gradients -------------------------------------------------------------------------------

GRAD_CASES = [("SSCB", (3, 2, 4, 2)), ("CB", (6, 3)), ("SCB", (3, 4, 2))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt, shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_of_every_input(xp, rng, kind, fmt, shape):
    if (kind, fmt) == ("instance", "CB"):
        return  # one element per (channel, observation): a ValueError (test_forward_...)
    X = dl.dlarray(dev(xp, rng.standard_normal(shape) * 2 + 0.5), fmt)
    C = shape[fmt.index("C")]
    offset = dl.dlarray(dev(xp, rng.standard_normal((1, C))))
    scale = dl.dlarray(dev(xp, rng.standard_normal(C) + 1))
    assert dl.gradcheck(lambda a, o, s: call(kind, a, o, s, groups=2), X, offset, scale) < 1e-6


@pytest.mark.parametrize("groups, eps", [(1, 1e-5), (2, 0.3), (4, 1e-3)])
def test_groupnorm_gradients_over_groups_and_epsilon(xp, rng, groups, eps):
    X = dl.dlarray(dev(xp, rng.standard_normal((2, 3, 4, 2))), "SSCB")
    offset = dl.dlarray(dev(xp, rng.standard_normal(4)))
    scale = dl.dlarray(dev(xp, rng.standard_normal((1, 1, 4))))
    f = lambda a, o, s: Nm.groupnorm(a, groups, o, s, "Epsilon", eps)  # noqa: E731
    assert dl.gradcheck(f, X, offset, scale) < 1e-6


def test_gradients_with_nhwc_memory_and_scalar_parameters(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((2, 3, 2, 4))), "BSSC")
    offset = dl.dlarray(dev(xp, np.array(0.3)))
    scale = dl.dlarray(dev(xp, np.array([[1.7]])))
    for kind in KINDS:
        assert dl.gradcheck(lambda a, o, s, k=kind: call(k, a, o, s, groups=2),
                            X, offset, scale) < 1e-6


@pytest.mark.parametrize("kind", KINDS + ["predict"])
def test_each_gradient_alone_matches_all_together(xp, rng, kind):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 2, 4, 2))), "SSCB")
    offset = dl.dlarray(dev(xp, rng.standard_normal(4)))
    scale = dl.dlarray(dev(xp, rng.standard_normal(4)))
    stats = (dev(xp, rng.standard_normal(4)), dev(xp, rng.random(4) + 0.5))

    def loss(a, o, s):
        if kind == "predict":
            Y = Nm.batchnorm(a, o, s, *stats, Training=False)
        else:
            Y = call(kind, a, o, s, groups=2)
        return (Y * Y * Y).sum()

    every = dl.dlfeval(lambda a, o, s: dl.dlgradient(loss(a, o, s), a, o, s), X, offset, scale)
    for i in range(3):
        alone = dl.dlfeval(lambda a, o, s, i=i: dl.dlgradient(loss(a, o, s), (a, o, s)[i]),
                           X, offset, scale)
        np.testing.assert_allclose(host(alone), host(every[i]), rtol=1e-12, atol=1e-12)


def test_parameter_gradients_come_back_in_their_own_shape_and_dtype(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 3, 4, 2)).astype(np.float32)), "SSCB")
    offset = dl.dlarray(dev(xp, np.zeros((1, 1, 4))))                # float64, 1x1xC
    scale = dl.dlarray(dev(xp, np.ones(4, np.float32)))

    def f(a, o, s):
        Y = Nm.instancenorm(a, o, s)
        return dl.dlgradient((Y * Y).sum() + Y.sum(), a, o, s)

    gX, go, gs = dl.dlfeval(f, X, offset, scale)
    assert (gX.shape, go.shape, gs.shape) == ((3, 3, 4, 2), (1, 1, 4), (4,))
    assert (gX.dtype, go.dtype, gs.dtype) == (np.float32, np.float64, np.float32)
    np.testing.assert_allclose(host(go), np.full((1, 1, 4), 18.0), rtol=1e-5)  # Σ gy = 9·2


# ---- batchnorm: running statistics and prediction --------------------------------------------


def _channel_stats(x):  # SSCB: mean and biased variance per channel
    return x.mean(axis=(0, 1, 3)), x.var(axis=(0, 1, 3))


def test_batchnorm_running_statistics_update(xp, rng):
    x = rng.standard_normal((3, 4, 5, 6)) * 2 + 1
    X = dl.dlarray(dev(xp, x), "SSCB")
    o, s = rng.standard_normal(5), rng.standard_normal(5)
    old_mean, old_var = rng.standard_normal((1, 1, 5)), rng.random((1, 1, 5)) + 0.5
    Y, m, v = Nm.batchnorm(X, dev(xp, o), dev(xp, s), dev(xp, old_mean), dev(xp, old_var))
    mu, var = _channel_stats(x)
    np.testing.assert_allclose(host(Y), reference("batch", x, "SSCB", o, s), rtol=1e-10)
    assert m.shape == v.shape == (1, 1, 5) and not isinstance(m, dl.dlarray)
    np.testing.assert_allclose(host(m).ravel(), 0.1 * mu + 0.9 * old_mean.ravel(), rtol=1e-12)
    np.testing.assert_allclose(host(v).ravel(), 0.1 * var + 0.9 * old_var.ravel(), rtol=1e-12)
    # decays as Name-Value pairs or keywords; dlarray statistics come back as dlarrays
    _, m2, v2 = Nm.batchnorm(X, dev(xp, o), dev(xp, s), dl.dlarray(dev(xp, old_mean.ravel())),
                             dl.dlarray(dev(xp, old_var.ravel())), "MeanDecay", 0.5,
                             VarianceDecay=1)
    assert isinstance(m2, dl.dlarray) and m2.shape == (5,)
    np.testing.assert_allclose(host(m2), 0.5 * mu + 0.5 * old_mean.ravel(), rtol=1e-12)
    np.testing.assert_allclose(host(v2), var, rtol=1e-12)


def test_batchnorm_prediction_uses_the_given_statistics(xp, rng):
    x = rng.standard_normal((3, 4, 5, 2))
    o, s = rng.standard_normal(5), rng.standard_normal(5)
    mean, var = rng.standard_normal(5), rng.random(5) + 0.5
    X = dl.dlarray(dev(xp, x), "SSCB")
    Y = Nm.batchnorm(X, dev(xp, o), dev(xp, s), dev(xp, mean), dev(xp, var), Training=False,
                     Epsilon=1e-3)
    ref = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-3) * s[:, None] + o[:, None]
    np.testing.assert_allclose(host(Y), ref, rtol=1e-10)
    assert Y.fmt == "SSCB" and Y._node is None
    f = lambda a, of, sc: Nm.batchnorm(a, of, sc, dev(xp, mean), dev(xp, var),  # noqa: E731
                                       "Training", False)
    assert dl.gradcheck(f, X, dl.dlarray(dev(xp, o)), dl.dlarray(dev(xp, s))) < 1e-6


def test_batchnorm_training_mode_gradients(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 2, 4))), "SCB")
    stats = (dev(xp, np.zeros(2)), dev(xp, np.ones(2)))
    f = lambda a, o, s: Nm.batchnorm(a, o, s, *stats)[0]  # noqa: E731
    assert dl.gradcheck(f, X, dl.dlarray(dev(xp, rng.standard_normal(2))),
                        dl.dlarray(dev(xp, rng.standard_normal(2)))) < 1e-6


# ---- robustness, dtypes, formats -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_constant_input_gives_finite_output(xp, kind):
    X = dl.dlarray(dev(xp, np.full((4, 4, 2, 3), 7.25, np.float32)), "SSCB")
    offset = dev(xp, np.array([0.5, -1.0], np.float32))
    Y = call(kind, X, offset, dev(xp, np.array([2.0, 3.0], np.float32)), groups=2)
    assert np.all(np.isfinite(host(Y)))
    np.testing.assert_allclose(host(Y), np.broadcast_to(host(offset)[:, None],
                                                        (4, 4, 2, 3)), atol=1e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_in_float32_out(xp, rng, kind):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 3, 4, 2)).astype(np.float32)), "SSCB")
    o64, s64 = dev(xp, np.zeros(4)), dev(xp, np.ones(4))  # float64 parameters do not promote
    assert call(kind, X, o64, s64, groups=2).dtype == np.float32
    assert call(kind, X, 0.0, 1.0, groups=2).dtype == np.float32
    if kind == "batch":
        Y, m, v = Nm.batchnorm(X, o64, s64, o64, s64)
        assert (Y.dtype, m.dtype, v.dtype) == (np.float32,) * 3
        assert Nm.batchnorm(X, o64, s64, o64, s64, Training=False).dtype == np.float32
    g = dl.dlfeval(lambda a: dl.dlgradient(call(kind, a, o64, s64, groups=2).sum(), a), X)
    assert g.dtype == np.float32


@pytest.mark.filterwarnings("ignore:batchnorm. each channel:RuntimeWarning")
@pytest.mark.parametrize("kind", KINDS + ["predict"])
@pytest.mark.parametrize("fmt", ["SSCB", "CB", "CU", "CT", "CBT"])
def test_one_element_input_normalizes_to_the_offset(xp, kind, fmt):
    """One feature, one observation (the last mini-batch of a 1-feature input): x̂ = 0, Y = β.

    Batch normalization warns (the next mini-batch may be larger); the other kinds raise, since
    statistics of one element follow from X's size alone and every call would return β."""
    X = dl.dlarray(dev(xp, np.full((1,) * len(fmt), 3.0, np.float32)), fmt)
    if kind not in ("batch", "predict"):
        with pytest.raises(ValueError, match="statistics of a single element"):
            call(kind, X, 0.5, 2.0, groups=1)
        return
    if kind == "batch":
        with pytest.warns(RuntimeWarning, match="single element"):
            call(kind, X, 0.5, 2.0)
    offset = dl.dlarray(dev(xp, np.array([0.5], np.float32)))
    scale = dl.dlarray(dev(xp, np.array([2.0], np.float32)))
    stats = (dev(xp, np.array([1.0])), dev(xp, np.array([4.0])))

    def f(a, o, s):
        if kind == "predict":
            return Nm.batchnorm(a, o, s, *stats, Training=False)
        return call(kind, a, o, s, groups=1)

    expected = 0.5 if kind != "predict" else (3.0 - 1.0) / np.sqrt(4.0 + 1e-5) * 2.0 + 0.5
    Y = f(X, offset, scale)
    assert Y.fmt == fmt and Y.shape == X.shape and Y.dtype == np.float32
    np.testing.assert_allclose(host(Y), np.full(X.shape, expected), rtol=1e-6)
    gX, go, gs = dl.dlfeval(lambda a, o, s: dl.dlgradient(f(a, o, s).sum(), a, o, s),
                            X, offset, scale)
    assert (gX.dtype, go.dtype, gs.dtype) == (np.float32,) * 3
    np.testing.assert_allclose(host(go), [1.0])
    if kind != "predict":
        np.testing.assert_allclose(host(gX), np.zeros(X.shape))
        np.testing.assert_allclose(host(gs), [0.0])
    # summed: gradcheck takes float() of a one-element output, which needs it 0-d
    assert dl.gradcheck(lambda a, o, s: f(a, o, s).sum(), X, offset, scale) < 1e-6


@pytest.mark.filterwarnings("ignore:batchnorm. each channel:RuntimeWarning")
def test_one_element_batch_updates_the_running_statistics(xp):
    X = dl.dlarray(dev(xp, np.full((1, 1), 3.0, np.float32)), "CB")
    Y, m, v = Nm.batchnorm(X, 0.5, 2.0, dev(xp, np.array([1.0])), dev(xp, np.array([4.0])))
    np.testing.assert_allclose(host(Y), [[0.5]])
    np.testing.assert_allclose(host(m), [0.1 * 3.0 + 0.9 * 1.0], rtol=1e-6)
    np.testing.assert_allclose(host(v), [0.9 * 4.0], rtol=1e-6)


def test_dataformat_for_unformatted_input(xp, rng):
    x = rng.standard_normal((2, 4, 3, 3))  # N, C, H, W
    o, s = dev(xp, rng.standard_normal(4)), dev(xp, rng.standard_normal(4))
    for kind in KINDS:
        Y = call(kind, dl.dlarray(dev(xp, x)), o, s, groups=2, DataFormat="BCSS")
        assert Y.fmt == "" and Y.shape == x.shape
        formatted = call(kind, dl.dlarray(dev(xp, x), "BCSS"), o, s, groups=2)  # (H, W, C, N)
        np.testing.assert_allclose(host(Y), host(formatted).transpose(3, 2, 0, 1), rtol=1e-12)
    g = lambda a, of: Nm.layernorm(a, of, s, "DataFormat", "BCSS")  # noqa: E731
    assert dl.gradcheck(g, dl.dlarray(dev(xp, x)), dl.dlarray(o)) < 1e-6


def test_normalization_axes_table():
    assert Nm.normalization_axes("batch", "SSCB") == (0, 1, 3)
    assert Nm.normalization_axes("instance", "SSCB") == (0, 1)
    assert Nm.normalization_axes("layer", "SSCB") == (0, 1, 2)
    assert Nm.normalization_axes("group", "SSCB", numGroups=4) == (0, 1, 2)
    assert Nm.normalization_axes("instance", "CBT") == (2,)
    assert Nm.normalization_axes("batch", "CBT") == (1, 2)
    assert [Nm.channel_groups(k, 8, 4) for k in KINDS] == [8, 8, 1, 4]


# ---- errors ----------------------------------------------------------------------------------


def test_errors_name_the_problem(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 3, 4, 2))), "SSCB")
    o, s = dev(xp, np.zeros(4)), dev(xp, np.ones(4))
    with pytest.raises(ValueError, match=r"format 'SSB' with no channel \('C'\) dimension"):
        Nm.instancenorm(dl.dlarray(dev(xp, rng.standard_normal((3, 3, 2))), "SSB"), 0, 1)
    with pytest.raises(ValueError, match="offset has 5 elements but X has 4 channels"):
        Nm.layernorm(X, dev(xp, np.zeros(5)), s)
    with pytest.raises(ValueError, match="scaleFactor has 3 elements but X has 4 channels"):
        Nm.batchnorm(X, o, dev(xp, np.ones((1, 1, 3))))
    with pytest.raises(TypeError, match="scaleFactor must be a dlarray, a numeric array or a "
                                        "number, got str"):
        Nm.instancenorm(X, o, "ones")
    with pytest.raises(ValueError, match=r"numGroups \(3\) must divide the number of channels "
                                         r"\(4\)"):
        Nm.groupnorm(X, 3, o, s)
    with pytest.raises(ValueError, match="numGroups must be a positive integer"):
        Nm.groupnorm(X, 0, o, s)
    with pytest.raises(ValueError, match="'all-channels' or 'channel-wise', got 'rows'"):
        Nm.groupnorm(X, "rows", o, s)
    with pytest.raises(ValueError, match="X is unformatted"):
        Nm.instancenorm(dl.dlarray(dev(xp, rng.standard_normal((3, 4)))), o, s)
    with pytest.raises(ValueError, match="invalid dimension label 'X'"):
        Nm.instancenorm(dl.dlarray(dev(xp, rng.standard_normal((3, 4)))), o, s,
                        DataFormat="XC")
    with pytest.raises(ValueError, match="DataFormat is only for unformatted input"):
        Nm.instancenorm(X, o, s, DataFormat="SSCB")
    with pytest.raises(ValueError, match="Epsilon must be a positive number, got 0"):
        Nm.instancenorm(X, o, s, Epsilon=0)
    with pytest.raises(ValueError, match="'Epslon' is not an option for layernorm. "
                                         "Did you mean 'Epsilon'"):
        Nm.layernorm(X, o, s, "Epslon", 1e-3)
    with pytest.raises(ValueError, match="Training=False .* needs the trained mean"):
        Nm.batchnorm(X, o, s, Training=False)
    with pytest.raises(ValueError, match="give both the mean and the variance"):
        Nm.batchnorm(X, o, s, o)
    with pytest.raises(ValueError, match="runVar has 2 elements but X has 4 channels"):
        Nm.batchnorm(X, o, s, o, dev(xp, np.ones(2)))
    with pytest.raises(ValueError, match=r"MeanDecay must be a number in the range \[0, 1\]"):
        Nm.batchnorm(X, o, s, o, s, MeanDecay=1.5)
    with pytest.raises(ValueError, match=r"VarianceDecay must be a number in the range"):
        Nm.batchnorm(X, o, s, o, s, "VarianceDecay", -0.1)
    with pytest.raises(ValueError, match="trainedVar has 3 elements but X has 4 channels"):
        Nm.batchnorm(X, o, s, o, dev(xp, np.ones(3)), Training=False)
    with pytest.raises(ValueError, match="Training must be true or false"):
        Nm.batchnorm(X, o, s, o, s, Training="no")
    with pytest.raises(ValueError, match="unknown normalization 'weight'"):
        Nm.normalization_axes("weight", "SSCB")
    with pytest.raises(ValueError, match="has no channel"):
        Nm.normalization_axes("batch", "SSB")
