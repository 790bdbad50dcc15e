"""Exact displays: the Layer array, single layers, dlnetwork, its tables and its summary."""

import numpy as np

from minidl.layers import (
    LayerArray,
    averagePooling2dLayer,
    batchNormalizationLayer,
    convolution2dLayer,
    dropoutLayer,
    featureInputLayer,
    flattenLayer,
    fullyConnectedLayer,
    functionLayer,
    groupNormalizationLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
    leakyReluLayer,
    maxPooling2dLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.networks.network import Table, dlnetwork


def example_layers():
    """The documented example, transcribed line by line."""
    return LayerArray([
        imageInputLayer([28, 28, 3]),
        convolution2dLayer(5, 20),
        instanceNormalizationLayer(),
        reluLayer(),
        maxPooling2dLayer(2, "Stride", 2),
        fullyConnectedLayer(10),
        softmaxLayer(),
    ])


EXAMPLE_ARRAY = """\
  7x1 Layer array with layers:

     1   ''   Image Input              28x28x3 images with 'zerocenter' normalization
     2   ''   2-D Convolution          20 5x5 convolutions with stride [1  1] and padding [0  0  0  0]
     3   ''   Instance Normalization   Instance normalization
     4   ''   ReLU                     ReLU
     5   ''   2-D Max Pooling          2x2 max pooling with stride [2  2] and padding [0  0  0  0]
     6   ''   Fully Connected          10 fully connected layer
     7   ''   Softmax                  softmax"""  # noqa: E501

INITIALIZED_ARRAY = """\
  7x1 Layer array with layers:

     1   'imageinput'     Image Input              28x28x3 images with 'zerocenter' normalization
     2   'conv'           2-D Convolution          20 5x5x3 convolutions with stride [1  1] and padding [0  0  0  0]
     3   'instancenorm'   Instance Normalization   Instance normalization with 20 channels
     4   'relu'           ReLU                     ReLU
     5   'maxpool'        2-D Max Pooling          2x2 max pooling with stride [2  2] and padding [0  0  0  0]
     6   'fc'             Fully Connected          10 fully connected layer
     7   'softmax'        Softmax                  softmax"""  # noqa: E501

INSTANCENORM = """\
  InstanceNormalizationLayer with properties:

           Name: 'instancenorm'
    NumChannels: 'auto'

   Hyperparameters
        Epsilon: 1.0000e-05

   Learnable Parameters
         Offset: []
          Scale: []

  Show all properties"""

# Verbatim from MATLAB's getLayer documentation page (convolution2dLayer(3,16,Padding="same")).
CONV_SAME = """\
  Convolution2DLayer with properties:

              Name: 'conv'

   Hyperparameters
        FilterSize: [3 3]
       NumChannels: 'auto'
        NumFilters: 16
            Stride: [1 1]
    DilationFactor: [1 1]
       PaddingMode: 'same'
       PaddingSize: []
      PaddingValue: 0

   Learnable Parameters
           Weights: []
              Bias: []

  Show all properties"""

NETWORK = """\
  dlnetwork with properties:

         Layers: [7x1 nnet.cnn.layer.Layer]
    Connections: [6x2 table]
     Learnables: [6x3 table]
          State: [0x3 table]
     InputNames: {'imageinput'}
    OutputNames: {'softmax'}
    Initialized: 1

  View summary with summary."""

LEARNABLES = """\
  6x3 table

        Layer         Parameter          Value
    ______________    _________    __________________
    "conv"            "Weights"    {5x5x3x20 dlarray}
    "conv"            "Bias"       {1x1x20 dlarray}
    "instancenorm"    "Offset"     {1x1x20 dlarray}
    "instancenorm"    "Scale"      {1x1x20 dlarray}
    "fc"              "Weights"    {10x2880 dlarray}
    "fc"              "Bias"       {10x1 dlarray}"""


def test_the_documented_layer_array_displays_like_matlab():
    assert repr(example_layers()) == EXAMPLE_ARRAY
    assert str(example_layers()) == EXAMPLE_ARRAY


def test_instance_normalization_layer_displays_like_matlab():
    assert repr(instanceNormalizationLayer("Name", "instancenorm")) == INSTANCENORM


def test_convolution_layer_displays_like_the_matlab_doc_page():
    assert repr(convolution2dLayer(3, 16, Padding="same", Name="conv")) == CONV_SAME


def test_initialized_layers_show_channels_and_learnable_sizes():
    net = dlnetwork(example_layers())
    assert repr(net.Layers) == INITIALIZED_ARRAY
    text = repr(net.Layers[1])
    assert "       NumChannels: 3\n" in text
    assert "           Weights: [5×5×3×20 single]\n              Bias: [1×1×20 single]" in text
    assert "Offset: [1×1×20 single]" in repr(net.Layers[2])


def test_network_and_learnables_display_like_matlab():
    net = dlnetwork(example_layers())
    assert repr(net) == NETWORK
    assert repr(net.Learnables) == LEARNABLES
    assert repr(net.State) == "  0x3 empty table"


def test_uninitialized_learnables_show_empty_cells():
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)], Initialize=False)
    assert repr(net.Learnables).splitlines()[-2:] == [
        '    "fc"     "Weights"    {0x0 double}', '    "fc"     "Bias"       {0x0 double}']
    assert "Initialized: 0" in repr(net)


def test_sibling_layer_descriptions():
    layers = LayerArray([
        imageInputLayer([42, 42], Normalization="none", Name="in"),
        convolution2dLayer(3, 32, Padding="same"),
        batchNormalizationLayer(),
        groupNormalizationLayer(4),
        layerNormalizationLayer(),
        leakyReluLayer(0.1),
        averagePooling2dLayer(8),
        dropoutLayer(),
        flattenLayer(),
    ])
    rows = [line.split("   ")[-1].strip() for line in repr(layers).splitlines()[2:]]
    assert rows == [
        "42x42x1 images", "32 3x3 convolutions with stride [1  1] and padding 'same'",
        "Batch normalization", "Group normalization", "Layer normalization",
        "Leaky ReLU with scale 0.1",
        "8x8 average pooling with stride [1  1] and padding [0  0  0  0]", "50% dropout",
        "Flatten"]
    net = dlnetwork(layers[:5])
    rows = [line.split("   ")[-1].strip() for line in repr(net.Layers).splitlines()[2:]]
    assert rows[1:] == ["32 3x3x1 convolutions with stride [1  1] and padding 'same'",
                        "Batch normalization with 32 channels",
                        "Group normalization with 32 channels split into 4 groups",
                        "Layer normalization with 32 channels"]


def test_activation_and_global_pooling_rows():
    from minidl.layers import (
        globalAveragePooling2dLayer,
        globalMaxPooling2dLayer,
        sigmoidLayer,
        tanhLayer,
    )

    layers = LayerArray([sigmoidLayer(), tanhLayer(), globalAveragePooling2dLayer(),
                         globalMaxPooling2dLayer()])
    rows = [line.split("   ", 2)[-1].split() for line in repr(layers).splitlines()[2:]]
    assert [" ".join(r) for r in rows] == [
        "'' Sigmoid sigmoid", "'' Tanh Hyperbolic tangent",
        "'' 2-D Global Average Pooling 2-D global average pooling",
        "'' 2-D Global Max Pooling 2-D global max pooling"]
    net = dlnetwork([imageInputLayer([4, 4, 2]), sigmoidLayer(), tanhLayer(),
                     globalAveragePooling2dLayer(), globalMaxPooling2dLayer()])
    assert [layer.Name for layer in net.Layers] == ["imageinput", "sigmoid", "tanh", "gapool",
                                                   "gmpool"]


def test_feature_input_zscore_and_function_layer_descriptions():
    assert featureInputLayer(10).description() == "10 features"
    assert imageInputLayer([4, 4, 1], Normalization="zscore").description() == \
        "4x4x1 images with 'zscore' normalization"

    def softsign(X):
        return X / (1 + abs(X))

    layer = functionLayer(softsign)
    assert layer.type_name == "Function" and layer.description() == "@softsign"
    assert functionLayer(softsign, Description="softsign").description() == "softsign"


def test_single_layer_displays_of_siblings():
    assert repr(reluLayer(Name="relu1")) == "  ReLULayer with properties:\n\n    Name: 'relu1'"
    assert repr(maxPooling2dLayer(2, Stride=2)) == """\
  MaxPooling2DLayer with properties:

           Name: ''

   Hyperparameters
       PoolSize: [2 2]
         Stride: [2 2]
    PaddingMode: 'manual'
    PaddingSize: [0 0 0 0]"""
    assert repr(fullyConnectedLayer(10, Name="fc1")) == """\
  FullyConnectedLayer with properties:

          Name: 'fc1'

   Hyperparameters
     InputSize: 'auto'
    OutputSize: 10

   Learnable Parameters
       Weights: []
          Bias: []

  Show all properties"""
    bn = repr(batchNormalizationLayer())
    assert "          MeanDecay: 0.1000\n      VarianceDecay: 0.1000\n" in bn
    assert "   State Parameters\n        TrainedMean: []\n    TrainedVariance: []" in bn
    assert "Probability: 0.5000" in repr(dropoutLayer())
    image = repr(imageInputLayer([28, 28, 3], Normalization="zscore"))
    assert "                 InputSize: [28 28 3]\n" in image
    assert "                      Mean: []\n         StandardDeviation: []" in image


def test_empty_layer_array_and_long_arrays_widen_the_index():
    assert repr(LayerArray()) == "  0x0 empty Layer array."
    text = repr(LayerArray([reluLayer() for _ in range(10)]))
    assert text.splitlines()[2] == "     1   ''   ReLU   ReLU"
    assert text.splitlines()[-1] == "    10   ''   ReLU   ReLU"


def test_table_display_centres_headers_and_quotes_strings():
    t = Table({"Source": ["a", "conv"], "Destination": ["conv", "relu"]})
    assert repr(t) == """\
  2x2 table

    Source    Destination
    ______    ___________
    "a"       "conv"
    "conv"    "relu\""""


def test_summary_lists_activations_with_formats_and_counts():
    net = dlnetwork(example_layers())
    text = repr(net.summary())
    assert "24(S) × 24(S) × 20(C) × 1(B)" in text
    assert "Weights 5×5×3×20, Bias 1×1×20" in text
    lines = text.splitlines()
    conv = next(line for line in lines if " conv " in line)
    assert conv.rstrip().endswith("1,520")
    assert lines[-1].strip() == f"Total learnables: {5 * 5 * 3 * 20 + 20 + 40 + 10 * 2880 + 10:,}"
    assert np.isclose(net.summary().TotalLearnables, 30370)
