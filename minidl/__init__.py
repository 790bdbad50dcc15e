"""minidl: a small deep-learning framework in NumPy that speaks MATLAB's Deep Learning Toolbox.

Public names follow MATLAB, so a documented MATLAB example transcribes line by line::

    import minidl as dl
    layers = [dl.imageInputLayer([28, 28, 3]), dl.convolution2dLayer(5, 20), ...]
    net, info = dl.trainnet(XTrain, TTrain, layers, "crossentropy", dl.trainingOptions("sgdm"))

``__all__`` below is the single list of public names (docs/api.md is checked against it).
"""

from .backend import canUseGPU, rng, use_backend
from .core import (
    dims,
    dlarray,
    dlfeval,
    dlgradient,
    exp,
    extractdata,
    finddim,
    gather,
    gpuArray,
    gradcheck,
    log,
    maximum,
    minimum,
    sqrt,
    stripdims,
)
from .data import (
    ArrayDatastore,
    AugmentedImageDatastore,
    CombinedDatastore,
    DigitData,
    ImageDataAugmenter,
    ImageDatastore,
    MiniBatchQueue,
    arrayDatastore,
    augmentedImageDatastore,
    combine,
    countEachLabel,
    digits,
    hasdata,
    imageDataAugmenter,
    imageDatastore,
    minibatchqueue,
    read,
    readall,
    readimage,
    reset,
    scores2label,
    shuffle,
    splitEachLabel,
)
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
    sigmoidLayer,
    softmaxLayer,
    tanhLayer,
)
from .networks import (
    LayerGraph,
    Table,
    addLayers,
    analyzeNetwork,
    connectLayers,
    disconnectLayers,
    dlnetwork,
    exportONNXNetwork,
    forward,
    getL2Factor,
    getLearnRateFactor,
    importNetworkFromONNX,
    initialize,
    layerGraph,
    load,
    predict,
    removeLayers,
    replaceLayer,
    save,
    setL2Factor,
    setLearnRateFactor,
    summary,
)
from .ops import (
    avgpool,
    batchnorm,
    crossentropy,
    dlconv,
    fullyconnect,
    groupnorm,
    gru,
    huber,
    indexcrossentropy,
    instancenorm,
    l1loss,
    l2loss,
    layernorm,
    leakyrelu,
    lstm,
    maxpool,
    mse,
    onehotdecode,
    onehotencode,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from .training import (
    ConfusionMatrixChart,
    TrainingInfo,
    TrainingProgressMonitor,
    adamupdate,
    categories,
    confusionchart,
    confusionmat,
    cosineLearnRate,
    cyclicalLearnRate,
    dlupdate,
    exponentialLearnRate,
    groupSubPlot,
    minibatchpredict,
    partition,
    piecewiseLearnRate,
    polynomialLearnRate,
    recordMetrics,
    rmspropupdate,
    sgdmupdate,
    spmdBarrier,
    spmdBroadcast,
    spmdIndex,
    spmdPlus,
    spmdReduce,
    spmdSize,
    testnet,
    trainingOptions,
    trainingProgressMonitor,
    trainnet,
    updateInfo,
    warmupLearnRate,
    yscale,
)

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
    "save", "load", "exportONNXNetwork", "importNetworkFromONNX",
    # training and evaluation
    "trainingOptions", "trainnet", "TrainingInfo",
    "piecewiseLearnRate", "warmupLearnRate", "polynomialLearnRate", "exponentialLearnRate",
    "cosineLearnRate", "cyclicalLearnRate",
    "sgdmupdate", "adamupdate", "rmspropupdate", "dlupdate",
    "minibatchpredict", "scores2label", "testnet",
    "confusionmat", "confusionchart", "ConfusionMatrixChart", "categories",
    "trainingProgressMonitor", "TrainingProgressMonitor", "recordMetrics", "updateInfo",
    "groupSubPlot", "yscale",
    # several processes (MPI)
    "spmdIndex", "spmdSize", "spmdPlus", "spmdBroadcast", "spmdReduce", "spmdBarrier", "partition",
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
    "padsequences": "minidl.data.sequences.pad_sequences pads a list of S x C sequences",
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
