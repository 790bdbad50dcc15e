"""The networks room: layers wired together.

``graph`` holds the layers and connections and plans their evaluation, ``network`` is
dlnetwork (and layerGraph) with predict/forward, ``table`` the Learnables/State tables, ``io``
save and load, ``summary`` analyzeNetwork, ``factors`` the learn-rate and L2 factor accessors,
``inputs`` what a network reads, ``chunks`` the splitting of a mini-batch over threads.
"""

from .chunks import concat_batch, per_observation_network, predict_chunks, split_plan
from .factors import getL2Factor, getLearnRateFactor, setL2Factor, setLearnRateFactor
from .graph import Graph, pool_before_relu, topological_order
from .inputs import input_format, observations, read_datastore
from .io import load, save
from .network import (
    LayerGraph,
    addLayers,
    check_network,
    check_single_io,
    connectLayers,
    disconnectLayers,
    dlnetwork,
    forward,
    initialize,
    layerGraph,
    network_module,
    network_on,
    predict,
    removeLayers,
    replaceLayer,
)
from .onnx import exportONNXNetwork, importNetworkFromONNX
from .summary import NetworkAnalysis, analyzeNetwork, summary
from .table import Table

__all__ = [
    "Graph", "LayerGraph", "NetworkAnalysis", "Table", "addLayers", "analyzeNetwork",
    "check_network", "check_single_io", "concat_batch", "connectLayers", "disconnectLayers",
    "dlnetwork", "exportONNXNetwork", "forward", "getL2Factor", "getLearnRateFactor",
    "importNetworkFromONNX", "initialize", "input_format", "layerGraph", "load", "network_module",
    "network_on", "observations", "per_observation_network", "pool_before_relu", "predict",
    "predict_chunks", "read_datastore", "removeLayers", "replaceLayer", "save", "setL2Factor",
    "setLearnRateFactor", "split_plan", "summary", "topological_order",
]
