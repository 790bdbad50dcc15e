"""minidl: a small deep-learning framework in NumPy that speaks MATLAB's Deep Learning Toolbox.

Public names follow MATLAB (``dlarray``, ``dlfeval``, ``dlgradient``, ``dlconv``, ...).
"""

from .autodiff import dlfeval, dlgradient
from .backend import canUseGPU, gather, gpuArray, rng, use_backend
from .dlarray import dims, dlarray, extractdata, finddim, stripdims
from .gradcheck import gradcheck
from .ops import exp, leakyrelu, log, maximum, minimum, relu, sigmoid, sqrt, tanh

__all__ = [
    "dlarray", "dims", "finddim", "stripdims", "extractdata",
    "dlfeval", "dlgradient", "gradcheck",
    "use_backend", "gpuArray", "gather", "canUseGPU", "rng",
    "exp", "log", "sqrt", "relu", "leakyrelu", "sigmoid", "tanh", "maximum", "minimum",
]
