"""Layer constructors: Name-Value options, validation messages and forward values.

Each layer's output is compared with its functional op and, for the layouts that matter (conv
weights fh x fw x C x F, fc weights Out x In on column-major features), with a naive formula.
"""

import numpy as np
import pytest

import minidl
from minidl import dlarray
from minidl.layers import (
    LayerArray,
    averagePooling2dLayer,
    batchNormalizationLayer,
    convolution2dLayer,
    dropoutLayer,
    flattenLayer,
    fullyConnectedLayer,
    functionLayer,
    globalAveragePooling2dLayer,
    globalMaxPooling2dLayer,
    groupNormalizationLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
    leakyReluLayer,
    maxPooling2dLayer,
    reluLayer,
    sigmoidLayer,
    softmaxLayer,
    tanhLayer,
)
from minidl.networks import getL2Factor, getLearnRateFactor, setL2Factor, setLearnRateFactor
from minidl.ops.activations import leakyrelu, relu, sigmoid, tanh
from minidl.ops.conv import avgpool, dlconv, maxpool
from minidl.ops.nn import fullyconnect, softmax
from minidl.ops.norm import groupnorm, layernorm
from tests.conftest import dev, host


def images(rng, xp, shape=(6, 7, 3, 2)):
    return dlarray(dev(xp, rng.standard_normal(shape).astype(np.float32)), "SSCB")


def ready(layer, size, fmt="SSCB"):
    """The layer initialized for an input of ``size`` (B = 1), as dlnetwork does it."""
    layer.initialize(size, fmt)
    return layer


# ---- options ------------------------------------------------------------------------------------

def test_name_value_pairs_and_keywords_agree_and_names_ignore_case():
    a = maxPooling2dLayer(2, "Stride", 2, "padding", [1, 0])
    b = maxPooling2dLayer(2, Stride=2, Padding=[1, 0])
    assert (a.Stride, a.PaddingSize) == (b.Stride, b.PaddingSize) == ((2, 2), (1, 1, 0, 0))
    conv = convolution2dLayer([3, 5], 8, "STRIDE", [1, 2], "Padding", [1, 2, 3, 4],
                              "dilationfactor", 2, "Name", "c1")
    assert conv.FilterSize == (3, 5) and conv.Stride == (1, 2) and conv.DilationFactor == (2, 2)
    assert conv.PaddingSize == (1, 2, 3, 4) and conv.PaddingMode == "manual"
    assert conv.Name == "c1"
    assert convolution2dLayer(3, 4, Padding=1).PaddingSize == (1, 1, 1, 1)


def test_matlab_defaults():
    pool = maxPooling2dLayer(2)
    assert pool.Stride == (1, 1)  # MATLAB's default stride is 1, not the pool size
    conv = convolution2dLayer(5, 20)
    assert (conv.WeightsInitializer, conv.BiasInitializer) == ("glorot", "zeros")
    assert (conv.WeightLearnRateFactor, conv.WeightL2Factor) == (1, 1)
    assert (conv.BiasLearnRateFactor, conv.BiasL2Factor) == (1, 0)
    norm = instanceNormalizationLayer()
    assert (norm.Epsilon, norm.ScaleInitializer, norm.OffsetInitializer) == (1e-5, "ones", "zeros")
    assert norm.factors("Scale") == norm.factors("Offset") == (1.0, 1.0)
    bn = batchNormalizationLayer()
    assert (bn.MeanDecay, bn.VarianceDecay) == (0.1, 0.1)
    assert imageInputLayer([28, 28]).InputSize == (28, 28, 1)
    assert leakyReluLayer().Scale == 0.01 and dropoutLayer().Probability == 0.5
    assert dropoutLayer("Name", "d").Name == "d" and leakyReluLayer("Name", "l").Scale == 0.01


@pytest.mark.parametrize("make, message", [
    (lambda: convolution2dLayer(3, 0),
     "convolution2dLayer: numFilters must be a positive integer, got 0."),
    (lambda: maxPooling2dLayer(2, Stride=0),
     "maxPooling2dLayer: Stride must be a positive integer or a vector of 2 positive integers, "
     "got 0."),
    (lambda: instanceNormalizationLayer(Epsilon=-1),
     "instanceNormalizationLayer: Epsilon must be a positive number, got -1."),
    (lambda: maxPooling2dLayer(2, "Strid", 2),
     "'Strid' is not an option for maxPooling2dLayer. Did you mean 'Stride'?"),
    (lambda: reluLayer(Foo=1),
     "'Foo' is not an option for reluLayer. Valid names are 'Name'."),
    (lambda: convolution2dLayer(3, 4, Padding="valid"),
     "convolution2dLayer: Padding must be 'same', a nonnegative integer or a vector of 2 or 4 "
     "nonnegative integers, got 'valid'."),
    (lambda: convolution2dLayer(3, 4, WeightsInitializer="xavier"),
     "convolution2dLayer: WeightsInitializer must be 'glorot', 'he', 'orthogonal', "
     "'narrow-normal', 'zeros', 'ones' or a function handle"),
    (lambda: fullyConnectedLayer(10, BiasInitializer="he"),
     "BiasInitializer must be 'zeros', 'narrow-normal', 'ones' or a function handle"),
    (lambda: instanceNormalizationLayer(ScaleInitializer="glorot"),
     "ScaleInitializer must be 'ones', 'zeros', 'narrow-normal' or a function handle"),
    (lambda: convolution2dLayer(3, 4, WeightL2Factor=-1),
     "convolution2dLayer: WeightL2Factor must be a nonnegative number, got -1."),
    (lambda: imageInputLayer([28, 28, 3], Normalization="minmax"),
     "imageInputLayer: Normalization must be one of 'zerocenter', 'zscore', "
     "'rescale-symmetric', 'rescale-zero-one', 'none', got 'minmax'."),
    (lambda: imageInputLayer([28, 0, 3]),
     "imageInputLayer: inputSize must be a vector [h w] or [h w c] of positive integers"),
    (lambda: dropoutLayer(1),
     "dropoutLayer: probability must be a number in the range [0, 1), got 1."),
    (lambda: maxPooling2dLayer(2, Padding=2),
     "maxPooling2dLayer: Padding must be smaller than the pool size [2  2]"),
    (lambda: groupNormalizationLayer("some"),
     "groupNormalizationLayer: numGroups must be a positive integer, 'all-channels' or "
     "'channel-wise', got 'some'."),
    (lambda: batchNormalizationLayer(MeanDecay=2),
     "batchNormalizationLayer: MeanDecay must be a number in the range [0, 1], got 2."),
    (lambda: convolution2dLayer(3, 4, Weights=np.zeros((3, 3, 2, 5))),
     "convolution2dLayer: Weights must have size 3x3xCx4"),
    (lambda: fullyConnectedLayer(3, Bias=np.zeros(4)),
     "fullyConnectedLayer: Bias must have 3 elements"),
    (lambda: reluLayer(Name=3), "Name must be a character vector or string, got 3."),
    (lambda: convolution2dLayer(3, 4, PaddingValue=1),
     "convolution2dLayer: PaddingValue must be 0"),
    (lambda: leakyReluLayer(float("nan")), "leakyReluLayer: scale must be a finite real number"),
    (lambda: functionLayer(3), "functionLayer: fun must be a function (callable), got 3."),
])
def test_invalid_options_name_the_option_and_what_is_allowed(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_given_weights_fix_num_channels_and_are_reshaped():
    conv = convolution2dLayer(3, 4, Weights=np.ones((3, 3, 2, 4)), Bias=np.zeros(4))
    assert conv.NumChannels == 2 and conv.Bias.shape == (1, 1, 4)
    fc = fullyConnectedLayer(3, Weights=np.ones((3, 5)), Bias=[1, 2, 3])
    assert fc.InputSize == 5 and fc.Bias.shape == (3, 1)
    norm = instanceNormalizationLayer(Scale=np.ones((1, 1, 6)))
    assert norm.NumChannels == 6


def test_learn_rate_and_l2_factor_accessors_return_copies():
    fc = fullyConnectedLayer(3)
    fast = setLearnRateFactor(fc, "Weights", 2)
    decay = setL2Factor(fast, "Bias", 0.5)
    assert fc.WeightLearnRateFactor == 1 and getLearnRateFactor(fast, "Weights") == 2
    assert getL2Factor(decay, "Bias") == 0.5 and decay.factors("Bias") == (1.0, 0.5)
    with pytest.raises(ValueError, match="'Alpha' is not a learnable parameter"):
        setLearnRateFactor(fc, "Alpha", 1)


def test_layer_array_indexing_slicing_and_concatenation():
    layers = LayerArray([reluLayer(Name="a"), softmaxLayer(Name="b")])
    assert len(layers) == 2 and layers[0].Name == "a" and [x.Name for x in layers] == ["a", "b"]
    assert isinstance(layers[1:], LayerArray) and len(layers[1:]) == 1
    more = layers + [reluLayer(Name="c")] + reluLayer(Name="d")
    assert [x.Name for x in more] == ["a", "b", "c", "d"] and len(layers) == 2
    assert [x.Name for x in [reluLayer(Name="z")] + layers] == ["z", "a", "b"]
    assert [x.Name for x in reluLayer(Name="p") + reluLayer(Name="q")] == ["p", "q"]
    with pytest.raises(TypeError, match="element 1 must be a layer"):
        LayerArray([reluLayer(), "relu"])


# ---- forward values -----------------------------------------------------------------------------

def naive_conv(x, w, b, stride, pads):
    """Cross-correlation of H x W x C x N x with fh x fw x C x F w, plus 1 x 1 x F b."""
    t, bo, l, r = pads
    x = np.pad(x, ((t, bo), (l, r), (0, 0), (0, 0)))
    fh, fw, _, f = w.shape
    ho = (x.shape[0] - fh) // stride[0] + 1
    wo = (x.shape[1] - fw) // stride[1] + 1
    y = np.zeros((ho, wo, f, x.shape[3]))
    for i in range(ho):
        for j in range(wo):
            patch = x[i * stride[0]:i * stride[0] + fh, j * stride[1]:j * stride[1] + fw]
            y[i, j] = np.einsum("hwcn,hwcf->fn", patch, w)
    return y + b.reshape(1, 1, f, 1)


def test_convolution_layer_is_dlconv_with_matlab_layouts(xp, rng):
    X = images(rng, xp)
    layer = ready(convolution2dLayer([3, 2], 4, Stride=[1, 2], Padding=[1, 0, 1, 1],
                                     BiasInitializer="narrow-normal"), (6, 7, 3, 1))
    assert layer.Weights.shape == (3, 2, 3, 4) and layer.Bias.shape == (1, 1, 4)
    Y = layer.predict(X)
    assert Y.fmt == "SSCB" and Y.shape == (5, 4, 4, 2)
    assert layer.initialize((6, 7, 3, 1), "SSCB") == ((5, 4, 4, 1), "SSCB")
    expected = dlconv(X, layer.Weights, layer.Bias, Stride=[1, 2], Padding=[1, 0, 1, 1])
    np.testing.assert_array_equal(host(Y), host(expected))
    naive = naive_conv(host(X), host(layer.Weights), host(layer.Bias), (1, 2), (1, 0, 1, 1))
    np.testing.assert_allclose(host(Y), naive, rtol=1e-5, atol=1e-5)
    same = ready(convolution2dLayer(3, 2, Padding="same", Stride=2), (6, 7, 3, 1))
    assert same.predict(X).shape == (3, 4, 2, 2)


def test_pooling_layers_are_the_pooling_ops(xp, rng):
    X = images(rng, xp)
    pool = ready(maxPooling2dLayer(2), (6, 7, 3, 1))
    assert pool.predict(X).shape == (5, 6, 3, 2)  # stride 1 by default
    np.testing.assert_array_equal(host(pool.predict(X)), host(maxpool(X, 2, Stride=1)))
    avg = ready(averagePooling2dLayer(3, Stride=2, Padding=1), (6, 7, 3, 1))
    np.testing.assert_array_equal(host(avg.predict(X)),
                                  host(avgpool(X, 3, Stride=2, Padding=1)))
    assert avg.initialize((6, 7, 3, 1), "SSCB") == ((3, 4, 3, 1), "SSCB")


def test_global_pooling_layers_reduce_each_channel_over_the_image(xp, rng):
    X = images(rng, xp)
    x = host(X)
    for layer, reduce in [(globalAveragePooling2dLayer(), np.mean),
                          (globalMaxPooling2dLayer(), np.max)]:
        assert layer.initialize((6, 7, 3, 1), "SSCB") == ((1, 1, 3, 1), "SSCB")
        Y = layer.predict(X)
        assert Y.fmt == "SSCB" and Y.shape == (1, 1, 3, 2)
        np.testing.assert_allclose(host(Y), reduce(x.astype(np.float64), axis=(0, 1),
                                                   keepdims=True), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(2-D Global Average Pooling\) expects 2-D image"):
        globalAveragePooling2dLayer().initialize((5, 1), "CB")
    with pytest.raises(ValueError, match="Name"):
        globalMaxPooling2dLayer(Name=3)


def test_fully_connected_layer_flattens_column_major(xp, rng):
    X = images(rng, xp, (2, 3, 4, 5))
    fc = ready(fullyConnectedLayer(6, BiasInitializer="ones"), (2, 3, 4, 1))
    assert fc.Weights.shape == (6, 24) and fc.Bias.shape == (6, 1) and fc.InputSize == 24
    Y = fc.predict(X)
    assert Y.fmt == "CB" and Y.shape == (6, 5)
    naive = host(fc.Weights) @ host(X).reshape(24, 5, order="F") + 1
    np.testing.assert_allclose(host(Y), naive, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(host(Y), host(fullyconnect(X, fc.Weights, fc.Bias)))


def test_flatten_matches_matlab_reshape_and_feeds_fc_identically(xp, rng):
    X = images(rng, xp, (2, 3, 4, 5))
    flat = flattenLayer()
    assert flat.initialize((2, 3, 4, 1), "SSCB") == ((24, 1), "CB")
    Y = flat.predict(X)
    assert Y.fmt == "CB" and Y.shape == (24, 5)
    np.testing.assert_array_equal(host(Y), host(X).reshape(24, 5, order="F"))
    fc = ready(fullyConnectedLayer(3), (2, 3, 4, 1))
    np.testing.assert_allclose(host(fc.predict(Y)), host(fc.predict(X)), rtol=1e-5, atol=1e-6)
    assert flat.predict(Y) is Y  # already flat


def test_activation_and_softmax_layers_are_their_ops(xp, rng):
    X = images(rng, xp)
    np.testing.assert_array_equal(host(reluLayer().predict(X)), host(relu(X)))
    np.testing.assert_array_equal(host(leakyReluLayer(0.2).predict(X)), host(leakyrelu(X, 0.2)))
    np.testing.assert_array_equal(host(softmaxLayer().predict(X)), host(softmax(X)))
    np.testing.assert_array_equal(host(sigmoidLayer().predict(X)), host(sigmoid(X)))
    np.testing.assert_array_equal(host(tanhLayer().predict(X)), host(tanh(X)))
    assert sigmoidLayer("Name", "s").Name == "s" and tanhLayer(Name="t").Name == "t"
    assert reluLayer().initialize((6, 7, 3, 1), "SSCB") == ((6, 7, 3, 1), "SSCB")


def test_instance_normalization_matches_the_formula(xp, rng):
    X = images(rng, xp)
    layer = ready(instanceNormalizationLayer(Epsilon=1e-3, OffsetInitializer="narrow-normal"),
                  (6, 7, 3, 1))
    assert layer.Scale.shape == layer.Offset.shape == (1, 1, 3) and layer.NumChannels == 3
    x = host(X).astype(np.float64)
    mu, var = x.mean(axis=(0, 1), keepdims=True), x.var(axis=(0, 1), keepdims=True)
    expected = (x - mu) / np.sqrt(var + 1e-3) * 1 + host(layer.Offset).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(host(layer.predict(X)), expected, rtol=1e-4, atol=1e-5)


def test_layer_and_group_normalization_are_their_ops(xp, rng):
    X = images(rng, xp, (4, 4, 6, 2))
    ln = ready(layerNormalizationLayer(), (4, 4, 6, 1))
    np.testing.assert_array_equal(host(ln.predict(X)), host(layernorm(X, ln.Offset, ln.Scale)))
    gn = ready(groupNormalizationLayer(3, ScaleInitializer=lambda sz: np.full(sz, 2.0)),
               (4, 4, 6, 1))
    assert np.all(host(gn.Scale) == 2)
    np.testing.assert_array_equal(host(gn.predict(X)),
                                  host(groupnorm(X, 3, gn.Offset, gn.Scale)))
    x = host(X).astype(np.float64)
    expected = np.empty_like(x)
    for g in range(3):  # groups of consecutive channels (0, 1), (2, 3), (4, 5)
        block = x[:, :, 2 * g:2 * g + 2]
        mu, var = block.mean(axis=(0, 1, 2)), block.var(axis=(0, 1, 2))
        expected[:, :, 2 * g:2 * g + 2] = 2 * (block - mu) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(host(gn.predict(X)), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"layer '' \(Group Normalization\): NumGroups \(4\) "
                                         r"must divide the number of channels \(6\)"):
        ready(groupNormalizationLayer(4), (4, 4, 6, 1))
    assert ready(groupNormalizationLayer("channel-wise"), (4, 4, 6, 1)).NumChannels == 6


def test_batch_normalization_prediction_and_training(xp, rng):
    X = images(rng, xp)
    bn = ready(batchNormalizationLayer(), (6, 7, 3, 1))
    assert bn.TrainedMean.shape == bn.TrainedVariance.shape == (1, 1, 3)
    bn.TrainedMean = dev(xp, np.array([0.5, -1.0, 2.0], np.float32).reshape(1, 1, 3))
    bn.TrainedVariance = dev(xp, np.array([4.0, 1.0, 0.25], np.float32).reshape(1, 1, 3))
    x = host(X).astype(np.float64)
    m, v = host(bn.TrainedMean).reshape(1, 1, 3, 1), host(bn.TrainedVariance).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(host(bn.predict(X)), (x - m) / np.sqrt(v + 1e-5), rtol=1e-5,
                               atol=1e-5)
    Y, state = bn.forward(X)
    bmu, bvar = x.mean(axis=(0, 1, 3), keepdims=True), x.var(axis=(0, 1, 3), keepdims=True)
    np.testing.assert_allclose(host(Y), (x - bmu) / np.sqrt(bvar + 1e-5), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(host(state["TrainedMean"]).reshape(1, 1, 3, 1),
                               0.1 * bmu + 0.9 * m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(state["TrainedVariance"]).reshape(1, 1, 3, 1),
                               0.1 * bvar + 0.9 * v, rtol=1e-5, atol=1e-6)


def test_normalization_layers_on_feature_input_use_c_by_1_parameters(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((5, 8)).astype(np.float32)), "CB")
    bn = ready(batchNormalizationLayer(), (5, 1), "CB")
    assert bn.Scale.shape == bn.TrainedMean.shape == (5, 1)
    Y, _ = bn.forward(X)
    x = host(X).astype(np.float64)
    np.testing.assert_allclose(host(Y), (x - x.mean(1, keepdims=True))
                               / np.sqrt(x.var(1, keepdims=True) + 1e-5), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"expects input with 5 channels, got 4"):
        bn.predict(dlarray(dev(xp, np.zeros((4, 2), np.float32)), "CB"))


def test_dropout_zeroes_with_probability_p_and_rescales(xp, rng):
    X = dlarray(dev(xp, np.ones((100, 200), np.float32)), "CB")
    layer = dropoutLayer(0.3)
    assert layer.predict(X) is X
    minidl.rng(5)
    y = host(layer.forward(X))
    assert abs(np.mean(y == 0) - 0.3) < 0.01
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.7], rtol=1e-6)
    minidl.rng(5)
    np.testing.assert_array_equal(host(layer.forward(X)), y)
    assert dropoutLayer(0).forward(X) is X


def test_function_layer_formattable_and_not(xp, rng):
    X = images(rng, xp)
    seen = []

    def square(Z):
        seen.append(Z.fmt)
        return Z * Z

    Y = functionLayer(square).predict(X)
    assert seen == [""] and Y.fmt == "SSCB"
    np.testing.assert_allclose(host(Y), host(X) ** 2, rtol=1e-6)
    fmt_layer = functionLayer(lambda Z: Z.sum("S"), Formattable=True)
    assert fmt_layer.predict(X).fmt == "SSCB" and fmt_layer.predict(X).shape == (1, 1, 3, 2)
    assert fmt_layer.initialize((6, 7, 3, 1), "SSCB") == ((1, 1, 3, 1), "SSCB")
    with pytest.raises(TypeError, match="PredictFcn must return a dlarray"):
        functionLayer(lambda Z: 3).predict(X)


def test_layers_reject_the_wrong_input_naming_themselves(xp, rng):
    conv = ready(convolution2dLayer(3, 2, Name="c"), (6, 7, 3, 1))
    with pytest.raises(ValueError, match=r"layer 'c' \(2-D Convolution\) expects input with 3 "
                                         r"channels, got 2"):
        conv.predict(images(rng, xp, (6, 7, 2, 1)))
    with pytest.raises(ValueError, match=r"layer 'c' \(2-D Convolution\) expects input with "
                                         r"format 'SSCB', got 'CB'"):
        conv.predict(dlarray(dev(xp, np.zeros((3, 2), np.float32)), "CB"))
    with pytest.raises(ValueError, match=r"has NumChannels 3 but its input has 2 channels"):
        convolution2dLayer(3, 2, NumChannels=3).initialize((6, 7, 2, 1), "SSCB")
    with pytest.raises(ValueError, match=r"window 5x5 is larger than its padded input 4x4"):
        convolution2dLayer(5, 2).initialize((4, 4, 1, 1), "SSCB")
    fc = ready(fullyConnectedLayer(2, Name="f"), (3, 1), "CB")
    with pytest.raises(ValueError, match=r"layer 'f' \(Fully Connected\) expects 3 input "
                                         r"elements per observation, got 4"):
        fc.predict(dlarray(dev(xp, np.zeros((4, 2), np.float32)), "CB"))


def test_given_batch_statistics_must_be_finite_and_the_variance_nonnegative():
    with pytest.raises(ValueError, match=r"batchNormalizationLayer: TrainedVariance must be "
                                         r"finite and nonnegative, got \[-1 -1\]"):
        batchNormalizationLayer(TrainedVariance=-np.ones(2))
    with pytest.raises(ValueError, match="TrainedMean must be finite, got"):
        batchNormalizationLayer(TrainedMean=[np.nan, 0])
    with pytest.raises(ValueError, match="TrainedVariance must be numeric, got 'x'"):
        batchNormalizationLayer(TrainedVariance="x")
    layer = batchNormalizationLayer(TrainedMean=np.zeros(2), TrainedVariance=np.ones(2))
    np.testing.assert_array_equal(host(layer.TrainedVariance).ravel(), [1, 1])


def test_factor_accessors_take_a_network_and_a_layer_name():
    net = minidl.dlnetwork([minidl.layers.featureInputLayer(4), fullyConnectedLayer(3, Name="fc")])
    frozen = minidl.setLearnRateFactor(net, "fc", "Weights", 0)
    assert minidl.getLearnRateFactor(frozen, "fc", "Weights") == 0
    assert minidl.getLearnRateFactor(net, "fc", "Weights") == 1  # the caller's net is unchanged
    assert minidl.getL2Factor(minidl.setL2Factor(net, "fc", "Bias", 0.5), "fc", "Bias") == 0.5
    X = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    opts = minidl.trainingOptions("sgdm", MaxEpochs=2, Verbose=False)
    trained, _ = minidl.trainnet(X, X[:, :3] * 2, frozen, "mse", opts)
    np.testing.assert_array_equal(host(trained.Learnables.Value[0]),
                                  host(frozen.Learnables.Value[0]))  # frozen: not trained
    assert not np.array_equal(host(trained.Learnables.Value[1]), host(frozen.Learnables.Value[1]))
    with pytest.raises(ValueError, match="the network has no layer named 'conv'; its layers are "
                                         "'input', 'fc'"):
        minidl.setLearnRateFactor(net, "conv", "Weights", 0)
    with pytest.raises(TypeError, match=r"getL2Factor\(net, layerName, parameterName\) takes 3 "
                                        r"arguments, got 2"):
        minidl.getL2Factor(net, "fc")


def test_small_option_forms_work_and_errors_name_the_constructor():
    assert dropoutLayer(np.array(0.25)).Probability == 0.25  # a 0-d array is its number
    with pytest.raises(ValueError, match="convolution2dLayer: Weights must be a numeric array"):
        minidl.layers.convolution2dLayer(3, 2, Weights="abc")
    with pytest.raises(ValueError, match="batchNormalizationLayer: Scale must be a numeric array"):
        batchNormalizationLayer(Scale="abc")
    layers = minidl.layers.LayerArray([reluLayer(Name="a"), softmaxLayer(Name="b"),
                                       reluLayer(Name="c")])
    assert [layer.Name for layer in layers[[0, 2]]] == ["a", "c"]  # MATLAB's layers([1 3])
