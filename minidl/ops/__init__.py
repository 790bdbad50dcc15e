"""The ops room: neural-network operations on dlarrays, each forward with its backward beside it.

Module by module: ``activations`` (relu, leakyrelu, sigmoid, tanh), ``nn`` (fullyconnect,
softmax, one-hot encoding), ``shape`` (flatten, concatenation), ``conv`` (dlconv, pooling),
``norm`` (the four normalizations, one kernel), ``loss`` and ``recurrent`` (lstm, gru); ``args``
holds the argument helpers they share. The elementwise functions exp, log, sqrt, maximum and
minimum are core's primitives, re-exported here.
"""

from ..core import exp, log, maximum, minimum, sqrt
from .activations import leakyrelu, relu, sigmoid, sigmoid_kernel, tanh
from .conv import avgpool, dlconv, maxpool
from .loss import crossentropy, huber, indexcrossentropy, l1loss, l2loss, mse
from .nn import fullyconnect, onehotdecode, onehotencode, softmax
from .norm import batchnorm, groupnorm, instancenorm, layer_shared_labels, layernorm
from .recurrent import RESET_GATE_MODES, gru, lstm
from .shape import concatenate, flatten

__all__ = [
    "RESET_GATE_MODES", "avgpool", "batchnorm", "concatenate", "crossentropy", "dlconv", "exp",
    "flatten", "fullyconnect", "groupnorm", "gru", "huber", "indexcrossentropy", "instancenorm",
    "l1loss", "l2loss", "layer_shared_labels", "layernorm", "leakyrelu", "log", "lstm", "maximum",
    "maxpool", "minimum", "mse", "onehotdecode", "onehotencode", "relu", "sigmoid",
    "sigmoid_kernel", "softmax", "sqrt", "tanh",
]
