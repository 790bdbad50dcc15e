"""Layers (MATLAB's layer constructors) and the Layer array.

Each constructor takes its MATLAB arguments, then options as keywords (``Stride=2``) or as MATLAB
Name-Value pairs (``"Stride", 2``; names are case-insensitive). See ``base`` for writing a custom
layer.
"""

from .base import (
    Layer,
    LayerArray,
    getL2Factor,
    getLearnRateFactor,
    register_layer,
    setL2Factor,
    setLearnRateFactor,
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
from .input import FeatureInputLayer, ImageInputLayer, featureInputLayer, imageInputLayer
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
    "Layer", "LayerArray", "register_layer",
    "setLearnRateFactor", "getLearnRateFactor", "setL2Factor", "getL2Factor",
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
