"""The minidl side of the benchmark, written the way a user writes it (the documented example).

Layers: imageInputLayer([28 28 3], Normalization="none"), convolution2dLayer(5, 20),
instanceNormalizationLayer, reluLayer, maxPooling2dLayer(2, Stride=2), fullyConnectedLayer(10),
softmaxLayer. Loss: crossentropy on the softmax output with one-hot "CB" targets.

* training step: ``dlfeval(modelLoss, net, X, T)`` with ``dlgradient(loss, net.Learnables)``
  and ``sgdmupdate(net, grad, vel, 0.01, 0.9)``; X a dlarray "SSCB" whose memory is N, H, W, C
  (what trainnet feeds its loop);
* inference: ``minibatchpredict(net, X, MiniBatchSize=128)`` on the H x W x C x N array;
* epoch: ``trainnet(X, labels, layers, "crossentropy", trainingOptions("sgdm", ...))``.
"""

from __future__ import annotations

import numpy as np

import minidl as md


def available() -> tuple[bool, str]:
    """The minidl side needs nothing beyond minidl itself (kept for the harness's interface)."""
    return True, ""


def layers() -> list:
    return [
        md.imageInputLayer([28, 28, 3], Normalization="none"),
        md.convolution2dLayer(5, 20),
        md.instanceNormalizationLayer(),
        md.reluLayer(),
        md.maxPooling2dLayer(2, Stride=2),
        md.fullyConnectedLayer(10),
        md.softmaxLayer(),
    ]


def network():
    return md.dlnetwork(layers())


def as_sscb(x_nhwc: np.ndarray):
    """dlarray "SSCB" (H x W x C x N) over N x H x W x C memory, no copy."""
    return md.dlarray(x_nhwc, "BSSC")


def onehot_cb(labels: np.ndarray, k: int = 10):
    t = np.zeros((k, labels.size), np.float32)
    t[labels, np.arange(labels.size)] = 1.0
    return md.dlarray(t, "CB")


def model_loss(net, X, T):
    Y, _state = md.forward(net, X)
    loss = md.crossentropy(Y, T)
    grads = md.dlgradient(loss, net.Learnables)
    return loss, grads


class TrainStep:
    """One SGDM training step per call, the custom-loop way, cycling through the mini-batches
    of a data set (each X a "SSCB" dlarray over N x H x W x C memory, made beforehand)."""

    def __init__(self, x_nhwc: np.ndarray, labels: np.ndarray, batch: int):
        self.net = network()
        self.batches = [(as_sscb(x_nhwc[i:i + batch]), onehot_cb(labels[i:i + batch]))
                        for i in range(0, x_nhwc.shape[0] - batch + 1, batch)]
        self.vel = None
        self.i = 0

    def __call__(self):
        X, T = self.batches[self.i % len(self.batches)]
        self.i += 1
        loss, grads = md.dlfeval(model_loss, self.net, X, T)
        self.net, self.vel = md.sgdmupdate(self.net, grads, self.vel, 0.01, 0.9)
        return loss


class Predict:
    """minibatchpredict over a whole data set given as H x W x C x N (NHWC memory)."""

    def __init__(self, x_nhwc: np.ndarray, batch: int = 128):
        self.net = network()
        self.X = x_nhwc.transpose(1, 2, 3, 0)  # MATLAB layout H x W x C x N, NHWC memory
        self.batch = batch

    def __call__(self) -> np.ndarray:
        return md.minibatchpredict(self.net, self.X, MiniBatchSize=self.batch)


def train_epoch(x_nhwc: np.ndarray, labels: np.ndarray, batch: int = 128):
    """One trainnet epoch from a layer array (trainnet builds and initializes the network).

    trainingOptions defaults otherwise: InitialLearnRate 0.01, Momentum 0.9, L2Regularization
    1e-4, Shuffle "once"."""
    opts = md.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=batch, Verbose=False,
                              InitialLearnRate=0.01, Momentum=0.9)
    net, _info = md.trainnet(x_nhwc.transpose(1, 2, 3, 0), labels, layers(), "crossentropy",
                             opts)
    return net
