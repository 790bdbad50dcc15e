"""Every stored property of every built-in layer goes through a validator when a file is
loaded (layers/properties.py holds the constructors' own validators by property name): a test
that fails when a layer gains a property that loading would pass unchecked."""

import inspect

import numpy as np

import minidl as dl
from minidl import layers as L
from minidl.layers.properties import property_checks, validate_properties

EXAMPLES = [dl.imageInputLayer([8, 8, 3]), dl.featureInputLayer(4), dl.sequenceInputLayer(3),
            dl.convolution2dLayer(3, 4), dl.maxPooling2dLayer(2), dl.averagePooling2dLayer(2),
            dl.globalAveragePooling2dLayer(), dl.globalMaxPooling2dLayer(),
            dl.batchNormalizationLayer(), dl.instanceNormalizationLayer(),
            dl.layerNormalizationLayer(), dl.groupNormalizationLayer(2),
            dl.fullyConnectedLayer(3), dl.reluLayer(), dl.leakyReluLayer(), dl.sigmoidLayer(),
            dl.tanhLayer(), dl.softmaxLayer(), dl.dropoutLayer(), dl.flattenLayer(),
            dl.additionLayer(2), dl.concatenationLayer(3, 2), dl.depthConcatenationLayer(2),
            dl.lstmLayer(4), dl.bilstmLayer(4), dl.gruLayer(4)]
# checked by networks.io itself: the name (unique, text), the arrays (sizes against the
# network, finite), and an input layer's size and statistics (against its input size)
CHECKED_BY_LOAD = {"Name", "InputSize", "Mean", "StandardDeviation", "Min", "Max"}


def test_the_examples_cover_every_built_in_layer():
    classes = {obj for name, obj in vars(L).items() if inspect.isclass(obj)
               and issubclass(obj, L.Layer) and obj.__module__.startswith("minidl.layers.")
               and name.endswith("Layer") and obj not in (L.Layer, L.InputLayer, L.FunctionLayer)}
    # FunctionLayer holds a Python function: it cannot be saved, so it is never loaded
    assert classes == {type(layer) for layer in EXAMPLES}


def test_every_stored_property_has_a_validator():
    table = property_checks()
    for layer in EXAMPLES:
        for name in vars(layer):
            if name.startswith("_") or name in CHECKED_BY_LOAD or name.endswith(
                    ("LearnRateFactor", "L2Factor", "BiasInitializer")):
                continue
            if name in type(layer).learnables or name in type(layer).states:
                continue  # arrays, checked against the network by networks.io
            assert (type(layer).__name__, name) in table or name in table, \
                f"{type(layer).__name__}.{name} would be loaded unchecked"


def test_a_default_layer_passes_its_own_validators():
    for layer in EXAMPLES:
        validate_properties(layer, type(layer).__name__)  # no error


def test_a_bad_stored_value_is_refused_by_the_constructors_check():
    layer = dl.dropoutLayer()
    object.__setattr__(layer, "Probability", 5.0)
    try:
        validate_properties(layer, "layer 1")
    except ValueError as err:
        assert "Probability" in str(err) and "layer 1" in str(err)
    else:
        raise AssertionError("a dropout probability of 5 was accepted")
    assert np.isfinite(dl.dropoutLayer(0.3).Probability)
