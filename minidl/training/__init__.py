"""The training room, the top floor: training, evaluation and reporting.

``options`` is trainingOptions, ``schedules`` the learning-rate schedules, ``optimizers`` the
solvers' update functions, ``training_data`` trainnet's data set-up, ``trainnet`` the loop,
``evaluate`` minibatchpredict and testnet, ``metrics`` their metrics, ``report`` the verbose
table, histories and checkpoints, and ``progressmonitor`` MATLAB's trainingProgressMonitor.
"""

from .confusion import ConfusionMatrixChart, categories, confusionchart, confusionmat
from .evaluate import execution_module, minibatchpredict, testnet
from .optimizers import adamupdate, dlupdate, rmspropupdate, sgdmupdate
from .options import TrainingOptions, trainingOptions
from .progressmonitor import (
    TrainingProgressMonitor,
    groupSubPlot,
    recordMetrics,
    trainingProgressMonitor,
    updateInfo,
    yscale,
)
from .schedules import (
    cosineLearnRate,
    cyclicalLearnRate,
    exponentialLearnRate,
    piecewiseLearnRate,
    polynomialLearnRate,
    warmupLearnRate,
)
from .spmd import (
    partition,
    spmdBarrier,
    spmdBroadcast,
    spmdIndex,
    spmdPlus,
    spmdReduce,
    spmdSize,
)
from .trainnet import TrainingInfo, clip_gradients, trainnet

__all__ = [
    "ConfusionMatrixChart", "categories", "confusionchart", "confusionmat", "TrainingInfo",
    "TrainingOptions", "TrainingProgressMonitor", "adamupdate", "clip_gradients",
    "cosineLearnRate", "cyclicalLearnRate", "dlupdate", "execution_module", "exponentialLearnRate",
    "partition", "spmdBarrier", "spmdBroadcast", "spmdIndex", "spmdPlus", "spmdReduce", "spmdSize",
    "groupSubPlot", "minibatchpredict", "piecewiseLearnRate", "polynomialLearnRate",
    "recordMetrics", "rmspropupdate", "sgdmupdate", "testnet", "trainingOptions",
    "trainingProgressMonitor", "trainnet", "updateInfo", "warmupLearnRate", "yscale",
]
