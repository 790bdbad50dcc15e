"""Train networks with a custom training loop: dlfeval, dlgradient and adamupdate by hand.

Two MATLAB workflows, transcribed:

1. **A dlnetwork with a custom layer** ("Train Network Using Custom Training Loop" with the
   PReLU layer of "Define Custom Deep Learning Layer with Learnable Parameters"). The
   mini-batches come from a minibatchqueue, a trainingProgressMonitor plots the loss, and the
   loop is MATLAB's, line for line:

       [loss,gradients,state] = dlfeval(@modelLoss,net,X,T);
       net.State = state;
       [net,averageGrad,averageSqGrad] = adamupdate(net,gradients, ...
           averageGrad,averageSqGrad,iteration,learnRate);

       function [loss,gradients,state] = modelLoss(net,X,T)
           [Y,state] = forward(net,X);
           loss = crossentropy(Y,T);
           gradients = dlgradient(loss,net.Learnables);
       end

2. **A model function** ("Train Network Using Model Function"): no layers at all, the
   parameters live in a dict (MATLAB's struct) and the model is written with the functional
   ops dlconv, instancenorm, relu, maxpool, fullyconnect and softmax, with a residual
   connection written as a plain sum (a dlnetwork can hold one too, through additionLayer and
   connectLayers; see docs/getting-started.md).

Run: python examples/custom_training_loop.py [--fast]   (--fast or MINIDL_FAST=1: small and
quick, for the test suite).
"""

import os
import sys
import time

import numpy as np

import minidl as dl

FAST = "--fast" in sys.argv or os.environ.get("MINIDL_FAST") == "1"
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "out"
os.makedirs(OUT, exist_ok=True)
tic = time.time()

# ---- Data -------------------------------------------------------------------------------------
data = dl.digits(num_images=600 if FAST else 10000, color=True)
XTrain, TTrain, XTest, TTest = data.XTrain, data.TTrain, data.XTest, data.TTest
classNames = data.ClassNames
numObservations = XTrain.shape[3]


# ==============================================================================================
# Part 1: a dlnetwork with a custom layer
# ==============================================================================================

class preluLayer(dl.Layer):
    """PReLU: Z = max(X,0) + Alpha .* min(0,X), with one learnable slope Alpha per channel.

    MATLAB's classdef, transcribed: `properties (Learnable) Alpha` becomes the class attribute
    `learnables`, and the methods initialize and predict keep their names.
    """

    learnables = ("Alpha",)
    Type = "PReLU"
    default_name = "prelu"

    def __init__(self, Name=""):
        super().__init__(Name=Name)
        self.Description = "PReLU"
        self.Alpha = None                      # MATLAB's empty []: set in initialize

    def initialize(self, input_size, fmt):
        """Create Alpha once the number of channels is known (MATLAB: layout.Size(idx))."""
        if self.Alpha is None:
            numChannels = input_size[fmt.index("C")]
            # 1 x 1 x numChannels, like MATLAB's rand([1 1 numChannels]); we start every slope
            # at 0.25. Against "SSCB" data an unformatted array lines up from the first
            # dimension, as in MATLAB, so Alpha(1,1,c) multiplies channel c.
            self.Alpha = dl.dlarray(np.full((1, 1, numChannels), 0.25, np.float32))
        return super().initialize(input_size, fmt)

    def predict(self, X):
        return dl.maximum(X, 0) + self.Alpha * dl.minimum(0, X)


layers = dl.LayerArray([
    dl.imageInputLayer([28, 28, 3], Normalization="none"),
    dl.convolution2dLayer(5, 20),
    dl.instanceNormalizationLayer(),
    preluLayer(),
    dl.maxPooling2dLayer(2, Stride=2),
    dl.fullyConnectedLayer(10),
    dl.softmaxLayer(),
])
dl.rng(0)
net = dl.dlnetwork(layers)
print(net.Layers)
print()
print("net.Learnables =")
print(net.Learnables)
print()


def modelLoss(net, X, T):
    Y, state = dl.forward(net, X)
    loss = dl.crossentropy(Y, T)
    gradients = dl.dlgradient(loss, net.Learnables)
    return loss, gradients, state


# Training options
numEpochs = 1 if FAST else 2
miniBatchSize = 64 if FAST else 128
learnRate = 0.001
numIterationsPerEpoch = numObservations // miniBatchSize


# Mini-batches come from a minibatchqueue over the images and labels, as in MATLAB's example.
def preprocessMiniBatch(dataX, dataT):
    X = np.stack(dataX, axis=-1)                                     # cat(4, dataX{:})
    T = dl.onehotencode(np.array(dataT), 1, ClassNames=classNames)   # K x N one-hot
    return X, T


dsTrain = dl.combine(dl.arrayDatastore(XTrain, IterationDimension=4), dl.arrayDatastore(TTrain))
mbq = dl.minibatchqueue(dsTrain, MiniBatchSize=miniBatchSize, MiniBatchFcn=preprocessMiniBatch,
                        MiniBatchFormat=["SSCB", "CB"], PartialMiniBatch="discard")

# Initialize the Adam state and the progress monitor, then train. The monitor saves its figure
# when Progress reaches 100; a first Ctrl+C sets monitor.Stop (MATLAB's Stop button).
averageGrad = None                             # MATLAB's []
averageSqGrad = None
numIterations = numEpochs * numIterationsPerEpoch
monitor = dl.trainingProgressMonitor(Metrics="Loss", Info=["Epoch", "LearnRate"],
                                     XLabel="Iteration",
                                     PlotFile=os.path.join(OUT, "custom_loop_progress.png"))
iteration = 0
dl.rng(0)
print("Custom loop, dlnetwork with preluLayer:")
for epoch in range(1, numEpochs + 1):
    if monitor.Stop:
        break
    dl.shuffle(mbq)                            # a new order every epoch
    while dl.hasdata(mbq) and not monitor.Stop:
        iteration += 1
        X, T = next(mbq)

        # Evaluate the model loss, gradients and state, and update the network.
        loss, gradients, state = dl.dlfeval(modelLoss, net, X, T)
        net.State = state
        net, averageGrad, averageSqGrad = dl.adamupdate(
            net, gradients, averageGrad, averageSqGrad, iteration, learnRate)

        dl.recordMetrics(monitor, iteration, Loss=loss)
        dl.updateInfo(monitor, Epoch=f"{epoch} of {numEpochs}", LearnRate=learnRate)
        monitor.Progress = 100 * iteration / numIterations
        if iteration == 1 or iteration % 25 == 0:
            print(f"  epoch {epoch}  iteration {iteration:4d}  loss {loss:.4f}")
monitor.close()

scores = dl.minibatchpredict(net, XTest)
YTest = dl.scores2label(scores, classNames)
accuracy = 100 * np.mean(YTest == TTest)
print(f"Test accuracy (dlnetwork with custom layer): {accuracy:.2f}%")
# MATLAB: net.Learnables.Value{net.Learnables.Layer == "prelu"}
alpha = next(v for layer, _, v in net.Learnables if layer == "prelu")
print("Learned PReLU slopes (one per channel):",
      " ".join(f"{a:.3f}" for a in dl.extractdata(alpha).ravel()[:8]), "...")
print()


# ==============================================================================================
# Part 2: a model function with a residual connection
# ==============================================================================================

weights_rng = np.random.default_rng(0)


def initializeGlorot(sz, numOut, numIn):
    """Uniform in [-b, b] with b = sqrt(6 / (numIn + numOut)), as MATLAB's example helper."""
    bound = np.sqrt(6 / (numIn + numOut))
    return dl.dlarray((bound * (2 * weights_rng.random(sz) - 1)).astype(np.float32))


def initializeZeros(sz):
    return dl.dlarray(np.zeros(sz, np.float32))


def initializeOnes(sz):
    return dl.dlarray(np.ones(sz, np.float32))


def convParameters(filterSize, numChannels, numFilters):
    sz = (filterSize, filterSize, numChannels, numFilters)
    return {"Weights": initializeGlorot(sz, filterSize**2 * numFilters,
                                        filterSize**2 * numChannels),
            "Bias": initializeZeros((numFilters, 1))}


def normParameters(numChannels):
    return {"Offset": initializeZeros((numChannels, 1)), "Scale": initializeOnes((numChannels, 1))}


parameters = {
    "conv1": convParameters(5, 3, 16), "norm1": normParameters(16),
    "conv2": convParameters(3, 16, 16), "norm2": normParameters(16),
    "conv3": convParameters(3, 16, 16), "norm3": normParameters(16),
    "fc": {"Weights": initializeGlorot((10, 12 * 12 * 16), 10, 12 * 12 * 16),
           "Bias": initializeZeros((10, 1))},
}


def model(parameters, X):
    """conv-norm-relu-pool, then a residual block (two convolutions whose output is added back
    to the block's input), then a fully connected layer and softmax."""
    p = parameters
    Y = dl.dlconv(X, p["conv1"]["Weights"], p["conv1"]["Bias"])             # 24x24x16
    Y = dl.instancenorm(Y, p["norm1"]["Offset"], p["norm1"]["Scale"])
    Y = dl.relu(Y)
    Y = dl.maxpool(Y, 2, Stride=2)                                           # 12x12x16

    Z = dl.dlconv(Y, p["conv2"]["Weights"], p["conv2"]["Bias"], Padding="same")
    Z = dl.instancenorm(Z, p["norm2"]["Offset"], p["norm2"]["Scale"])
    Z = dl.relu(Z)
    Z = dl.dlconv(Z, p["conv3"]["Weights"], p["conv3"]["Bias"], Padding="same")
    Z = dl.instancenorm(Z, p["norm3"]["Offset"], p["norm3"]["Scale"])
    Y = dl.relu(Y + Z)                                   # the residual connection

    Y = dl.fullyconnect(Y, p["fc"]["Weights"], p["fc"]["Bias"])
    return dl.softmax(Y)


def modelLossFunction(parameters, X, T):
    Y = model(parameters, X)
    loss = dl.crossentropy(Y, T)
    gradients = dl.dlgradient(loss, parameters)
    return loss, gradients


averageGrad = None
averageSqGrad = None
iteration = 0
shuffler = np.random.default_rng(0)
print("Custom loop, model function with a residual connection:")
for epoch in range(1, numEpochs + 1):
    # The mini-batches by hand this time: a random order, then slices of the arrays.
    order = shuffler.permutation(numObservations)
    for i in range(numIterationsPerEpoch):
        iteration += 1
        idx = order[i * miniBatchSize:(i + 1) * miniBatchSize]
        X = dl.dlarray(XTrain[:, :, :, idx], "SSCB")
        T = dl.dlarray(dl.onehotencode(TTrain[idx], 1, ClassNames=classNames), "CB")

        loss, gradients = dl.dlfeval(modelLossFunction, parameters, X, T)
        parameters, averageGrad, averageSqGrad = dl.adamupdate(
            parameters, gradients, averageGrad, averageSqGrad, iteration, learnRate)

        if iteration == 1 or iteration % 25 == 0:
            print(f"  epoch {epoch}  iteration {iteration:4d}  loss {float(loss):.4f}")

# Predict in mini-batches: the model function needs no dlfeval outside training.
scores = np.concatenate([
    dl.extractdata(model(parameters, dl.dlarray(XTest[:, :, :, i:i + 256], "SSCB"))).T
    for i in range(0, XTest.shape[3], 256)])
YTest = dl.scores2label(scores, classNames)
accuracy = 100 * np.mean(YTest == TTest)
print(f"Test accuracy (model function with residual connection): {accuracy:.2f}%")
print(f"Elapsed time: {time.time() - tic:.1f} s")
