"""Train a network in parallel with a custom training loop: MATLAB's "Train Network in Parallel
with Custom Training Loop", transcribed for MPI.

MATLAB runs the training inside ``spmd ... end`` on the workers of a parallel pool, and the
client plots the progress it receives through a DataQueue. Here the whole script is the spmd
body: an MPI launcher starts one copy per worker, and worker 1 also does the client's part
(printing, the progress plot, the test accuracy)::

    mpiexec -n 2 python -m mpi4py examples/train_in_parallel_custom_loop.py [--fast]

Started as a plain ``python examples/train_in_parallel_custom_loop.py`` it runs the same code as
a pool of one worker. The steps are MATLAB's:

1. Each worker reads its own part of the training data: ``dl.partition(augimdsTrain, numWorkers,
   spmdIndex)``, in mini-batches of its share of the global mini-batch (floor(M / numWorkers),
   the remainder to the first workers).
2. Each worker computes loss, gradients and state on its mini-batch with ``dlfeval``.
3. The workers' gradients, each weighted by the worker's share n_r / M, are summed with
   ``spmdPlus``: the mean gradient of the whole mini-batch. (MATLAB calls spmdPlus once per
   parameter through dlupdate; here ``spmdPlus`` takes the whole gradients table and sums it
   in one call.) The loss is summed the same way.
4. The batch normalization statistics are combined (``aggregateState``): mean
   sum(f_r m_r), variance sum(f_r (v_r + (m_r - mean)^2)).
5. Every worker applies the same ``sgdmupdate``, so the weights stay identical everywhere;
   the initial weights are the same because every worker seeds the generator alike (the
   script checks at the end that all workers hold the same network).
6. Training stops on all workers together: every iteration the workers agree (``spmdReduce``)
   on whether all still have data and none was asked to stop (Ctrl+C on worker 1's monitor).

The data is minidl's synthetic digits (MATLAB's example uses the Flowers photographs), so it
runs anywhere in a minute.
"""

import operator
import os
import signal
import sys
import time

import numpy as np

import minidl as dl

FAST = "--fast" in sys.argv or os.environ.get("MINIDL_FAST") == "1"
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "out"
tic = time.time()
isClient = dl.spmdIndex() == 1          # worker 1 also does what MATLAB's client does
if isClient:
    os.makedirs(OUT, exist_ok=True)

# ---- Load data set ----------------------------------------------------------------------------
data = dl.digits(num_images=600 if FAST else 6000, color=True)
classes = data.ClassNames
numClasses = len(classes)
augimdsTrain = dl.augmentedImageDatastore([28, 28], data.XTrain, data.TTrain)
augimdsTest = dl.augmentedImageDatastore([28, 28], data.XTest, data.TTest)

# ---- Define network ---------------------------------------------------------------------------
# Batch normalization layers track statistics of the data: with several workers they must be
# combined at the end of each iteration, or each worker's network state drifts apart.
layers = [
    dl.imageInputLayer([28, 28, 3], Normalization="none"),
    dl.convolution2dLayer(3, 16, Padding="same"),
    dl.batchNormalizationLayer(),
    dl.reluLayer(),
    dl.maxPooling2dLayer(2, Stride=2),
    dl.convolution2dLayer(3, 32, Padding="same"),
    dl.batchNormalizationLayer(),
    dl.reluLayer(),
    dl.fullyConnectedLayer(numClasses),
    dl.softmaxLayer(),
]
dl.rng(0)                            # the same seed on every worker: the same initial weights
net = dl.dlnetwork(layers)

# ---- Set up parallel environment --------------------------------------------------------------
# MATLAB: parpool("Processes", numberOfGPUs) and spmd. Here mpiexec started the workers.
numWorkers = dl.spmdSize()

# ---- Specify training options -----------------------------------------------------------------
numEpochs = 1 if FAST else 4
miniBatchSize = 64 if FAST else 128
# The global mini-batch is split over the workers; the first ones take the remainder.
workerMiniBatchSize = [miniBatchSize // numWorkers] * numWorkers
remainder = miniBatchSize - sum(workerMiniBatchSize)
workerMiniBatchSize = [s + (1 if w < remainder else 0) for w, s in enumerate(workerMiniBatchSize)]
learnRate = 0.01
momentum = 0.9

# The rows of net.State that hold batch normalization means and variances.
batchNormLayersNames = [layer.Name for layer in net.Layers
                        if layer.Type == "Batch Normalization"]
state = net.State
isBatchNormalizationStateMean = [layer in batchNormLayersNames and parameter == "TrainedMean"
                                 for layer, parameter in zip(state.Layer, state.Parameter)]
isBatchNormalizationStateVariance = [
    layer in batchNormLayersNames and parameter == "TrainedVariance"
    for layer, parameter in zip(state.Layer, state.Parameter)]


def preprocessMiniBatch(dataX, dataT):
    """Concatenate the images along the 4th dimension; one-hot encode the labels (K x N)."""
    X = np.stack([x.reshape(x.shape[:3]) for x in dataX], axis=-1)
    T = dl.onehotencode(np.array(dataT), 1, ClassNames=classes)
    return X, T


def modelLoss(net, X, T):
    Y, state = dl.forward(net, X)
    loss = dl.crossentropy(Y, T)
    gradients = dl.dlgradient(loss, net.Learnables)
    return loss, gradients, state


def aggregateGradients(gradients, factor):
    """The workers' gradients, each weighted by its worker's share, summed: the gradient of
    the whole mini-batch, on every worker. One spmdPlus for the whole table."""
    return dl.spmdPlus(dl.dlupdate(lambda g: factor * g, gradients))


def aggregateState(state, factor, isBatchNormalizationStateMean,
                   isBatchNormalizationStateVariance):
    """Combine the workers' batch normalization statistics (MATLAB's aggregateState): mean
    M = sum f_r m_r, variance V = sum f_r (v_r + (m_r - M)^2), f_r the worker's share."""
    values = list(state.Value)
    meanRows = [i for i, isMean in enumerate(isBatchNormalizationStateMean) if isMean]
    varianceRows = [i for i, isVar in enumerate(isBatchNormalizationStateVariance) if isVar]
    means = [dl.extractdata(values[i]) for i in meanRows]
    combinedMeans = dl.spmdPlus([factor * m for m in means])              # one call, all layers
    variances = [dl.extractdata(values[i]) for i in varianceRows]
    combinedVariances = dl.spmdPlus([factor * (v + (m - M) ** 2)
                                  for v, m, M in zip(variances, means, combinedMeans)])
    for i, value in zip(meanRows + varianceRows, combinedMeans + combinedVariances):
        values[i] = dl.dlarray(value.astype(np.float32), values[i].fmt)
    return state.with_values(values)


# ---- Train model ------------------------------------------------------------------------------
# (MATLAB: the body of `spmd ... end`.)
workerImds = dl.partition(augimdsTrain, numWorkers, dl.spmdIndex())
workerMbq = dl.minibatchqueue(workerImds, 2,
                              MiniBatchSize=workerMiniBatchSize[dl.spmdIndex() - 1],
                              MiniBatchFcn=preprocessMiniBatch,
                              MiniBatchFormat=["SSCB", "CB"],
                              PartialMiniBatch="discard")
workerVelocity = None
workerNormalizationFactor = workerMiniBatchSize[dl.spmdIndex() - 1] / miniBatchSize
if isClient:
    # Ctrl+C in the terminal reaches every worker: worker 1's monitor turns it into a stop
    # request (monitor.Stop) that all workers agree on below; the others let it pass.
    monitor = dl.trainingProgressMonitor(Metrics="TrainingLoss", Info=["Epoch", "Workers"],
                                         XLabel="Iteration",
                                         PlotFile=os.path.join(OUT, "parallel_progress.png"))
    dl.updateInfo(monitor, Workers=numWorkers)
    print(f"Training on {numWorkers} worker(s), mini-batch {miniBatchSize} split as "
          f"{workerMiniBatchSize}")
else:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

iteration = 0
stopRequest = False
dl.rng(dl.spmdIndex())                  # each worker shuffles its own part its own way
for epoch in range(1, numEpochs + 1):
    dl.shuffle(workerMbq)
    # Loop while every worker has data and none was asked to stop.
    while dl.spmdReduce(operator.and_, dl.hasdata(workerMbq) and not stopRequest):
        iteration += 1
        workerX, workerT = next(workerMbq)
        workerLoss, workerGradients, workerState = dl.dlfeval(modelLoss, net, workerX, workerT)

        # Aggregate the losses, the network state and the gradients on all workers.
        loss = dl.spmdPlus(workerNormalizationFactor * float(workerLoss))
        net.State = aggregateState(workerState, workerNormalizationFactor,
                                   isBatchNormalizationStateMean,
                                   isBatchNormalizationStateVariance)
        workerGradients = aggregateGradients(workerGradients, workerNormalizationFactor)

        # Update the network parameters using the SGDM optimizer (the same step everywhere).
        net, workerVelocity = dl.sgdmupdate(net, workerGradients, workerVelocity, learnRate,
                                            momentum)

        if isClient:                 # MATLAB sends this to the client through a DataQueue
            dl.recordMetrics(monitor, iteration, TrainingLoss=loss)
            dl.updateInfo(monitor, Epoch=f"{epoch} of {numEpochs}")
            if iteration == 1 or iteration % 10 == 0:
                print(f"  epoch {epoch}  iteration {iteration:4d}  loss {loss:.4f}", flush=True)
            stopRequest = monitor.Stop
if isClient:
    monitor.Progress = 100
    monitor.close()

# ---- Check and test ---------------------------------------------------------------------------
# (MATLAB: net = net{1} takes worker 1's network.) Every worker must hold the same one.
reference = dl.spmdBroadcast(1, net.Learnables)
same = all(np.array_equal(dl.extractdata(a), dl.extractdata(b))
           for a, b in zip(reference.Value, net.Learnables.Value))
allSame = dl.spmdReduce(operator.and_, same)
if isClient:
    print(f"Identical networks on all {numWorkers} worker(s): {allSame}")
    scores = dl.minibatchpredict(net, augimdsTest)
    YTest = dl.scores2label(scores, classes)
    accuracy = 100 * np.mean(YTest == data.TTest)
    print(f"Test accuracy: {accuracy:.2f}%")
    print(f"Elapsed: {time.time() - tic:.1f} s")
