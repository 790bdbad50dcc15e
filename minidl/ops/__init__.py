"""The ops room: neural-network operations on dlarrays, each forward with its backward beside it.

Module by module: ``activations`` (relu, leakyrelu, sigmoid, tanh), ``nn`` (fullyconnect,
softmax), ``shape`` (flatten, concatenation), ``conv`` (dlconv), ``pool`` (maxpool, avgpool),
``norm`` (the four normalizations, one kernel), ``loss`` and ``recurrent`` (lstm, gru);
``args`` holds the argument helpers they share.
"""

from ..core import exp, log, maximum, minimum, sqrt
from .activations import leakyrelu, relu, sigmoid, sigmoid_kernel, tanh
from .nn import fullyconnect, softmax
from .recurrent import RESET_GATE_MODES, gru, lstm
from .shape import concatenate, flatten

__all__ = ["exp", "log", "sqrt", "relu", "leakyrelu", "sigmoid", "tanh", "maximum", "minimum",
           "sigmoid_kernel", "fullyconnect", "softmax", "flatten", "concatenate", "lstm", "gru",
           "RESET_GATE_MODES"]
