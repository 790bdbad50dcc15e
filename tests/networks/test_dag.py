"""Networks with branches: building graphs, multi-input layers, evaluation plans, errors,
residual training, gradients, save/load and layerGraph."""

import numpy as np
import pytest

import minidl
from minidl import dlarray, dlfeval, dlgradient
from minidl.core import gradcheck
from minidl.layers import (
    batchNormalizationLayer,
    convolution2dLayer,
    featureInputLayer,
    fullyConnectedLayer,
    globalAveragePooling2dLayer,
    imageInputLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.layers.combine import (
    AdditionLayer,
    additionLayer,
    concatenationLayer,
    depthConcatenationLayer,
)
from minidl.networks import setLearnRateFactor
from minidl.networks.io import load, save
from minidl.networks.network import (
    LayerGraph,
    addLayers,
    connectLayers,
    disconnectLayers,
    dlnetwork,
    forward,
    initialize,
    layerGraph,
    predict,
    removeLayers,
    replaceLayer,
)
from minidl.networks.summary import analyzeNetwork
from minidl.ops.loss import crossentropy
from minidl.training import minibatchpredict
from minidl.training import testnet as evaluate
from minidl.training.options import trainingOptions
from minidl.training.trainnet import trainnet
from tests.conftest import dev, host


def residual_layers(channels=4, classes=3, size=(8, 8, 1)):
    """conv -> bn -> relu -> conv -> bn -> add(+skip) -> relu -> gap -> fc -> softmax."""
    return [imageInputLayer(list(size), Normalization="none"),
            convolution2dLayer(3, channels, Padding="same"), batchNormalizationLayer(),
            reluLayer(Name="relu_1"), convolution2dLayer(3, channels, Padding="same"),
            batchNormalizationLayer(), additionLayer(2, Name="add"), reluLayer(),
            globalAveragePooling2dLayer(), fullyConnectedLayer(classes), softmaxLayer()]


def residual_net(**kw):
    net = addLayers(dlnetwork(), residual_layers(**kw))
    return initialize(connectLayers(net, "relu_1", "add/in2"))


def images(xp, rng, shape=(8, 8, 1, 5)):
    return dlarray(dev(xp, rng.standard_normal(shape).astype(np.float32)), "SSCB")


# ---- building a graph -----------------------------------------------------------------------

CONNECTIONS = """\
  11x2 table

        Source           Destination
    _______________    _______________
    {'imageinput' }    {'conv_1'     }
    {'conv_1'     }    {'batchnorm_1'}
    {'batchnorm_1'}    {'relu_1'     }
    {'relu_1'     }    {'conv_2'     }
    {'conv_2'     }    {'batchnorm_2'}
    {'batchnorm_2'}    {'add/in1'    }
    {'add'        }    {'relu'       }
    {'relu'       }    {'gapool'     }
    {'gapool'     }    {'fc'         }
    {'fc'         }    {'softmax'    }
    {'relu_1'     }    {'add/in2'    }"""


def test_the_documented_way_builds_a_residual_network():
    empty = dlnetwork()
    assert not empty.Initialized and len(empty.Layers) == 0 and empty.InputNames == []
    net = addLayers(empty, residual_layers())
    assert len(empty.Layers) == 0  # the editing functions return copies
    assert net.InputNames == ["imageinput", "add/in2"] and net.OutputNames == ["softmax"]
    net = connectLayers(net, "relu_1", "add/in2")
    assert not net.Initialized and net.InputNames == ["imageinput"]
    assert repr(net.Connections) == CONNECTIONS
    assert net.Connections.Destination[5] == "add/in1"
    ready = initialize(net)
    assert ready.Initialized and not net.Initialized
    assert "Connections: [11x2 table]" in repr(ready) and "Initialized: 1" in repr(ready)
    assert [v.shape for v in ready.Learnables.Value][:2] == [(3, 3, 1, 4), (1, 1, 4)]
    assert len(ready.State) == 4 and not ready._chain


def test_a_chain_stays_on_the_fast_loop_however_it_is_built():
    layers = [featureInputLayer(3), fullyConnectedLayer(4), reluLayer(), fullyConnectedLayer(2)]
    assert dlnetwork(layers)._chain
    assert initialize(addLayers(dlnetwork(), layers))._chain
    assert dlnetwork(layerGraph(layers))._chain
    assert not residual_net()._chain


def test_layers_added_out_of_order_run_in_topological_order(rng):
    """The skip branch is added first: the plan still runs each layer after its inputs."""
    net = addLayers(dlnetwork(), [convolution2dLayer(1, 4, Name="skip_conv")])
    net = addLayers(net, residual_layers())
    net = connectLayers(connectLayers(net, "relu_1", "skip_conv"), "skip_conv", "add/in2")
    net = initialize(net)
    X = images(np, rng)
    W = host(net.Learnables.Value[0])[0, 0, :, :]  # skip_conv: 1x1, 4 -> 4 channels
    Y = net.predict(X, Outputs=["relu_1", "batchnorm_2", "add"])
    expected = host(Y[1]) + np.einsum("hwcn,cf->hwfn", host(Y[0]), W) \
        + host(net.Learnables.Value[1]).reshape(1, 1, 4, 1)
    np.testing.assert_allclose(host(Y[2]), expected, rtol=1e-5, atol=1e-5)
    assert net.predict(X).shape == (3, 5)


def test_the_plan_frees_each_activation_after_its_last_reader():
    net = residual_net()
    names = [layer.Name for layer in net.Layers]
    steps = net._plans[None].steps
    order = [names[i] for i, _, _ in steps]
    assert order == names  # a residual block added in order runs in its own order
    freed = {names[s] if s < len(names) else "input": k for k, (_, _, free) in
             enumerate(steps) for s in free}
    assert order[freed["relu_1"]] == "add"  # kept for the skip connection until the sum
    assert order[freed["batchnorm_1"]] == "relu_1"
    assert order[freed["input"]] == "imageinput"
    assert "softmax" not in freed  # the output is returned


def test_names_are_made_unique_as_matlab_does_and_clashes_are_errors():
    net = addLayers(dlnetwork(), [featureInputLayer(3), reluLayer(), reluLayer()])
    assert [layer.Name for layer in net.Layers] == ["input", "relu_1", "relu_2"]
    net = addLayers(net, reluLayer())  # "relu" is free: MATLAB's default name
    net = addLayers(net, [reluLayer(), reluLayer()])
    assert [layer.Name for layer in net.Layers][3:] == ["relu", "relu_3", "relu_4"]
    with pytest.raises(ValueError, match="addLayers: the network already has a layer named "
                                         "'relu_1'"):
        addLayers(net, reluLayer(Name="relu_1"))
    with pytest.raises(ValueError, match="addLayers: layer names must be unique, but 'a' names "
                                         "layers 1, 2"):
        addLayers(net, [reluLayer(Name="a"), reluLayer(Name="a")])


def test_disconnect_remove_and_replace():
    net = residual_net()
    cut = disconnectLayers(net, "relu_1", "add/in2")
    assert not cut.Initialized and cut.InputNames == ["imageinput", "add/in2"]
    with pytest.raises(ValueError, match="input 'add/in2' is not connected"):
        initialize(cut)
    with pytest.raises(ValueError, match="no connection from 'relu_1' to 'add/in1'"):
        disconnectLayers(net, "relu_1", "add/in1")
    gone = removeLayers(net, ["batchnorm_1", "relu"])
    assert "batchnorm_1" not in [layer.Name for layer in gone.Layers]
    assert ("conv_1", "relu_1") not in zip(gone.Connections.Source, gone.Connections.Destination)
    assert gone.OutputNames == ["conv_1", "add", "softmax"] and gone.InputNames == ["imageinput",
                                                                         "relu_1", "gapool"]
    swapped = replaceLayer(net, "relu_1", [batchNormalizationLayer(Name="bn_x"),
                                           reluLayer(Name="r2")])
    pairs = set(zip(swapped.Connections.Source, swapped.Connections.Destination))
    assert {("batchnorm_1", "bn_x"), ("bn_x", "r2"), ("r2", "conv_2"), ("r2", "add/in2")} <= pairs
    assert [layer.Name for layer in swapped.Layers][3:5] == ["bn_x", "r2"]
    assert initialize(swapped).predict(np.zeros((8, 8, 1, 2))).shape == (3, 2)
    # a two-input layer in place of the addition: by name, or by position
    bare = connectLayers(addLayers(dlnetwork(), residual_layers()), "relu_1", "add/in2")
    cat = replaceLayer(bare, "add", depthConcatenationLayer(2, Name="cat"))
    assert {("batchnorm_2", "cat/in1"), ("relu_1", "cat/in2"), ("cat", "relu")} <= set(
        zip(cat.Connections.Source, cat.Connections.Destination))
    assert initialize(cat).Layers[9].InputSize == 8  # fc after 4 + 4 channels
    with pytest.raises(ValueError, match="layer 'fc' .* has InputSize 4 but its input has 8"):
        initialize(replaceLayer(net, "add", depthConcatenationLayer(2, Name="cat")))
    relu = replaceLayer(removeLayers(net, "softmax"), "relu", reluLayer(Name="r"),
                        ReconnectBy="order")
    assert relu.OutputNames == ["fc"]
    with pytest.raises(ValueError, match=r"'add' input 'in1' is connected, but layer 'r' has no "
                                         "input of that name"):
        replaceLayer(net, "add", reluLayer(Name="r"))
    with pytest.raises(ValueError, match="input 2 of 'add' is connected, but layer 'r' has 1 "):
        replaceLayer(net, "add", reluLayer(Name="r"), ReconnectBy="order")


def test_graph_errors_name_layers_and_inputs():
    net = addLayers(dlnetwork(), residual_layers())
    with pytest.raises(ValueError, match="connectLayers: the network has no layer named 'relu_9'"):
        connectLayers(net, "relu_9", "add/in2")
    with pytest.raises(ValueError, match="the network has no layer named 'plus'"):
        connectLayers(net, "relu_1", "plus/in2")
    with pytest.raises(ValueError, match="layer 'add' has no input 'in3'; its inputs are in1, in2"):
        connectLayers(net, "relu_1", "add/in3")
    with pytest.raises(ValueError, match=r"layer 'add' has several inputs \(in1, in2\): name one"):
        connectLayers(net, "relu_1", "add")
    with pytest.raises(ValueError, match="input 'add/in1' is already connected to 'batchnorm_2'"):
        connectLayers(net, "relu_1", "add/in1")
    with pytest.raises(ValueError, match="'imageinput' .* is an input layer: it has no inputs"):
        connectLayers(net, "relu_1", "imageinput")
    with pytest.raises(ValueError, match="connecting 'softmax' to 'add/in2' would make a cycle"):
        connectLayers(net, "softmax", "add/in2")
    with pytest.raises(ValueError, match="would make a cycle"):
        connectLayers(addLayers(dlnetwork(), additionLayer(2, Name="a")), "a", "a/in1")
    with pytest.raises(ValueError, match="input 'add/in2' is not connected: connect it"):
        initialize(net)
    with pytest.raises(TypeError, match="connectLayers expects a dlnetwork or a layerGraph"):
        connectLayers([reluLayer()], "a", "b")
    cyclic = addLayers(dlnetwork(), [reluLayer(Name="a"), reluLayer(Name="b")])
    cyclic._connections.append(("b", "a", "in"))  # as only a corrupt file could make it
    with pytest.raises(ValueError, match="dlnetwork: the layers 'a', 'b' are in a cycle"):
        initialize(cyclic)


def test_a_graph_without_input_layers_initializes_from_example_inputs(rng):
    net = addLayers(dlnetwork(), [fullyConnectedLayer(3, Name="fa"), additionLayer(2, Name="s")])
    net = addLayers(net, fullyConnectedLayer(3, Name="fb"))
    net = connectLayers(net, "fb", "s/in2")
    assert net.InputNames == ["fa", "fb"]
    A = dlarray(rng.standard_normal((4, 5)).astype(np.float32), "CB")
    B = dlarray(rng.standard_normal((2, 5)).astype(np.float32), "CB")
    net = initialize(net, A, B)
    W = [host(v) for v in net.Learnables.Value]
    expected = W[0] @ host(A) + W[1] + W[2] @ host(B) + W[3]
    np.testing.assert_allclose(host(predict(net, A, B)), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"predict: the network has 2 inputs \('fa', 'fb'\), "
                                         "got 1"):
        net.predict(A)
    with pytest.raises(ValueError, match="layer 'fb' expects a dlarray with format 'CB'"):
        net.predict(A, host(B))


def test_several_outputs_come_back_in_order(rng):
    net = addLayers(dlnetwork(), [featureInputLayer(3), fullyConnectedLayer(2, Name="f1")])
    net = connectLayers(addLayers(net, fullyConnectedLayer(4, Name="f2")), "input", "f2")
    net = initialize(net)
    assert net.OutputNames == ["f1", "f2"]
    X = rng.standard_normal((5, 3)).astype(np.float32)
    Y1, Y2 = net.predict(X)
    assert Y1.shape == (2, 5) and Y2.shape == (4, 5)
    Z1, Z2, state = forward(net, X)
    np.testing.assert_allclose(host(Z2), host(Y2), rtol=1e-6)
    np.testing.assert_array_equal(host(net.predict(X, Outputs="f2")), host(Y2))
    np.testing.assert_array_equal(host(net.predict(X, Outputs=["f2/out", "f1"])[1]), host(Y1))


# ---- the multi-input layers -----------------------------------------------------------------

LAYERS = """\
  3x1 Layer array with layers:

     1   'add'   Addition              Element-wise addition of 3 inputs
     2   'cat'   Concatenation         Concatenation of 2 inputs along dimension 1
     3   ''      Depth concatenation   Depth concatenation of 2 inputs"""


def test_multi_input_layers_display_like_matlab():
    layers = [additionLayer(3, Name="add"), concatenationLayer(1, 2, "Name", "cat"),
              depthConcatenationLayer(2)]
    assert repr(minidl.layers.LayerArray(layers)) == LAYERS
    assert repr(additionLayer(2, Name="add_1")) == (
        "  AdditionLayer with properties:\n\n          Name: 'add_1'\n     NumInputs: 2\n"
        "    InputNames: {'in1'  'in2'}")
    assert "           Dim: 1\n     NumInputs: 2\n" in repr(layers[1])
    assert layers[0].InputNames == ("in1", "in2", "in3") and layers[0].OutputNames == ("out",)
    with pytest.raises(ValueError, match="additionLayer: numInputs must be an integer of at "
                                         "least 2, got 1"):
        additionLayer(1)
    with pytest.raises(ValueError, match="depthConcatenationLayer: numInputs"):
        depthConcatenationLayer(0)


def test_addition_sums_and_names_the_layer_and_sizes_when_they_differ(xp, rng):
    a, b = images(xp, rng, (4, 4, 2, 3)), images(xp, rng, (4, 4, 2, 3))
    layer = additionLayer(2, Name="add")
    np.testing.assert_allclose(host(layer.predict(a, b)), host(a) + host(b))
    with pytest.raises(ValueError, match=r"layer 'add' \(Addition\) adds inputs of one size, "
                                         r"got in1: 4x4x2x3, in2: 4x4x3x3 \(format 'SSCB'\)"):
        layer.predict(a, images(xp, rng, (4, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"layer 'add' \(Addition\) has 2 inputs, got 3"):
        layer.predict(a, b, b)
    with pytest.raises(ValueError, match="expects formatted inputs of one format, got in1: "
                                         "'SSCB', in2: 'CB'"):
        layer.predict(a, dlarray(host(b).reshape(32, 3), "CB"))
    # in a network, at initialization
    net = addLayers(dlnetwork(), [imageInputLayer([4, 4, 2], Normalization="none"),
                                  convolution2dLayer(1, 3), additionLayer(2, Name="add")])
    net = connectLayers(net, "imageinput", "add/in2")
    with pytest.raises(ValueError, match=r"layer 'add' \(Addition\) adds inputs of one size, got "
                                         r"in1: 4x4x3x1, in2: 4x4x2x1"):
        initialize(net)


@pytest.mark.parametrize("make, axis", [(lambda: depthConcatenationLayer(3), 2),
                                        (lambda: concatenationLayer(3, 3), 2),
                                        (lambda: concatenationLayer(1, 3), 0)])
def test_concatenation_values_memory_order_and_gradients(xp, rng, make, axis):
    layer = make()
    shapes = [(3, 3, 2, 2), (3, 3, 1, 2), (3, 3, 3, 2)]
    if axis == 0:
        shapes = [(2, 3, 2, 2), (1, 3, 2, 2), (3, 3, 2, 2)]
    Xs = [images(xp, rng, s) for s in shapes]
    Y = layer.predict(*Xs)
    np.testing.assert_array_equal(host(Y), np.concatenate([host(X) for X in Xs], axis=axis))
    assert Y.fmt == "SSCB"
    strides = Y._data.transpose(3, 0, 1, 2).strides  # N, H, W, C memory, as image ops keep it
    assert strides[0] > strides[1] > strides[2] > strides[3] == Y._data.itemsize
    X64 = [dlarray(dev(xp, rng.standard_normal(s)), "SSCB") for s in shapes]
    assert gradcheck(lambda *xs: layer.predict(*xs), *X64) < 1e-6


def test_concatenation_errors_name_the_layer(rng):
    a, b = images(np, rng, (3, 3, 2, 2)), images(np, rng, (4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"layer 'cat' \(Depth concatenation\) concatenates along "
                                         r"dimension 3 \('C'\) inputs whose other sizes agree, "
                                         "got in1: 3x3x2x2, in2: 4x3x2x2"):
        depthConcatenationLayer(2, Name="cat").predict(a, b)
    with pytest.raises(ValueError, match=r"dimension 4, which must be a spatial \('S'\) or "
                                         r"channel \('C'\) dimension of its input format 'SSCB' "
                                         r"\(got 'B'\)"):
        concatenationLayer(4, 2, Name="c").predict(a, a)


# ---- evaluation: state, gradients, training ---------------------------------------------------

def test_forward_updates_batch_norm_state_and_differs_from_predict(xp, rng):
    minidl.rng(0)
    net = residual_net()
    X = images(xp, rng, (8, 8, 1, 6))
    Y, state = forward(net, X)
    assert state.Layer == net.State.Layer
    means = dict(zip(zip(state.Layer, state.Parameter), state.Value))
    assert float(np.abs(host(means[("batchnorm_2", "TrainedMean")])).sum()) > 0
    assert float(np.abs(host(net.State.Value[0])).sum()) == 0  # the network is not changed
    assert not np.allclose(host(Y), host(net.predict(X)))
    net.State = state
    assert float(np.abs(host(net.State.Value[0])).sum()) > 0


def test_dlgradient_over_the_learnables_of_a_residual_network(xp, rng):
    net = residual_net()
    X = images(xp, rng)
    T = dlarray(dev(xp, np.eye(3, dtype=np.float32)[:, [0, 1, 2, 0, 1]]), "CB")

    def model_loss(net, X, T):
        Y, state = forward(net, X)
        loss = crossentropy(Y, T)
        return loss, dlgradient(loss, net.Learnables), state

    loss, grads, state = dlfeval(model_loss, net, X, T)
    assert grads.Layer == net.Learnables.Layer
    assert [g.shape for g in grads.Value] == [v.shape for v in net.Learnables.Value]
    assert all(float(np.abs(host(g)).sum()) > 0 for g in grads.Value)


def test_gradcheck_of_a_small_dag(rng):
    """Both branches and the sum: every learnable checked against finite differences."""
    net = addLayers(dlnetwork(), [featureInputLayer(3), fullyConnectedLayer(4, Name="a"),
                                  reluLayer(), additionLayer(2, Name="add"),
                                  fullyConnectedLayer(2, Name="out")])
    net = addLayers(net, [fullyConnectedLayer(4, Name="b"), depthConcatenationLayer(2, Name="c"),
                          fullyConnectedLayer(4, Name="d")])
    for s, d in [("input", "b"), ("a", "c/in2"), ("d", "add/in2")]:
        net = connectLayers(net, s, d)
    net = initialize(net)
    leaves, rebuild = net._tree_flatten()
    assert len(leaves) == 8
    X = dlarray(rng.standard_normal((3, 5)), "CB")
    assert gradcheck(lambda x, *ls: rebuild(list(ls)).predict(x), X, *leaves, tol=1e-5) < 1e-5
    bn = replaceLayer(net, "relu", batchNormalizationLayer(Name="bn"))
    bn = initialize(bn)
    leaves, rebuild = bn._tree_flatten()
    assert gradcheck(lambda x, *ls: rebuild(list(ls)).forward(x)[0], X, *leaves,
                     tol=1e-5) < 1e-5


def stripes(n=160, seed=0):
    """8 x 8 x 1 x n images: vertical (class "v") or horizontal ("h") stripes, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    wave = np.sin(np.arange(8) * np.pi / 2)
    X = np.where(labels[None, None, :] == 0, wave[None, :, None], wave[:, None, None])
    X = X[:, :, None, :] + 0.3 * rng.standard_normal((8, 8, 1, n))
    return X.astype(np.float32), np.array(["v", "h"])[labels]


def test_a_residual_network_trains_with_trainnet():
    X, labels = stripes()
    minidl.rng(0)
    lgraph = connectLayers(layerGraph(residual_layers(classes=2)), "relu_1", "add/in2")
    opts = trainingOptions("adam", InitialLearnRate=0.02, MaxEpochs=6, MiniBatchSize=32,
                           Verbose=False)
    net, info = trainnet(X, labels, lgraph, "crossentropy", opts)
    loss = info.TrainingHistory["Loss"]
    assert isinstance(net, dlnetwork) and net.Initialized and not net._chain
    assert np.mean(loss[-5:]) < 0.5 * np.mean(loss[:3])
    assert evaluate(net, X, labels, "accuracy") > 90
    scores = minibatchpredict(net, X, MiniBatchSize=64)
    assert scores.shape == (160, 2)
    np.testing.assert_allclose(scores, host(net.predict(X)).T, rtol=1e-4, atol=1e-5)
    # population statistics of the batch norm layers come from the graph too
    assert float(np.abs(host(net.State.Value[0])).sum()) > 0


def test_split_chunks_of_a_graph_give_the_unsplit_prediction(rng):
    """What the mini-batch split does (predict on chunks, joined) is exact for a graph."""
    net = residual_net()
    X = rng.standard_normal((8, 8, 1, 64)).astype(np.float32)
    whole = host(net.predict(X))
    parts = np.concatenate([host(net.predict(X[..., :32])), host(net.predict(X[..., 32:]))],
                           axis=1)
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-6)


def test_learn_rate_factors_and_summary_of_a_graph():
    net = setLearnRateFactor(residual_net(), "conv_2", "Weights", 0)
    factors = dict(zip(zip(net.Learnables.Layer, net.Learnables.Parameter),
                       net.learnable_factors()))
    assert factors[("conv_2", "Weights")] == (0.0, 1.0) and net.Initialized
    text = repr(analyzeNetwork(net))
    assert "Inputs" in text.splitlines()[2]
    assert "in1: batchnorm_2, in2: relu_1" in text
    chain = repr(analyzeNetwork(dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)])))
    assert "Inputs" not in chain


# ---- layerGraph ---------------------------------------------------------------------------------

def test_layer_graph_has_the_same_editing_functions():
    lgraph = layerGraph(residual_layers())
    assert isinstance(lgraph, LayerGraph) and not hasattr(lgraph, "Learnables")
    assert repr(lgraph).splitlines()[2:] == [
        "         Layers: [11x1 nnet.cnn.layer.Layer]", "    Connections: [10x2 table]",
        "     InputNames: {'imageinput'  'add/in2'}", "    OutputNames: {'softmax'}"]
    lgraph = lgraph.connectLayers("relu_1", "add/in2")
    assert isinstance(lgraph, LayerGraph) and len(lgraph.Connections) == 11
    net = dlnetwork(lgraph)
    assert net.Initialized and len(lgraph.Connections) == 11
    assert len(layerGraph().Layers) == 0
    with pytest.raises(TypeError, match=r"initialize expects a dlnetwork, got LayerGraph: build "
                                        r"one with dlnetwork\(lgraph\)"):
        initialize(lgraph)
    assert len(removeLayers(lgraph, "softmax").Layers) == 10
    with pytest.raises(ValueError, match="removeLayers: the layer graph has no layer named 'x'"):
        removeLayers(lgraph, "x")


# ---- save and load ----------------------------------------------------------------------------

def test_graphs_round_trip_through_save_and_load(xp, rng, tmp_path):
    net = residual_net()
    net.State = forward(net, images(xp, rng))[1]
    save(net, tmp_path / "res.npz")
    loaded = load(tmp_path / "res.npz")
    assert loaded.Connections.Destination == net.Connections.Destination
    assert not loaded._chain and repr(loaded) == repr(net)
    X = images(xp, rng)
    np.testing.assert_array_equal(host(loaded.predict(X)), host(net.predict(X)))
    # uninitialized, and without input layers
    bare = connectLayers(addLayers(dlnetwork(), residual_layers()), "relu_1", "add/in2")
    save(bare, tmp_path / "bare.npz")
    assert load(tmp_path / "bare.npz").Connections.Source == bare.Connections.Source
    two = connectLayers(addLayers(addLayers(dlnetwork(), [fullyConnectedLayer(2, Name="a"),
                                                          additionLayer(2, Name="s")]),
                                  fullyConnectedLayer(2, Name="b")), "b", "s/in2")
    A = dlarray(dev(xp, rng.standard_normal((3, 4)).astype(np.float32)), "CB")
    two = initialize(two, A, A)
    save(two, tmp_path / "two.npz")
    np.testing.assert_array_equal(host(load(tmp_path / "two.npz").predict(A, A)),
                                  host(two.predict(A, A)))


def _altered(tmp_path, net, change):
    """Save ``net``, change its JSON structure with ``change``, write it back; the path."""
    import json

    save(net, tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as f:
        arrays = {k: f[k] for k in f.files}
    structure = json.loads(arrays["__structure__"].tobytes())
    change(structure)
    arrays["__structure__"] = np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)
    np.savez(tmp_path / "m.npz", **arrays)
    return tmp_path / "m.npz"


@pytest.mark.parametrize("change, message", [
    (lambda s: s["network"]["connections"].append(["softmax", "imageinput", "in"]),
     "ends at an input layer 'imageinput' does not have"),
    (lambda s: s["network"]["connections"].append(["softmax", "conv_1", "in"]),
     "input 'conv_1/in' is connected twice"),
    (lambda s: s["network"]["connections"].__setitem__(0, ["nope", "conv_1", "in"]),
     "names a layer the network lacks"),
    (lambda s: s["network"]["connections"].__setitem__(10, ["softmax", "add", "in2"]),
     "are in a cycle"),
    (lambda s: s["network"]["connections"].__setitem__(10, ["gapool", "add", "in2"]),
     "are in a cycle"),
    (lambda s: s["network"]["connections"].__setitem__(10, ["imageinput", "add", "in2"]),
     r"layer 'add' \(AdditionLayer\) does not run with its saved properties"),
    (lambda s: s["network"]["connections"].__setitem__(10, "x"),
     "a connection must be"),
])
def test_altered_connections_fail_to_load(tmp_path, change, message):
    path = _altered(tmp_path, residual_net(), change)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_chains_are_still_written_as_version_1(tmp_path):
    import json

    save(dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)]), tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as f:
        structure = json.loads(f["__structure__"].tobytes())
    assert structure["version"] == 1 and "connections" not in structure["network"]
    save(residual_net(), tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as f:
        assert json.loads(f["__structure__"].tobytes())["version"] == 2
    assert AdditionLayer.__name__ in str(json.loads(
        np.load(tmp_path / "g.npz")["__structure__"].tobytes())["layers"])


def test_a_custom_layer_with_two_inputs_needs_only_predict():
    """Layer.forward defaults to predict of all the inputs, so a custom multi-input layer
    trains without writing forward."""
    from minidl.layers.base import Layer

    class Product(Layer):
        Type, default_name = "Product", "product"
        NumInputs, InputNames = 2, ("in1", "in2")

        def initialize(self, sizes, fmts):
            return tuple(sizes[0]), fmts[0]

        def predict(self, A, B):
            return A * B

    net = addLayers(dlnetwork(), [featureInputLayer(3, Name="in"),
                                  fullyConnectedLayer(3, Name="fc"), Product(Name="mul")])
    net = initialize(connectLayers(net, "in", "mul/in2"))
    X = dlarray(np.array([[1.0], [2.0], [3.0]], np.float32), "CB")
    Y, _ = forward(net, X)
    np.testing.assert_allclose(host(Y), host(net.predict(X)))
    fc = net.Layers[1]
    np.testing.assert_allclose(host(Y), (host(fc.Weights) @ host(X) + host(fc.Bias)) * host(X),
                               rtol=1e-6)


def test_names_of_the_wrong_type_are_a_clear_type_error():
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)])
    with pytest.raises(TypeError, match="removeLayers: layerNames must be a layer name or a "
                                        "list of names, got int"):
        removeLayers(net, 5)
    with pytest.raises(TypeError, match="predict: Outputs must be a layer name or a list of "
                                        "names, got int"):
        net.predict(dlarray(np.ones((3, 2), np.float32), "CB"), Outputs=3)
