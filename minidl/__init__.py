"""minidl: a small deep-learning framework in NumPy that speaks MATLAB's Deep Learning Toolbox.

Public names follow MATLAB, so a documented MATLAB example transcribes line by line::

    import minidl as dl
    layers = [dl.imageInputLayer([28, 28, 3]), dl.convolution2dLayer(5, 20), ...]
    net, info = dl.trainnet(XTrain, TTrain, layers, "crossentropy", dl.trainingOptions("sgdm"))

``__all__`` below is the single list of public names (docs/api.md is checked against it).
"""

from .arraydatastore import ArrayDatastore, CombinedDatastore, arrayDatastore, combine
from .augment import (
    AugmentedImageDatastore,
    ImageDataAugmenter,
    augmentedImageDatastore,
    imageDataAugmenter,
)
from .autodiff import dlfeval, dlgradient
from .backend import canUseGPU, gather, gpuArray, rng, use_backend
from .confusion import ConfusionMatrixChart, categories, confusionchart, confusionmat
from .datasets import DigitData, digits
from .datastore import (
    ImageDatastore,
    countEachLabel,
    hasdata,
    imageDatastore,
    read,
    readall,
    readimage,
    reset,
    shuffle,
    splitEachLabel,
)
from .dlarray import dims, dlarray, extractdata, finddim, stripdims
from .gradcheck import gradcheck
from .io import load, save
from .layers import (
    Layer,
    LayerArray,
    additionLayer,
    averagePooling2dLayer,
    batchNormalizationLayer,
    bilstmLayer,
    concatenationLayer,
    convolution2dLayer,
    depthConcatenationLayer,
    dropoutLayer,
    featureInputLayer,
    flattenLayer,
    fullyConnectedLayer,
    functionLayer,
    getL2Factor,
    getLearnRateFactor,
    globalAveragePooling2dLayer,
    globalMaxPooling2dLayer,
    groupNormalizationLayer,
    gruLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
    leakyReluLayer,
    lstmLayer,
    maxPooling2dLayer,
    reluLayer,
    sequenceInputLayer,
    setL2Factor,
    setLearnRateFactor,
    sigmoidLayer,
    softmaxLayer,
    tanhLayer,
)
from .layers.summary import analyzeNetwork, summary
from .lr_schedules import (
    cosineLearnRate,
    cyclicalLearnRate,
    exponentialLearnRate,
    piecewiseLearnRate,
    polynomialLearnRate,
    warmupLearnRate,
)
from .minibatchqueue import MiniBatchQueue, minibatchqueue
from .network import (
    LayerGraph,
    Table,
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
from .ops import exp, leakyrelu, log, maximum, minimum, relu, sigmoid, sqrt, tanh
from .ops.conv import avgpool, dlconv, maxpool
from .ops.loss import crossentropy, huber, indexcrossentropy, l1loss, l2loss, mse
from .ops.nn import fullyconnect, onehotdecode, onehotencode, softmax
from .ops.norm import batchnorm, groupnorm, instancenorm, layernorm
from .ops.recurrent import gru, lstm
from .optimizers import adamupdate, dlupdate, rmspropupdate, sgdmupdate
from .prediction import minibatchpredict, scores2label, testnet
from .progressmonitor import (
    TrainingProgressMonitor,
    groupSubPlot,
    recordMetrics,
    trainingProgressMonitor,
    updateInfo,
    yscale,
)
from .training_options import trainingOptions
from .trainnet import TrainingInfo, trainnet

__all__ = [
    # formatted arrays and autograd
    "dlarray", "dims", "finddim", "stripdims", "extractdata",
    "dlfeval", "dlgradient", "gradcheck",
    # backends and random numbers
    "use_backend", "gpuArray", "gather", "canUseGPU", "rng",
    # functional ops
    "exp", "log", "sqrt", "relu", "leakyrelu", "sigmoid", "tanh", "maximum", "minimum",
    "dlconv", "maxpool", "avgpool", "fullyconnect", "softmax",
    "batchnorm", "instancenorm", "layernorm", "groupnorm",
    "lstm", "gru",
    "crossentropy", "indexcrossentropy", "mse", "l1loss", "l2loss", "huber",
    "onehotencode", "onehotdecode",
    # layers
    "Layer", "LayerArray", "imageInputLayer", "featureInputLayer", "sequenceInputLayer",
    "lstmLayer", "bilstmLayer", "gruLayer", "convolution2dLayer",
    "maxPooling2dLayer", "averagePooling2dLayer", "globalAveragePooling2dLayer",
    "globalMaxPooling2dLayer", "batchNormalizationLayer",
    "instanceNormalizationLayer", "layerNormalizationLayer", "groupNormalizationLayer",
    "fullyConnectedLayer", "reluLayer", "leakyReluLayer", "sigmoidLayer", "tanhLayer",
    "softmaxLayer", "dropoutLayer",
    "flattenLayer", "functionLayer",
    "additionLayer", "concatenationLayer", "depthConcatenationLayer",
    "setLearnRateFactor", "getLearnRateFactor", "setL2Factor", "getL2Factor",
    # networks
    "dlnetwork", "Table", "predict", "forward", "initialize", "analyzeNetwork", "summary",
    "addLayers", "connectLayers", "disconnectLayers", "removeLayers", "replaceLayer",
    "layerGraph", "LayerGraph",
    "save", "load",
    # training and evaluation
    "trainingOptions", "trainnet", "TrainingInfo",
    "piecewiseLearnRate", "warmupLearnRate", "polynomialLearnRate", "exponentialLearnRate",
    "cosineLearnRate", "cyclicalLearnRate",
    "sgdmupdate", "adamupdate", "rmspropupdate", "dlupdate",
    "minibatchpredict", "scores2label", "testnet",
    "confusionmat", "confusionchart", "ConfusionMatrixChart", "categories",
    "trainingProgressMonitor", "TrainingProgressMonitor", "recordMetrics", "updateInfo",
    "groupSubPlot", "yscale",
    # data
    "digits", "DigitData", "imageDatastore", "ImageDatastore", "splitEachLabel",
    "countEachLabel", "readimage", "arrayDatastore", "ArrayDatastore", "combine",
    "CombinedDatastore", "read", "readall", "hasdata", "reset", "shuffle",
    "minibatchqueue", "MiniBatchQueue", "imageDataAugmenter", "ImageDataAugmenter",
    "augmentedImageDatastore", "AugmentedImageDatastore",
]

# MATLAB names minidl does not provide yet, with what to use instead (a clear message rather
# than a bare AttributeError when a transcribed example reaches one).
_NOT_YET = {
    "lstmProjectedLayer": "lstmLayer is available",
    "resetState": "set net.State back to zeros of one column (H rows, 2H for bilstmLayer)",
    "resnetNetwork": "build the network with addLayers/connectLayers and additionLayer",
    "trainNetwork": "use trainnet (net, info = trainnet(X, T, layers, lossFcn, options))",
    "classificationLayer": "trainnet takes the loss by name (\"crossentropy\")",
    "regressionLayer": "trainnet takes the loss by name (\"mse\")",
    "preview": "read the first mini-batch with read(ds)",
    "padsequences": "minidl.sequences.pad_sequences pads a list of S x C sequences",
    "classify": "use scores = minibatchpredict(net, X) then labels = scores2label(scores, "
                "net.ClassNames)",
    "activations": "use predict(net, X, Outputs=\"layerName\") for a layer's activations",
    "plotconfusion": "use confusionchart(trueLabels, predictedLabels) (cm.saveas(\"cm.png\"))",
    "categorical": "labels are NumPy arrays of strings or numbers; categories(labels) gives "
                   "the classes",
    "trainingProgressPlot": "trainingOptions(Plots=\"training-progress\") writes the plot",
}


def __getattr__(name: str) -> object:
    if name in _NOT_YET:
        raise AttributeError(f"minidl has no {name} (a MATLAB function it does not provide "
                             f"yet): {_NOT_YET[name]}")
    raise AttributeError(f"module 'minidl' has no attribute {name!r}")
