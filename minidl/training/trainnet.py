"""``trainnet``: train a network with the options of ``trainingOptions`` (MATLAB's trainnet).

The loop, in the order MATLAB documents: the input normalization statistics are computed from
the training data; each epoch the data is shuffled (Shuffle) and cut into MiniBatchSize batches
(the trailing partial batch is dropped); each iteration computes loss and gradients with
``dlfeval``, adds the L2 term ``λ·factor·w``, clips the gradients (GradientThreshold) and
applies the solver with ``sgdmupdate``/``adamupdate``/``rmspropupdate`` at the scheduled
learning rate times each parameter's learn-rate factor. Every iteration produces one record
(``minidl.monitor``) for the verbose table, the progress plot, the checkpoint writer and the
histories.

Data is converted once: X to float32 in channels-last memory order (N, H, W, C) on the training
device, targets to one-hot float32 rows; a mini-batch is one index into each.

On the CPU a mini-batch of at least 2 x ``MIN_CHUNK`` observations is computed in chunks on
several threads at the same time (``minidl.prediction.split_plan``; ``MINIDL_THREADS=1`` turns
this off) when that gives the same step: the loss is one of the built-in losses, each a mean
over the observations, so loss = Σ_k (n_k / N) · loss_k and the same for the gradients; every
layer is one that treats observations independently in training (no batch normalization, no
dropout, no custom or function layers); and the network has no State. Chunks and their order
are fixed, so a run is as reproducible as an unsplit one; it differs from the unsplit
computation by float32 rounding only.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._matlab import format_value
from ..backend import (
    active_module,
    array_module,
    generator,
    in_parallel,
    own_generator,
    sum_parts,
    to_module,
    using_backend,
)
from ..core import dlarray, dlfeval, dlgradient, tree_flatten
from ..data import Observations, is_datastore
from ..layers import BatchNormalizationLayer
from ..networks import (
    check_single_io,
    concat_batch,
    dlnetwork,
    forward,
    network_module,
    network_on,
    predict_chunks,
    split_plan,
)
from ..ops import crossentropy, huber, l1loss, l2loss
from .evaluate import execution_module
from .metrics import metric_value, weighted_means
from .optimizers import adamupdate, rmspropupdate, sgdmupdate
from .options import TrainingOptions
from .parallel import ParallelPlan
from .progress_plot import ProgressPlot
from .report import CheckpointWriter, HistoryTable, TrainingInfo, VerboseTable, metric_label
from .training_data import TrainingData, training_data

__all__ = ["trainnet", "TrainingInfo", "TrainingRun", "clip_gradients", "loss_function"]

ALIASES = {"crossentropy": "crossentropy", "index-crossentropy": "index-crossentropy",
           "binary-crossentropy": "binary-crossentropy",
           "mse": "mse", "mean-squared-error": "mse", "l2loss": "mse",
           "mae": "mae", "mean-absolute-error": "mae", "l1loss": "mae", "huber": "huber"}
"""trainnet's loss names (MATLAB's, with its aliases) -> the name minidl uses inside."""
MAX_EPOCHS = "Max epochs completed"
VALIDATION_CRITERION = "Met validation criterion"
OUTPUT_FCN = "Stopped by OutputFcn"
MANUAL = "Stopped manually"
NON_FINITE = "Update gave non-finite learnables or state"

LossFcn = Callable[[dlarray, dlarray], dlarray]


def trainnet(*args: Any) -> tuple[Any, TrainingInfo]:
    """Train a network; returns ``(net, info)`` (MATLAB's ``[net, info] = trainnet(...)``).

    ``trainnet(X, T, layers_or_net, lossFcn, options)`` or ``trainnet(datastore, net, lossFcn,
    options)``. X is numeric in MATLAB layout (H x W x C x N images, N x numFeatures features
    with one row per observation, or the layout ``options.InputDataFormats`` names, such as
    "CB" for numFeatures x N); T holds class labels (classes = sorted unique labels,
    stored in ``net.ClassNames``) or numeric targets (N x K, or the output's MATLAB layout).
    lossFcn is a name: "crossentropy" or "index-crossentropy" (class labels; numeric targets of
    "index-crossentropy" are class indices 1..K), "binary-crossentropy", "mse" (also
    "mean-squared-error", "l2loss": ``l2loss``, the squared error summed over the responses
    and averaged over the observations; not the half-MSE ``mse`` function), "mae" (also
    "mean-absolute-error", "l1loss": ``l1loss``), "huber"; or a callable ``(Y, T) -> loss``.
    The caller's network is not modified.

    ``info`` is a TrainingInfo: TrainingHistory, ValidationHistory, StopReason ("Max epochs
    completed", "Met validation criterion", "Stopped by OutputFcn", "Stopped manually" after
    Ctrl-C; "Training loss is NaN"/"Inf": the network returned is the last one whose loss was
    finite, the one before the network that gave the NaN/Inf; "Update gave non-finite
    learnables or state": a step (say, with a huge L2Regularization, or a finite loss with a NaN
    gradient) would have made a learnable or state NaN or Inf, and the network before it is
    returned), OutputNetworkIteration (the number of updates the returned network has had: 0
    is the initial network) and PlotFile. ``options.OutputFcn`` gets a dict with
    Iteration, Epoch, TimeElapsed (s), LearnRate, TrainingLoss, ValidationLoss, the metrics
    (TrainingAccuracy, ...) and State ("start", "iteration", "done"); returning True stops.
    Plots="training-progress" writes training-progress.png into CheckpointPath (if given) or
    the current folder, or to ``options.PlotFile`` (minidl's option) when set.
    """
    t0 = time.monotonic()
    X, T, net_in, loss_in, opts = _split_args(args)
    loss_fcn, loss_name = loss_function(loss_in)
    given_net = isinstance(net_in, dlnetwork)
    plan = ParallelPlan(opts.ExecutionEnvironment, _print)
    xp = execution_module(plan.device_environment, net_in if given_net else None)
    plan.select_device(xp)
    home = network_module(net_in) if given_net else active_module()
    with using_backend(xp):
        net = plan.same_start(_fresh_network(net_in, xp))
        train = training_data(X, T, net, loss_name, opts, None, "training data")
        val = None
        if opts.ValidationData is not None:
            val = training_data(*_pair(opts.ValidationData), net, loss_name, opts,
                                 train.classes, "ValidationData")
        with plan, own_generator():  # this run's shuffles and dropout: its own generator
            net, info = TrainingRun(net, train, val, loss_fcn, opts, t0, bool(loss_name),
                                    plan).run()
    return network_on(net, home), info


# ---------------------------------------------------------------------------------------------
# Arguments

def _split_args(args: tuple) -> tuple:
    if len(args) == 4 and is_datastore(args[0]):
        return (args[0], None, *args[1:])
    if len(args) != 5:
        raise TypeError("trainnet takes (X, T, net, lossFcn, options) or (datastore, net, "
                        f"lossFcn, options), got {len(args)} arguments")
    if not isinstance(args[4], TrainingOptions):
        raise TypeError("trainnet: options must come from trainingOptions(...), got "
                        f"{type(args[4]).__name__}")
    return args


def _pair(data: Any) -> tuple[Any, Any]:
    return (data, None) if is_datastore(data) else (data[0], data[1])


def loss_function(loss: Any) -> tuple[LossFcn, str]:
    """The loss callable for a loss name (or a callable), and its canonical name ("" for
    callables). MATLAB's aliases map to one name each, e.g. "mean-squared-error" -> "mse"."""
    if callable(loss):
        return loss, ""
    name = ALIASES.get(loss.lower()) if isinstance(loss, str) else None
    if name in ("crossentropy", "index-crossentropy"):  # index targets arrive one-hot
        return crossentropy, name
    if name == "binary-crossentropy":
        return (lambda Y, T: crossentropy(Y, T, ClassificationMode="multilabel")), name
    if name is not None:
        return {"mse": l2loss, "mae": l1loss, "huber": huber}[name], name
    shown = f'"{loss}"' if isinstance(loss, str) else format_value(loss)
    raise ValueError(f"trainnet: unknown loss function {shown}: valid names are "
                     + ", ".join(f'"{n}"' for n in ALIASES) + ", or give a function handle "
                     "(Y, T) -> loss")


def _fresh_network(net_in: Any, xp: Any) -> Any:
    """A network of our own on ``xp``: built from layers, or a copy of the caller's (its layer
    objects are copied; arrays are shared, since training only ever makes new ones),
    initialized first if it is not (as MATLAB's trainnet does)."""
    if isinstance(net_in, dlnetwork):
        check_single_io(net_in, "trainnet")
        net = copy.copy(net_in) if net_in.Initialized else net_in.initialize()
        return _initial_recurrent_states(network_on(net, xp))
    net = dlnetwork(net_in)  # a Layer array or a layerGraph
    check_single_io(net, "trainnet")
    return net


# ---------------------------------------------------------------------------------------------
# Data

def _observations_of(X: dlarray, bounds: tuple[int, int]) -> dlarray:
    """Observations ``bounds[0]:bounds[1]`` of a batch whose B dimension is its last."""
    if X.fmt[-1:] != "B":
        raise ValueError(f"trainnet: an augmented mini-batch must have its observations last, "
                         f"got format '{X.fmt}'")
    return dlarray._wrap(X._data[..., bounds[0]:bounds[1]], X.fmt)


def _recurrent_rows(net: Any) -> set[tuple[str, str]]:
    """The (layer, state) rows of ``net.State`` that hold recurrent states (``batch_states``:
    H x N after a forward pass, one column per observation)."""
    return {(layer.Name, name) for layer in net.Layers
            for name in getattr(type(layer), "batch_states", ())}


def _initial_recurrent_states(net: Any) -> Any:
    """``net`` with the recurrent states of a previous forward pass (H x N) set back to one
    column of zeros, the state every training sequence starts from."""
    rows = _recurrent_rows(net)
    values = [v if (lname, pname) not in rows or v is None or v.shape[1] == 1 else
              dlarray._wrap(array_module(v._data).zeros((v.shape[0], 1), v.dtype))
              for lname, pname, v in net.State]
    if rows and any(a is not b for a, b in zip(values, net.State.Value)):
        net.State = net.State.with_values(values)
    return net


def _training_state(net: Any, state: Any, rows: set[tuple[str, str]]) -> Any:
    """The state to keep after a mini-batch: the new values, except the recurrent states
    (``rows``), which keep their initial values so that the next mini-batch's sequences start
    afresh."""
    if not rows:
        return state
    old = {(lname, pname): v for lname, pname, v in net.State}
    return state.with_values([old[(lname, pname)] if (lname, pname) in rows else v
                              for lname, pname, v in state])


# ---------------------------------------------------------------------------------------------
# Gradient processing and the solver

def clip_gradients(grads: list, threshold: float, method: str) -> list:
    """Clip raw gradient arrays as trainingOptions' GradientThreshold(Method) says.

    "l2norm": a gradient whose L2 norm exceeds the threshold is scaled to norm = threshold;
    "global-l2norm": when the norm L over all gradients exceeds it, all are scaled by thr / L;
    "absolute-value": elements are clipped to [-thr, thr]. Runs on the device without syncing.
    """
    if not grads or math.isinf(threshold):
        return grads
    xp = array_module(*grads)
    if method == "absolute-value":
        return [xp.clip(g, -threshold, threshold) for g in grads]
    if method == "global-l2norm":
        total = xp.sqrt(sum((g * g).sum() for g in grads))
        scale = xp.minimum(1.0, threshold / xp.maximum(total, 1e-30))
        return [g * scale for g in grads]
    out = []
    for g in grads:
        norm = xp.sqrt((g * g).sum())
        out.append(g * xp.minimum(1.0, threshold / xp.maximum(norm, 1e-30)))
    return out


class _Solver:
    """L2 regularization, clipping and the solver update with its state, for one run."""

    def __init__(self, opts: TrainingOptions, factors: list[tuple[float, float]]) -> None:
        self.opts = opts
        self.rate_factors = [f for f, _ in factors]
        self.l2 = [opts.L2Regularization * f for _, f in factors]
        self.state: tuple = (None, None) if opts.solver_name == "adam" else (None,)
        self.iteration = 0

    def step(self, params: list[dlarray], grads: list, lr: float) -> list[dlarray]:
        """New parameter values after one update at learning rate ``lr``."""
        o = self.opts
        grads = [g + l2 * p._data if l2 else g for p, g, l2 in zip(params, grads, self.l2)]
        grads = clip_gradients(grads, o.GradientThreshold, o.GradientThresholdMethod)
        g = [dlarray._wrap(gi, p._fmt) for gi, p in zip(grads, params)]
        f = self.rate_factors
        self.iteration += 1
        if o.solver_name == "sgdm":
            new, vel = sgdmupdate(params, g, self.state[0], lr, o.Momentum, learnRateFactors=f)
            self.state = (vel,)
        elif o.solver_name == "adam":
            new, m, v = adamupdate(params, g, *self.state, self.iteration, lr,
                                   o.GradientDecayFactor, o.SquaredGradientDecayFactor,
                                   o.Epsilon, learnRateFactors=f)
            self.state = (m, v)
        else:
            new, v = rmspropupdate(params, g, self.state[0], lr, o.SquaredGradientDecayFactor,
                                   o.Epsilon, learnRateFactors=f)
            self.state = (v,)
        return new


def _loss_and_gradients(net: Any, X: dlarray, T: dlarray, loss_fcn: LossFcn) -> tuple:
    """(loss, gradients of the learnables, new state, Y) of one mini-batch (inside dlfeval)."""
    Y, state = forward(net, X)
    loss = loss_fcn(Y, T)
    if not isinstance(loss, dlarray) or loss.size != 1:
        got = f"a dlarray of size {'x'.join(map(str, loss.shape))}" \
            if isinstance(loss, dlarray) else type(loss).__name__
        raise TypeError(f"trainnet: the loss function must return a scalar dlarray, got {got}")
    return loss, dlgradient(loss, net.Learnables), state, Y


# ---------------------------------------------------------------------------------------------
# The training run

class _Best:
    """The best validation objective so far, its parameters, and the patience counter."""

    def __init__(self, key: str, maximize: bool, patience: float) -> None:
        self.key, self.sign, self.patience = key, -1.0 if maximize else 1.0, patience
        self.value, self.iteration, self.values, self.misses = math.inf, 0, None, 0

    def update(self, record: dict, values: tuple) -> bool:
        """Note a validation; True when the patience is used up (ValidationPatience)."""
        value = self.sign * record[self.key]
        if value < self.value:
            self.value, self.iteration, self.values, self.misses = (
                value, record["Iteration"], values, 0)
            return False
        self.misses += 1
        return self.misses >= self.patience


class TrainingRun:
    """One call of trainnet: the loop over epochs and mini-batches, and its reporters."""

    def __init__(self, net: Any, train: TrainingData, val: TrainingData | None, loss_fcn: LossFcn,
                 opts: TrainingOptions, t0: float, builtin_loss: bool = False,
                 plan: ParallelPlan | None = None) -> None:
        self.net, self.train, self.val, self.loss_fcn, self.opts = net, train, val, loss_fcn, opts
        self.plan = plan or ParallelPlan(opts.ExecutionEnvironment)
        self.t0 = t0
        # a mini-batch may be split over threads only for a built-in (mean) loss
        self.splittable = builtin_loss
        self.metrics = [str(m) for m in (opts.Metrics or [])]
        self.labels = [metric_label(m) for m in self.metrics]
        self.solver = _Solver(opts, list(net.learnable_factors()))
        self.recurrent_rows = _recurrent_rows(net)  # found once: net.Layers copies
        self.best = self._objective()
        self.output_best = self._output_network()
        names = ["Iteration", "Epoch", "LearnRate", "Loss", *self.labels]
        self.info = TrainingInfo(HistoryTable(names),
                                 HistoryTable(["Iteration", "Loss", *self.labels]))
        self.reporters = self._reporters()
        self.committed = (0, self._values())
        self.before = self.committed  # the committed network before the last update
        self.last: dict = self._record(0, 0, opts.learn_rate(1), None)

    # ---- setup -------------------------------------------------------------------------------
    def _objective(self) -> _Best:
        name = self.opts.ObjectiveMetricName.lower()
        if name != "loss" and name not in self.metrics:
            raise ValueError(f'trainnet: ObjectiveMetricName "{name}" must be "loss" or one of '
                             "the Metrics (" + ", ".join(self.metrics or ["none given"]) + ")")
        return _Best("Validation" + metric_label(name), name == "accuracy",
                     self.opts.ValidationPatience)

    def _output_network(self) -> bool:
        choice = self.opts.OutputNetwork
        if choice == "best-validation" and self.val is None:
            raise ValueError('trainnet: OutputNetwork "best-validation" needs ValidationData')
        return choice == "best-validation" or (choice == "auto" and self.val is not None)

    def _reporters(self) -> list:
        o, cols = self.opts, ["Iteration", "Epoch", "TimeElapsed", "LearnRate", "TrainingLoss"]
        if self.val is not None:
            cols.append("ValidationLoss")
        for label in self.labels:
            cols += ["Training" + label] + (["Validation" + label] if self.val else [])
        if not self.plan.reports:
            return []  # only worker 1 prints, plots and writes checkpoints
        out: list = [VerboseTable(cols, o.VerboseFrequency, _print)] if o.Verbose else []
        if o.Plots == "training-progress":
            path = o.PlotFile or os.path.join(o.CheckpointPath or os.getcwd(),
                                              "training-progress.png")
            out.append(ProgressPlot(self.metrics, path, self.val is not None,
                                    _print if o.Verbose else _quiet))
        if o.CheckpointPath:
            out.append(CheckpointWriter(o.CheckpointPath, o.CheckpointFrequency,
                                        o.CheckpointFrequencyUnit))
        return out

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> tuple[Any, TrainingInfo]:
        stop = None
        try:
            if self.val is not None:
                record = self._record(0, 0, self.opts.learn_rate(1), None)
                self._validate(record)
                self.best.update(record, self.committed[1])
                self._emit(record)
            self._call_output_fcn(self._record(0, 0, self.opts.learn_rate(1), None), "start")
            stop = self._epochs()
        except KeyboardInterrupt:
            stop = MANUAL
        return self._finish(stop)

    def _epochs(self) -> str:
        o, n = self.opts, self.train.N
        batch = min(o.MiniBatchSize, n)
        self.plan.check_batch(batch)
        per_epoch, order, iteration = n // batch, None, 0
        for epoch in range(1, o.MaxEpochs + 1):
            if order is None or o.Shuffle == "every-epoch":
                order = self.plan.same_order(self._order())
            for b in range(per_epoch):
                iteration += 1
                lr = o.learn_rate(epoch, iteration, per_epoch)
                idx = order[b * batch:(b + 1) * batch]
                last_batch = b == per_epoch - 1
                stop = self._iteration(iteration, epoch, lr, idx, last_batch,
                                       last_batch and epoch == o.MaxEpochs)
                if stop:
                    return stop
        return MAX_EPOCHS

    def _order(self) -> Any:  # generator(): this run's own (see own_generator)
        """An observation order (shuffled unless Shuffle is "never") on the training device."""
        n = self.train.N
        perm = np.arange(n) if self.opts.Shuffle == "never" else generator().permutation(n)
        return to_module(perm, array_module(self.train.X.data))

    def _iteration(self, iteration: int, epoch: int, lr: float, idx: Any, epoch_end: bool,
                   last: bool) -> str | None:
        """One mini-batch: gradients, checks, update, validation, reporting; a stop reason."""
        value, grads, state, Y, T = self.step(idx)
        record = self._record(iteration, epoch, lr, value)
        if not math.isfinite(value):
            # the network that gave this loss is the last update's: go back one more
            self.committed = self.before
            record["Final"] = True
            self._emit(record)
            return "Training loss is NaN" if math.isnan(value) else "Training loss is Inf"
        params = list(self.net.Learnables.Value)
        new = self.solver.step(params, grads, lr)
        new_state = _training_state(self.net, self.plan.merge_state(state), self.recurrent_rows)
        if not _all_finite([*new, *new_state.Value]):  # the step, not only the loss
            record["Final"] = True
            self._emit(record)
            return NON_FINITE
        self.net.Learnables = self.net.Learnables.with_values(new)
        self.net.State = new_state
        self.before, self.committed = self.committed, (iteration, self._values())
        if self.metrics:
            Y, T = Y(), T()
            values = {"Training" + label: _metric(m, Y, T)
                      for m, label in zip(self.metrics, self.labels)}
            record.update(self.plan.sum_metrics(values))
        record["EpochEnd"] = epoch_end
        stop = MAX_EPOCHS if last else None
        freq = self.opts.ValidationFrequency
        if self.val is not None and (iteration % freq == 0 or last):
            self._validate(record)
            if self.best.update(record, self.committed[1]):
                stop = VALIDATION_CRITERION
        met, asked, manual = self.plan.stop_flags(stop == VALIDATION_CRITERION,
                                                  self._call_output_fcn(record, "iteration"))
        if manual:
            stop = MANUAL
        elif asked:
            stop = OUTPUT_FCN
        elif met:
            stop = VALIDATION_CRITERION
        if stop and self.val is not None and record.get("ValidationLoss") is None:
            self._validate(record)
            self.best.update(record, self.committed[1])
        record["Final"] = stop is not None
        self._emit(record)
        return stop

    def step(self, idx: Any) -> tuple:
        """Loss value, raw gradients, new state, and functions giving the outputs Y and targets
        T of the mini-batch ``idx``: in one piece, or as the chunk-weighted sums of the chunks
        of the split plan computed at the same time on several threads."""
        idx = self.plan.my_part(idx)  # this rank's block of the global mini-batch
        xp, n = array_module(self.train.X.data), len(idx)
        chunks = split_plan(self.net, xp, n, training=True) if self.splittable else [(0, n)]
        # augmentation draws its random numbers once per mini-batch, before any split, so
        # rng(seed) repeats it whatever the threads do
        whole = self.train.augment(self.train.X.batch(idx), idx) if self.train.augment else None

        def part(bounds: tuple[int, int]) -> tuple:
            sub = idx[bounds[0]:bounds[1]] if len(chunks) > 1 else idx
            X = self.train.X.batch(sub) if whole is None else _observations_of(whole, bounds)
            T = self.train.T.batch(sub)
            loss, grads, state, Y = dlfeval(
                lambda net: _loss_and_gradients(net, X, T, self.loss_fcn), self.net)
            weight = (bounds[1] - bounds[0]) / n
            grads = [g._data for g in tree_flatten(grads)[0]]
            if len(chunks) > 1:
                grads = [g * weight for g in grads]  # float32 stays float32
            return float(loss), weight, grads, state, Y, T

        parts = in_parallel(part, chunks)
        if len(parts) == 1:
            value, _, grads, state, Y, T = parts[0]
            value, grads = self.plan.sum_step(value, grads)
            return value, grads, state, lambda: Y, lambda: T
        value = sum(p[0] * p[1] for p in parts)
        grads = [sum_parts(gs) for gs in zip(*(p[2] for p in parts))]
        value, grads = self.plan.sum_step(value, grads)
        return (value, grads, parts[0][3], lambda: concat_batch([p[4] for p in parts]),
                lambda: self.train.T.batch(idx))

    # ---- pieces ------------------------------------------------------------------------------
    def _record(self, iteration: int, epoch: int, lr: float, loss: float | None) -> dict:
        return {"Iteration": iteration, "Epoch": epoch, "TimeElapsed": time.monotonic() - self.t0,
                "LearnRate": lr, "TrainingLoss": loss, "ValidationLoss": None}

    def _values(self) -> tuple[list, list]:
        """The current learnable and state values (no copies: updates make new arrays)."""
        return list(self.net.Learnables.Value), list(self.net.State.Value)

    def _restore(self, values: tuple[list, list]) -> None:
        self.net.Learnables = self.net.Learnables.with_values(values[0])
        self.net.State = self.net.State.with_values(values[1])

    def _validate(self, record: dict) -> None:
        """Loss and metrics over the whole validation set, into ``record``."""
        val, batch, parts = self.val, self.opts.MiniBatchSize, []
        xp = array_module(val.X.data)
        for start in range(0, val.N, batch):
            stop = min(start + batch, val.N)
            T = val.T.batch(slice(start, stop))
            Y = concat_batch(predict_chunks(self.net, val.X, start, stop, xp))
            values = {"Loss": float(self.loss_fcn(Y, T))}
            values.update({label: _metric(m, Y, T)
                           for m, label in zip(self.metrics, self.labels)})
            parts.append((stop - start, values))
        for key, value in weighted_means(parts).items():
            record["Validation" + key] = value

    def _call_output_fcn(self, record: dict, state: str) -> bool:
        fcn = self.opts.OutputFcn
        if fcn is None or not self.plan.reports:  # called by worker 1 only, as MATLAB's client
            return False
        info = {k: v for k, v in record.items() if k not in ("EpochEnd", "Final")}
        info["State"] = state
        return bool(fcn(info))

    def _emit(self, record: dict) -> None:
        it = record["Iteration"]
        if it > 0:
            self.info.TrainingHistory.append(
                {"Iteration": it, "Epoch": record["Epoch"], "LearnRate": record["LearnRate"],
                 "Loss": record["TrainingLoss"],
                 **{label: record.get("Training" + label) for label in self.labels}})
        if record.get("ValidationLoss") is not None:
            self.info.ValidationHistory.append(
                {"Iteration": it, "Loss": record["ValidationLoss"],
                 **{label: record.get("Validation" + label) for label in self.labels}})
        for reporter in self.reporters:
            reporter.update(record, self.net)
        self.last = record

    def _finish(self, stop: str | None) -> tuple[Any, TrainingInfo]:
        iteration, values = self.committed
        if self.output_best and self.best.values is not None:
            iteration, values = self.best.iteration, self.best.values
        self._restore(values)
        if self.opts.BatchNormalizationStatistics == "population" and stop != MANUAL:
            population_statistics(self.net, self.train.X, self.opts.MiniBatchSize)
        self.info.StopReason = stop or MANUAL
        self.info.OutputNetworkIteration = iteration
        for reporter in self.reporters:
            reporter.finish(self.info)
        if stop != MANUAL:
            self._call_output_fcn(self.last, "done")
        return self.net, self.info


def population_statistics(net: Any, X: Observations, batch: int) -> None:
    """Set each batch normalization layer's TrainedMean and TrainedVariance to the mean and the
    (1/N) variance of its input over all the observations X: trainingOptions'
    BatchNormalizationStatistics "population", after training.

    One extra pass through the network in training mode, in mini-batches of ``batch``, as
    MATLAB does it (so an earlier batch normalization layer normalizes each mini-batch with that
    mini-batch's own statistics, as it did in training). A copy of the network whose layers
    take the batch statistics whole (decay 1) gives each mini-batch's mean m_b and variance v_b
    per channel; with n_b observations each, they merge exactly into
    mean = sum(n_b m_b) / N and variance = sum(n_b (v_b + m_b^2)) / N - mean^2.
    """
    probe = copy.copy(net)
    layers = [layer for layer in probe.layers_view if isinstance(layer, BatchNormalizationLayer)]
    if not layers:
        return  # no statistics to compute: no pass over the data
    for layer in layers:
        layer.MeanDecay = layer.VarianceDecay = 1.0
    state = net.State
    row = {(name, p): i for i, (name, p) in enumerate(zip(state.Layer, state.Parameter))}
    names = [layer.Name for layer in layers]
    sums = {name: [0.0, 0.0] for name in names}  # sum of n_b m_b, sum of n_b (v_b + m_b^2)
    for start in range(0, X.N, batch):
        stop = min(start + batch, X.N)
        values = forward(probe, X.batch(slice(start, stop)))[1].Value
        for name in names:
            m, v = (_host64(values[row[name, p]]) for p in ("TrainedMean", "TrainedVariance"))
            sums[name][0] = sums[name][0] + (stop - start) * m
            sums[name][1] = sums[name][1] + (stop - start) * (v + m * m)
    new = list(state.Value)
    for name in names:
        mean = sums[name][0] / X.N
        variance = np.maximum(sums[name][1] / X.N - mean * mean, 0.0)
        for p, value in (("TrainedMean", mean), ("TrainedVariance", variance)):
            new[row[name, p]] = _like(value, state.Value[row[name, p]])
    net.State = state.with_values(new)


def _host64(x: dlarray) -> np.ndarray:
    return np.asarray(to_module(x.extractdata(), np), dtype=np.float64)


def _like(value: np.ndarray, old: dlarray) -> dlarray:
    """Host float64 ``value`` as a dlarray of ``old``'s dtype, device and format."""
    data = old.extractdata()
    return dlarray._wrap(to_module(value.astype(data.dtype), array_module(data)), old.fmt)


def _print(line: str) -> None:
    print(line, flush=True)


def _metric(name: str, Y: dlarray, T: dlarray) -> float:
    """A metric of one mini-batch's scores and targets (canonical order, on the device)."""
    return metric_value(name, Y._data, T._data, Y.fmt.index("C"), Y.shape[Y.fmt.index("B")])


def _quiet(line: str) -> None:
    """Verbose=false: nothing is printed (the plot's path is in info.PlotFile)."""


def _all_finite(values: list) -> bool:
    """True when every value (dlarrays or None) holds only finite numbers: one check on the
    device and one transfer to the host for all of them."""
    arrays = [v._data if isinstance(v, dlarray) else v for v in values if v is not None]
    if not arrays:
        return True
    xp = array_module(*arrays)
    return bool(xp.stack([xp.isfinite(a).all() for a in arrays]).all())

