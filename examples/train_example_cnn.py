"""Train a small convolutional network with instance normalization on colour digits.

This is the example of MATLAB's instanceNormalizationLayer page, transcribed line by line:

    layers = [
        imageInputLayer([28 28 3])
        convolution2dLayer(5,20)
        instanceNormalizationLayer
        reluLayer
        maxPooling2dLayer(2,'Stride',2)
        fullyConnectedLayer(10)
        softmaxLayer];

    options = trainingOptions("sgdm", ...
        InitialLearnRate=0.01, MaxEpochs=4, Shuffle="every-epoch", ...
        ValidationData={XValidation,TValidation}, ValidationFrequency=30, ...
        Metrics="accuracy", Plots="training-progress", Verbose=true);
    net = trainnet(XTrain,TTrain,layers,"crossentropy",options);
    accuracy = testnet(net,XTest,TTest,"accuracy")
    save("digitsNet.mat","net")

Run it with `make demo`, or `python examples/train_example_cnn.py [--fast] [--out FOLDER]`.
--fast (or MINIDL_FAST=1) uses 1,000 images and one epoch, for the test suite. The training
progress plot and the trained network are written to FOLDER (default: out/).
"""

import os
import sys
import time

import minidl as dl

FAST = "--fast" in sys.argv or os.environ.get("MINIDL_FAST") == "1"
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "out"
os.makedirs(OUT, exist_ok=True)
tic = time.time()

# ---- Load the data -------------------------------------------------------------------------
# 28x28 RGB images of the digits 0-9 (H x W x C x N) with labels 0-9, split 70/15/15 into
# training, validation and test sets. Each image has its own colours and contrast.
data = dl.digits(num_images=1000 if FAST else 10000, color=True)
XTrain, TTrain = data.XTrain, data.TTrain
XValidation, TValidation = data.XValidation, data.TValidation
XTest, TTest = data.XTest, data.TTest
classNames = data.ClassNames
print(f"Training images: {XTrain.shape}, validation: {XValidation.shape}, test: {XTest.shape}")

# ---- Define the network architecture -------------------------------------------------------
layers = dl.LayerArray([
    dl.imageInputLayer([28, 28, 3]),
    dl.convolution2dLayer(5, 20),
    dl.instanceNormalizationLayer(),
    dl.reluLayer(),
    dl.maxPooling2dLayer(2, "Stride", 2),
    dl.fullyConnectedLayer(10),
    dl.softmaxLayer(),
])
print("layers = ")
print(layers)
print()

# ---- Specify the training options ----------------------------------------------------------
dl.rng(0)
options = dl.trainingOptions(
    "sgdm",
    InitialLearnRate=0.01,
    MaxEpochs=1 if FAST else 4,
    Shuffle="every-epoch",
    ValidationData=(XValidation, TValidation),
    ValidationFrequency=30,
    Metrics="accuracy",
    Plots="training-progress",
    PlotFile=os.path.join(OUT, "train_example_cnn_progress.png"),  # minidl's option
    Verbose=True,
)

# ---- Train the network -----------------------------------------------------------------------
net, info = dl.trainnet(XTrain, TTrain, layers, "crossentropy", options)
print()

# ---- Test the network ------------------------------------------------------------------------
accuracy = dl.testnet(net, XTest, TTest, "accuracy")
print(f"Test accuracy: {accuracy:.2f}%")

# The same, by hand: scores for every test image, then the label with the highest score.
scores = dl.minibatchpredict(net, XTest)
YTest = dl.scores2label(scores, classNames)
print(f"First test images: predicted {YTest[:10].tolist()}, true {TTest[:10].tolist()}")

# ---- Save the network ------------------------------------------------------------------------
net_file = os.path.join(OUT, "digitsNet.npz")
dl.save(net, net_file)
print(f"Network saved to {net_file}")
print(f"Elapsed time: {time.time() - tic:.1f} s")
