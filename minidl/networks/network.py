"""``dlnetwork`` and ``layerGraph``: networks of layers (chains or graphs with branches), with
the Learnables and State tables, predict and forward.

``dlnetwork(layers)`` copies the layers (the caller's objects are never modified), names the
unnamed ones as MATLAB does, connects them in a chain, propagates size and format from the input
layer through every layer's ``initialize`` hook (which infers NumChannels and sizes and creates
empty learnables), and records each layer's activation size for ``summary``/``analyzeNetwork``.

Graphs (a residual block, say) are built the way MATLAB documents: ``net = dlnetwork()``, then
``net = addLayers(net, layers)`` (the layers joined in a chain), ``connectLayers(net, "relu_1",
"add/in2")``, ``disconnectLayers``, ``removeLayers``, ``replaceLayer``, then ``initialize(net)``.
As on MATLAB's reference pages, the editing functions return an uninitialized network (values
already set are kept and checked when it is initialized), a multi-input layer's inputs are named
"layer/in1", "layer/in2"..., and a chain of layers that reaches a multi-input layer is joined
to its first input. MATLAB's older ``layerGraph`` is here too: it has the same editing functions
and ``dlnetwork(lgraph)`` and ``trainnet`` accept it.

Initialization sorts the layers once in topological order (ties kept in the order of
``net.Layers``, so a chain runs in its own order) and plans, for each layer, where its inputs
come from and which outputs can be dropped after it runs; ``predict`` and ``forward`` follow that
plan, so each activation is freed as soon as its last reader has run. A network that is a plain
chain (every layer feeding the next) runs in a simple loop instead, as it always has.

``net.Learnables`` and ``net.State`` are ``Table`` objects (columns Layer, Parameter, Value).
Both tables and the network implement ``_tree_flatten`` (leaves: the Value dlarrays), so
``dlfeval(modelLoss, net, X, T)`` traces the learnables and ``dlgradient(loss, net.Learnables)``
returns a table of gradients.

An imageInputLayer with 'zerocenter'/'zscore' normalization and no Mean yet (MATLAB computes it in
trainnet) passes data unnormalized until its statistics are set: trainnet calls
``layer.fit_normalization(X)``; a custom loop can too (``net.Layers[0]`` is a copy, so fit the
layer before building the network, or use ``net.input_layer()``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._matlab import as_numeric, check_flag, format_properties, parse_name_value, size_str
from ..backend import active_module, array_module, generator, scope, to_module, tune_malloc
from ..core import dlarray
from ..layers import InputLayer, Layer, LayerArray, input_names, move_params
from .graph import (
    Graph,
    Plan,
    assign_names,
    chain_connections,
    make_plan,
    name_list,
    pool_before_relu,
    topological_order,
)
from .table import Table

__all__ = [
    "dlnetwork", "network_module", "network_on", "check_network", "check_single_io", "Table",
    "predict", "forward", "initialize", "layerGraph", "LayerGraph", "addLayers", "connectLayers",
    "disconnectLayers", "removeLayers", "replaceLayer",
]


def _check_set_values(layer: Layer, size: tuple[int, ...], fmt: str) -> None:
    """Learnables and state set before initialization (``net.Learnables = ...``) must have the
    sizes that initializing ``layer`` for input of ``size`` would give them: a copy of the layer
    without them is initialized (the random generator is put back after, so seeded weights stay
    the same) and the sizes are compared; a ValueError names the layer and the parameter. A
    layer that cannot initialize without its values (a custom layer that sets them itself) is
    not checked here."""
    names = (*type(layer).learnables, *type(layer).states)
    preset = {name: getattr(layer, name) for name in names
              if getattr(layer, name, None) is not None}
    if not preset:
        return
    probe = copy.copy(layer)
    for name in preset:
        object.__setattr__(probe, name, None)
    state = generator().bit_generator.state
    try:
        probe.initialize(size, fmt)
    except Exception:  # a custom layer may need its own values to initialize: no check then
        return
    finally:
        generator().bit_generator.state = state
    for name, value in preset.items():  # singleton dimensions aside: a layer reshapes C values
        if name in getattr(type(layer), "batch_states", ()):  # H x N: N is the data's
            continue
        needed = getattr(probe, name)
        if needed is not None and _squeezed(value.shape) != _squeezed(needed.shape):
            raise ValueError(f"layer '{layer.Name}' ({layer.type_name}) has {name} of size "
                             f"{size_str(value.shape)}, but its input (size {size_str(size)}, "
                             f"format '{fmt}') needs {name} of size {size_str(needed.shape)}.")


def _squeezed(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


# ---- the network --------------------------------------------------------------------------------

class dlnetwork(Graph):
    """A network of layers (MATLAB's ``dlnetwork``): a chain, or a graph with branches.

    ``dlnetwork(layers)`` (a LayerArray or a list of layers, connected in a chain),
    ``dlnetwork(layers, Initialize=False)``, ``dlnetwork(layers, X1, ...)`` (example formatted
    dlarrays for the inputs that no input layer gives sizes to), ``dlnetwork(lgraph)`` (a
    layerGraph) or ``dlnetwork()`` (empty and uninitialized; add layers with ``addLayers``).
    Properties: Layers, Connections, Learnables, State, InputNames, OutputNames, Initialized,
    ClassNames (None, or the class names trainnet stores).
    """

    def __init__(self, layers: Any = None, *args: Any, **kwargs: Any) -> None:
        examples = []
        while args and not isinstance(args[0], str):
            examples.append(args[0])
            args = args[1:]
        init = parse_name_value(args, kwargs, {"Initialize": True}, "dlnetwork")["Initialize"]
        init = check_flag("dlnetwork: Initialize", init)
        self._start()
        self._reset()
        self.ClassNames: Any = None
        if layers is None:  # dlnetwork(): MATLAB's empty network, built with addLayers
            return
        if isinstance(layers, Graph):
            self._layers = [copy.copy(layer) for layer in layers._layers]
            self._connections = list(layers._connections)
            self.ClassNames = getattr(layers, "ClassNames", None)
            self._examples = list(getattr(layers, "_examples", []))
        else:
            self._layers = [copy.copy(layer) for layer in LayerArray(layers)]
            assign_names(self._layers)
            self._connections = chain_connections(self._layers, "dlnetwork")
        if init:
            self._initialize(examples)

    def _reset(self) -> None:
        """Forget what initialization computed (after an edit, or before initializing)."""
        self._activations: list[tuple[tuple[int, ...], str]] = []
        self._examples: list[tuple[tuple[int, ...], str]] = []
        self._endpoints: list[tuple[int, str | None]] = []
        self._plans: dict[Any, Plan] = {}
        self._chain = False
        self._initialized = False

    def _edited(self) -> dlnetwork:
        """An uninitialized copy, as MATLAB's editing functions return (values set are kept)."""
        out = copy.copy(self)
        out._reset()
        return out

    # ---- initialization --------------------------------------------------------------------
    def _initialize(self, examples: Sequence[Any] = ()) -> None:
        if not self._layers:
            raise ValueError("dlnetwork: cannot initialize a network with no layers.")
        try:
            order = topological_order(self._layers, self._connections)
        except ValueError as err:
            raise ValueError(f"dlnetwork: {err}") from None
        endpoints = self._input_endpoints()
        open_inputs = [ep for ep in endpoints if ep[1] is not None]
        stored = self._examples
        if examples:
            stored = [_example_size(X, self._endpoint_name(ep))
                      for X, ep in zip(examples, open_inputs)]
            if len(examples) != len(open_inputs):
                raise ValueError(f"dlnetwork: {len(examples)} example inputs were given for "
                                 f"{len(open_inputs)} inputs without an input layer ("
                                 f"{_quoted(self._endpoint_name(ep) for ep in open_inputs)}).")
        elif len(stored) != len(open_inputs):
            if not any(isinstance(layer, InputLayer) for layer in self._layers):
                raise ValueError("dlnetwork: the network has no input layer, so its input size is "
                                 "unknown: start it with an input layer (imageInputLayer, "
                                 "featureInputLayer), pass example data dlnetwork(layers, X), "
                                 "or use Initialize=False.")
            unfed = _quoted(self._endpoint_name(ep) for ep in open_inputs)
            raise ValueError(f"dlnetwork: input {unfed} is not connected: connect it "
                             "(connectLayers), remove the layer (removeLayers), or give example "
                             "data for it (initialize(net, X)).")
        n, xp = len(self._layers), active_module()
        index = {layer.Name: i for i, layer in enumerate(self._layers)}
        feeds = {(index[d], inp): index[s] for s, d, inp in self._connections}
        sizes = {n + j: example for j, example in
                 zip([endpoints.index(ep) for ep in open_inputs], stored)}
        for i in order:
            layer = self._layers[i]
            if isinstance(layer, InputLayer):
                size, fmt = layer.initialize()
            else:
                ins = [sizes[feeds[(i, inp)] if (i, inp) in feeds
                             else n + endpoints.index((i, inp))] for inp in input_names(layer)]
                if len(ins) == 1:
                    _check_set_values(layer, tuple(ins[0][0]), ins[0][1])
                    size, fmt = layer.initialize(tuple(ins[0][0]), ins[0][1])
                else:
                    size, fmt = layer.initialize([s for s, _ in ins], [f for _, f in ins])
                move_params(layer, xp)  # given values (e.g. NumPy weights) join the backend
            sizes[i] = (tuple(size), fmt)
        self._set_initialized([sizes[i] for i in range(n)], list(stored))

    def _set_initialized(self, activations: list[tuple[tuple[int, ...], str]],
                         examples: list[tuple[tuple[int, ...], str]]) -> None:
        """Record what initialization found (also minidl.io's load) and plan the runs."""
        self._activations, self._examples = activations, examples
        self._endpoints = self._input_endpoints()
        self._chain = self._is_chain()
        self._plans = {None: self._output_plan(None, "dlnetwork")}
        self._initialized = True

    def _is_chain(self) -> bool:
        """True when every layer feeds the next one and nothing else (the fast loop runs it)."""
        layers = self._layers
        chain = {(a.Name, b.Name, "in") for a, b in zip(layers, layers[1:])}
        return (input_names(layers[0]) in ((), ("in",))
                and all(input_names(layer) == ("in",) for layer in layers[1:])
                and len(self._connections) == len(chain) and set(self._connections) == chain)

    def _endpoint_name(self, endpoint: tuple[int, str | None]) -> str:
        i, inp = endpoint
        layer = self._layers[i]
        return layer.Name if inp is None else self._endpoint(layer, inp)

    def initialize(self, *X: Any) -> dlnetwork:
        """An initialized copy (MATLAB's ``net = initialize(net, X...)``); set values are kept."""
        out = copy.copy(self)
        out._initialize(X)
        return out

    # ---- properties ------------------------------------------------------------------------
    @property
    def Initialized(self) -> bool:
        return self._initialized

    def _rows(self, kind: str) -> Table:
        rows = [(layer, name) for layer in self._layers for name in getattr(type(layer), kind)]
        return Table({"Layer": [layer.Name for layer, _ in rows],
                      "Parameter": [name for _, name in rows],
                      "Value": [getattr(layer, name, None) for layer, name in rows]})

    @property
    def Learnables(self) -> Table:
        return self._rows("learnables")

    @Learnables.setter
    def Learnables(self, table: Table) -> None:
        self._assign(table, "learnables")

    @property
    def State(self) -> Table:
        return self._rows("states")

    @State.setter
    def State(self, table: Table) -> None:
        self._assign(table, "states")

    def _assign(self, table: Any, kind: str) -> None:
        """Write a table's values into the layers, checking rows and sizes."""
        what = "Learnables" if kind == "learnables" else "State"
        if not all(hasattr(table, c) for c in ("Layer", "Parameter", "Value")):
            raise TypeError(f"net.{what} must be a table with columns Layer, Parameter and "
                            f"Value, got {type(table).__name__}")
        slots = {(layer.Name, name): layer for layer in self._layers
                 for name in getattr(type(layer), kind)}
        keys = list(zip(table.Layer, table.Parameter))
        if sorted(keys) != sorted(slots):
            missing = sorted(set(slots) - set(keys))
            extra = sorted(set(keys) - set(slots))
            raise ValueError(f"net.{what}: the table's rows must match the network's; missing "
                             f"{missing or 'none'}, unknown {extra or 'none'}.")
        for (lname, pname), value in zip(keys, table.Value):
            layer = slots[(lname, pname)]
            old = getattr(layer, pname, None)
            if value is not None and not isinstance(value, dlarray):
                value = dlarray(value)
            if value is None and old is not None and self._initialized:
                raise ValueError(f"net.{what}: layer '{lname}' parameter '{pname}' cannot be "
                                 "emptied in an initialized network; give a value of size "
                                 f"{size_str(old.shape)}.")
            per_observation = pname in getattr(type(layer), "batch_states", ())
            if per_observation and old is not None and value is not None and (
                    value.ndim != 2 or value.shape[0] != old.shape[0]):
                raise ValueError(f"net.{what}: layer '{lname}' parameter '{pname}' must be "
                                 f"{old.shape[0]}xN (one column for all observations, or one "
                                 f"per observation), got size {size_str(value.shape)}.")
            if not per_observation and old is not None and value is not None \
                    and tuple(value.shape) != tuple(old.shape):
                raise ValueError(f"net.{what}: layer '{lname}' parameter '{pname}' has size "
                                 f"{size_str(old.shape)}, but the new value has size "
                                 f"{size_str(value.shape)}.")
            setattr(layer, pname, value)

    def learnable_factors(self) -> list[tuple[float, float]]:
        """(learn-rate factor, L2 factor) for each row of Learnables, in row order."""
        return [layer.factors(name) for layer in self._layers
                for name in type(layer).learnables]

    def input_layer(self) -> Layer | None:
        """The network's own input layer (not a copy) when it has one input and that is an
        input layer, else None: for ``fit_normalization``."""
        endpoints = self._endpoints if self._initialized else self._input_endpoints()
        if len(endpoints) == 1 and endpoints[0][1] is None:
            return self._layers[endpoints[0][0]]
        return None

    # ---- autodiff container ---------------------------------------------------------------
    def _tree_flatten(self) -> tuple[list, Any]:
        values = [getattr(layer, name, None) for layer, name in self._learnable_slots()]
        where = [i for i, v in enumerate(values) if isinstance(v, dlarray)]

        def rebuild(new_leaves: list) -> dlnetwork:
            new = list(values)
            for i, leaf in zip(where, new_leaves):
                new[i] = leaf
            return self._with_learnable_values(new)

        return [values[i] for i in where], rebuild

    def _learnable_slots(self) -> list[tuple[Layer, str]]:
        """(layer, parameter name) of each Learnables row, in row order."""
        return [(layer, name) for layer in self._layers for name in type(layer).learnables]

    def _with_learnable_values(self, values: Sequence[Any]) -> dlnetwork:
        """A copy of the network holding ``values`` (one per Learnables row, in row order).

        The fast path for values minidl makes from the network's own (the traced copies in
        dlfeval, solver updates): dlarrays of the sizes already there are set directly, without
        building and checking a table (a tenth of a millisecond per step, twice per step). Any
        other value goes through the full check of ``net.Learnables = table``.
        """
        out = copy.copy(self)
        slots = out._learnable_slots()
        trusted = len(values) == len(slots) and all(
            isinstance(v, dlarray) and isinstance(getattr(layer, name, None), dlarray)
            and v._data.shape == getattr(layer, name)._data.shape
            for (layer, name), v in zip(slots, values))
        if not trusted:
            out._assign(out.Learnables.with_values(values), "learnables")
            return out
        for (layer, name), value in zip(slots, values):
            setattr(layer, name, value)
        return out

    # ---- evaluation --------------------------------------------------------------------------
    def _prepare(self, X: Any, where: str, j: int = 0) -> dlarray:
        """Network input ``j`` as the layer it enters expects it: raw data read in an input
        layer's MATLAB layout, or a formatted dlarray of the example's format."""
        if not isinstance(X, dlarray):
            if array_module(X) is np:
                X = as_numeric(X, f"{where}: X")
                X = X.reshape(1, 1) if X.ndim == 0 else X  # a number: MATLAB's 1 x 1 array
            X = to_module(X, network_module(self))
        i, inp = self._endpoints[j]
        layer = self._layers[i]
        if inp is None:
            return layer.prepare(X)
        fmt = self._examples[[ep for ep in self._endpoints if ep[1] is not None].index((i, inp))][1]
        if not isinstance(X, dlarray) or X.fmt != fmt:
            got = f"format '{X.fmt}'" if isinstance(X, dlarray) and X.fmt else "unformatted data"
            name = self._endpoint(layer, inp)
            raise ValueError(f"{where}: layer '{name}' expects a dlarray with format '{fmt}', "
                             f"got {got}.")
        return X

    def _inputs(self, X: tuple, where: str) -> list[dlarray]:
        tune_malloc()  # once per process: keep big freed blocks for the next step (see there)
        if not self._initialized:
            raise ValueError(f"{where}: the network is not initialized: use "
                             "net = net.initialize() (or initialize(net, X)) first.")
        if len(X) != len(self._endpoints):
            raise ValueError(f"{where}: the network has {len(self._endpoints)} input"
                             f"{'s' if len(self._endpoints) != 1 else ''} ("
                             f"{_quoted(self.InputNames)}), got {len(X)}.")
        return [self._prepare(x, where, j) for j, x in enumerate(X)]

    def _output_plan(self, outputs: Any, where: str) -> Plan:
        """The plan computing ``outputs`` (None: OutputNames; else layer names, "fc" or
        "fc/out"), made once per choice of outputs and kept."""
        key = None if outputs is None else tuple(name_list(outputs, where, "Outputs"))
        plan = self._plans.get(key)
        if plan is None:
            names = self.OutputNames if key is None else [self._source(o, where) for o in key]
            if not names:
                raise ValueError(f"{where}: the network has no outputs.")
            index = [self._index(name, where) for name in names]
            plan = make_plan(self._layers, self._connections, self._endpoints, index)
            self._plans[key] = plan
        return plan

    def _run(self, plan: Plan, X: list[dlarray], training: bool) -> tuple[list, dict]:
        """Follow ``plan``: each layer's inputs from the slots, each activation dropped after
        its last reader. Returns the outputs and the state updates (training)."""
        n = len(self._layers)
        values: list[Any] = [None] * plan.size
        values[n:n + len(X)] = X
        updates: dict[tuple[str, str], Any] = {}
        layers = self._layers
        for i, ins, free in plan.steps:
            layer = layers[i]
            args = [values[s] for s in ins]
            if training:
                out = layer.forward(*args)
                if isinstance(out, tuple):
                    out, new = out
                    updates.update({(layer.Name, k): v for k, v in new.items()})
            else:
                out = layer.predict(*args)
            values[i] = out
            for s in free:
                values[s] = None
        return [values[s] for s in plan.outputs], updates

    def predict(self, *X: Any, Outputs: Any = None) -> Any:
        """The network's output in inference mode (batch norm uses trained statistics, no
        dropout). X: a formatted dlarray or raw data in MATLAB layout (H x W x C x N images,
        N x numFeatures features), one per network input (InputNames order). The result is a
        formatted dlarray ("CB" after fully connected layers); with several outputs (or
        ``Outputs=[...]`` naming several layers), a tuple in that order.
        """
        inputs = self._inputs(X, "predict")
        with scope():  # the layers' ops may use several threads (backend.threads)
            if self._chain and Outputs is None:
                Y = inputs[0]
                for layer in pool_before_relu(self._layers):
                    Y = layer.predict(Y)
                return Y
            Ys, _ = self._run(self._output_plan(Outputs, "predict"), inputs, False)
        return Ys[0] if len(Ys) == 1 else tuple(Ys)

    def forward(self, *X: Any, Outputs: Any = None) -> tuple:
        """(Y, state) in training mode: batch statistics (updating the running statistics
        returned in ``state``; assign ``net.State = state`` to keep them) and dropout on. With
        several outputs, (Y1, ..., YN, state), as MATLAB's ``[Y1,...,YN,state] = forward(...)``."""
        inputs = self._inputs(X, "forward")
        updates: dict[tuple[str, str], Any] = {}
        with scope():  # the layers' ops may use several threads (backend.threads)
            if self._chain and Outputs is None:
                Y = inputs[0]
                for layer in pool_before_relu(self._layers):
                    out = layer.forward(Y)
                    if isinstance(out, tuple):
                        Y, new = out
                        updates.update({(layer.Name, k): v for k, v in new.items()})
                    else:
                        Y = out
                Ys = [Y]
            else:
                Ys, updates = self._run(self._output_plan(Outputs, "forward"), inputs, True)
        state = self.State
        values = [updates.get((lname, pname), v) for lname, pname, v in state]
        return (*Ys, state.with_values([_detached(v) for v in values]))

    # ---- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        props = [("Layers", f"[{len(self._layers)}x1 nnet.cnn.layer.Layer]"),
                 ("Connections", f"[{len(self._connections)}x2 table]"),
                 ("Learnables", f"[{len(self.Learnables)}x3 table]"),
                 ("State", f"[{len(self.State)}x3 table]"),
                 ("InputNames", _cellstr(self.InputNames)),
                 ("OutputNames", _cellstr(self.OutputNames)),
                 ("Initialized", "1" if self._initialized else "0")]
        return format_properties("dlnetwork", [(None, props)], "View summary with summary.")

    def summary(self) -> Any:
        """Per-layer activations and learnables, like analyzeNetwork (networks.summary)."""
        from .summary import analyzeNetwork  # cycle: summary builds dlnetworks from layers
        return analyzeNetwork(self)


class LayerGraph(Graph):
    """MATLAB's older ``layerGraph``: layers and connections, without learnables or
    initialization. Edit it with the same functions as a dlnetwork; ``dlnetwork(lgraph)`` and
    ``trainnet`` accept it. Properties: Layers, Connections, InputNames, OutputNames."""

    _kind = "layer graph"

    def __init__(self, layers: Any = None) -> None:
        self._start()
        if isinstance(layers, Graph):
            self._layers = [copy.copy(layer) for layer in layers._layers]
            self._connections = list(layers._connections)
        elif layers is not None:
            self._layers = [copy.copy(layer) for layer in LayerArray(layers)]
            assign_names(self._layers, (), "layerGraph")
            self._connections = chain_connections(self._layers, "layerGraph")

    def __repr__(self) -> str:
        props = [("Layers", f"[{len(self._layers)}x1 nnet.cnn.layer.Layer]"),
                 ("Connections", f"[{len(self._connections)}x2 table]"),
                 ("InputNames", _cellstr(self.InputNames)),
                 ("OutputNames", _cellstr(self.OutputNames))]
        return format_properties("LayerGraph", [(None, props)])


def _example_size(X: Any, name: str) -> tuple[tuple[int, ...], str]:
    """(size with B = 1, format) of an example input; it must be a formatted dlarray."""
    if not isinstance(X, dlarray) or not X.fmt:
        raise ValueError(f"dlnetwork: the example input for '{name}' must be a formatted "
                         "dlarray, such as dlarray(x, 'SSCB').")
    return tuple(1 if label == "B" else n for n, label in zip(X.shape, X.fmt)), X.fmt


def _detached(v: Any) -> Any:
    return dlarray._wrap(v._data, v._fmt) if isinstance(v, dlarray) else v


def _cellstr(names: Sequence[str]) -> str:
    return "{" + "  ".join(f"'{n}'" for n in names) + "}" if names else "{}"


def _quoted(names: Any) -> str:
    return ", ".join(f"'{n}'" for n in names)


TRAINNET_TUPLE_HINT = "trainnet returns (net, info); write net, info = trainnet(...)"


def check_network(net: Any, where: str, name: str = "net",
                  expected: str = "a dlnetwork") -> Any:
    """``net`` if it is a dlnetwork; else a TypeError naming the argument. The commonest mistake,
    the ``(net, info)`` tuple of ``net = trainnet(...)``, gets its own message."""
    if isinstance(net, dlnetwork):
        return net
    if isinstance(net, tuple) and len(net) == 2 and isinstance(net[0], dlnetwork):
        raise TypeError(f"{where}: {name} is a tuple, not {expected}: {TRAINNET_TUPLE_HINT}")
    raise TypeError(f"{where}: {name} must be {expected}, got {type(net).__name__}.")


def check_single_io(net: Any, where: str) -> None:
    """A ValueError unless ``net`` has one input and one output (what trainnet, testnet and
    minibatchpredict take), naming them."""
    ins, outs = net.InputNames, net.OutputNames
    if len(ins) != 1 or len(outs) != 1:
        raise ValueError(f"{where}: the network has {len(ins)} input{'s' * (len(ins) != 1)} "
                         f"({_quoted(ins) or 'none'}) and {len(outs)} output"
                         f"{'s' * (len(outs) != 1)} ({_quoted(outs) or 'none'}); {where} takes a "
                         "network with one input and one output.")


# ---- MATLAB's functions -------------------------------------------------------------------------

def predict(net: dlnetwork, *X: Any, Outputs: Any = None) -> Any:
    """MATLAB's ``Y = predict(net, X)``: inference (see dlnetwork.predict)."""
    return check_network(net, "predict").predict(*X, Outputs=Outputs)


def forward(net: dlnetwork, *X: Any, Outputs: Any = None) -> tuple:
    """MATLAB's ``[Y, state] = forward(net, X)``: training mode (see dlnetwork.forward)."""
    return check_network(net, "forward").forward(*X, Outputs=Outputs)


def initialize(net: dlnetwork, *X: Any) -> dlnetwork:
    """MATLAB's ``net = initialize(net, X...)``: an initialized copy of ``net``."""
    if isinstance(net, LayerGraph):
        raise TypeError("initialize expects a dlnetwork, got LayerGraph: build one with "
                        "dlnetwork(lgraph)")
    return check_network(net, "initialize").initialize(*X)


def layerGraph(layers: Any = None) -> LayerGraph:
    """MATLAB's ``lgraph = layerGraph(layers)`` (or ``layerGraph()``, empty, or
    ``layerGraph(net)``): a graph of layers, the layers of a Layer array joined in a chain."""
    return LayerGraph(layers)


def addLayers(net: Any, layers: Any) -> Any:
    """MATLAB's ``net = addLayers(net, layers)``: the layers added, joined to each other in a
    chain (an uninitialized copy for a dlnetwork)."""
    return _graph(net, "addLayers").addLayers(layers)


def connectLayers(net: Any, source: str, destination: str) -> Any:
    """MATLAB's ``net = connectLayers(net, "relu_1", "add/in2")``: a copy with that connection."""
    return _graph(net, "connectLayers").connectLayers(source, destination)


def disconnectLayers(net: Any, source: str, destination: str) -> Any:
    """MATLAB's ``net = disconnectLayers(net, source, destination)``: a copy without it."""
    return _graph(net, "disconnectLayers").disconnectLayers(source, destination)


def removeLayers(net: Any, layerNames: Any) -> Any:
    """MATLAB's ``net = removeLayers(net, layerNames)``: a copy without those layers and their
    connections."""
    return _graph(net, "removeLayers").removeLayers(layerNames)


def replaceLayer(net: Any, layerName: str, layers: Any, *args: Any, **kwargs: Any) -> Any:
    """MATLAB's ``net = replaceLayer(net, layerName, layers, ReconnectBy="name")``: a copy with
    the layer replaced by ``layers`` joined in a chain."""
    return _graph(net, "replaceLayer").replaceLayer(layerName, layers, *args, **kwargs)


def _graph(net: Any, where: str) -> Graph:
    if not isinstance(net, Graph):
        raise TypeError(f"{where} expects a dlnetwork or a layerGraph, got {type(net).__name__}")
    return net


# ---- where a network lives ----------------------------------------------------------------------

def network_module(net: Any) -> Any:
    """The array module the network lives on: that of its learnables and state, or the active
    backend's for a network that holds no arrays (yet)."""
    values = [v._data for v in [*net.Learnables.Value, *net.State.Value] if v is not None]
    return array_module(*values) if values else active_module()


def network_on(net: Any, xp: Any) -> Any:
    """``net`` itself when its arrays are on ``xp``, else a copy with its arrays moved there."""
    if network_module(net) is xp:
        return net

    def move(table: Any) -> Any:
        return table.with_values([dlarray._wrap(to_module(v._data, xp), v._fmt)
                                  for v in table.Value])

    out = copy.copy(net)
    out.Learnables = move(net.Learnables)
    out.State = move(net.State)
    return out
