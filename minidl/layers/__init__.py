"""Layers (MATLAB's layer constructors) and the Layer array.

Each constructor takes its MATLAB arguments, then options as keywords (``Stride=2``) or as MATLAB
Name-Value pairs (``"Stride", 2``; names are case-insensitive). See ``base`` for writing a custom
layer.
"""

from .base import (
    Layer,
    LayerArray,
    get_factor,
    move_params,
    register_layer,
    registered_layer,
    set_factor,
)
from .basic import (
    DropoutLayer,
    FlattenLayer,
    FullyConnectedLayer,
    FunctionLayer,
    LeakyReLULayer,
    ReLULayer,
    SigmoidLayer,
    SoftmaxLayer,
    TanhLayer,
    dropoutLayer,
    flattenLayer,
    fullyConnectedLayer,
    functionLayer,
    leakyReluLayer,
    reluLayer,
    sigmoidLayer,
    softmaxLayer,
    tanhLayer,
)
from .combine import (
    AdditionLayer,
    ConcatenationLayer,
    DepthConcatenationLayer,
    additionLayer,
    concatenationLayer,
    depthConcatenationLayer,
    input_names,
)
from .conv import (
    AveragePooling2DLayer,
    Convolution2DLayer,
    GlobalAveragePooling2DLayer,
    GlobalMaxPooling2DLayer,
    MaxPooling2DLayer,
    averagePooling2dLayer,
    convolution2dLayer,
    globalAveragePooling2dLayer,
    globalMaxPooling2dLayer,
    maxPooling2dLayer,
)
from .input import (
    STATISTICS,
    FeatureInputLayer,
    ImageInputLayer,
    InputLayer,
    featureInputLayer,
    imageInputLayer,
)
from .norm import (
    BatchNormalizationLayer,
    GroupNormalizationLayer,
    InstanceNormalizationLayer,
    LayerNormalizationLayer,
    batchNormalizationLayer,
    groupNormalizationLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
)
from .properties import validate_properties
from .recurrent import (
    BiLSTMLayer,
    GRULayer,
    LSTMLayer,
    SequenceInputLayer,
    bilstmLayer,
    gruLayer,
    lstmLayer,
    sequenceInputLayer,
)

__all__ = [
    "Layer", "LayerArray", "InputLayer", "register_layer", "registered_layer", "move_params",
    "set_factor", "get_factor", "input_names", "STATISTICS", "validate_properties",
    "imageInputLayer", "featureInputLayer", "sequenceInputLayer", "lstmLayer", "bilstmLayer",
    "gruLayer",
    "convolution2dLayer", "maxPooling2dLayer",
    "averagePooling2dLayer", "globalAveragePooling2dLayer", "globalMaxPooling2dLayer",
    "batchNormalizationLayer", "instanceNormalizationLayer",
    "layerNormalizationLayer", "groupNormalizationLayer", "fullyConnectedLayer", "reluLayer",
    "leakyReluLayer", "sigmoidLayer", "tanhLayer", "softmaxLayer", "dropoutLayer", "flattenLayer",
    "functionLayer", "additionLayer", "concatenationLayer", "depthConcatenationLayer",
    "ImageInputLayer", "FeatureInputLayer", "SequenceInputLayer", "LSTMLayer", "BiLSTMLayer",
    "GRULayer",
    "Convolution2DLayer", "MaxPooling2DLayer",
    "AveragePooling2DLayer", "GlobalAveragePooling2DLayer", "GlobalMaxPooling2DLayer",
    "BatchNormalizationLayer", "InstanceNormalizationLayer",
    "LayerNormalizationLayer", "GroupNormalizationLayer", "FullyConnectedLayer", "ReLULayer",
    "LeakyReLULayer", "SigmoidLayer", "TanhLayer", "SoftmaxLayer", "DropoutLayer", "FlattenLayer",
    "FunctionLayer", "AdditionLayer", "ConcatenationLayer", "DepthConcatenationLayer",
]
