"""Functional ops on dlarrays (MATLAB names), each with its gradient written beside it."""

from .math import exp, leakyrelu, log, maximum, minimum, relu, sigmoid, sqrt, tanh

__all__ = ["exp", "log", "sqrt", "relu", "leakyrelu", "sigmoid", "tanh", "maximum", "minimum"]
