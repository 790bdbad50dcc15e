"""Where the time of one minidl training step goes: per-op forward/backward times and cProfile.

    .venv/bin/python benchmarks/profile_step.py [--batch 128] [--steps 20] [--cprofile 25]

Per-op times come from wrapping, for the duration of the run, each layer's ``forward``, the
backward closure that every op hands ``record`` (minidl.core) (named after the op function
that recorded it), ``crossentropy``, ``dlgradient``, ``dlfeval`` and ``sgdmupdate``. What is
left of dlgradient after the backward closures is the tape's own overhead; what is left of
dlfeval after the forward, loss and dlgradient is the tracing / Learnables plumbing. Medians
over the steps (per step, in ms). The NumPy reference step is timed alongside for scale.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import minidl_side  # noqa: E402
import numpy_reference  # noqa: E402
from run import data  # noqa: E402


class Timers:
    def __init__(self) -> None:
        self.step: dict[str, float] = defaultdict(float)
        self.steps: list[dict[str, float]] = []

    def add(self, key: str, dt: float) -> None:
        self.step[key] += dt

    def next_step(self) -> None:
        self.steps.append(dict(self.step))
        self.step.clear()

    def medians(self) -> dict[str, float]:
        keys = {k for s in self.steps for k in s}
        return {k: statistics.median(s.get(k, 0.0) for s in self.steps) * 1e3 for k in keys}


def instrument(step: minidl_side.TrainStep, timers: Timers) -> list:
    """Wrap the pieces of the minidl step; returns undo actions."""
    import minidl.core as ad

    undo = []
    original_record = ad.record

    def timed_record(data, fmt, inputs, backward):
        name = sys._getframe(1).f_code.co_name
        name = {"_run": "instancenorm"}.get(name, name)

        def timed_backward(gy, needs):
            t0 = time.perf_counter()
            out = backward(gy, needs)
            timers.add(f"bwd {name}", time.perf_counter() - t0)
            return out

        return original_record(data, fmt, inputs, timed_backward)

    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("minidl") and \
                getattr(mod, "record", None) is original_record:
            mod.record = timed_record
            undo.append((mod, "record", original_record))

    for layer in step.net.layers_view:
        cls = type(layer)
        if "forward" in cls.__dict__ and getattr(cls.forward, "_timed", False):
            continue
        original = cls.forward

        def timed_forward(self, X, _original=original, _name=cls.__name__):
            t0 = time.perf_counter()
            out = _original(self, X)
            timers.add(f"fwd {_name}", time.perf_counter() - t0)
            return out

        timed_forward._timed = True
        undo.append((cls, "forward", cls.__dict__.get("forward")))
        cls.forward = timed_forward

    md = minidl_side.md
    for name in ("crossentropy", "dlgradient", "dlfeval", "sgdmupdate"):
        fn = getattr(md, name)

        def timed(*a, _fn=fn, _name=name, **k):
            t0 = time.perf_counter()
            out = _fn(*a, **k)
            timers.add(_name, time.perf_counter() - t0)
            return out

        undo.append((md, name, fn))
        setattr(md, name, timed)
    return undo


def restore(undo: list) -> None:
    for obj, name, value in reversed(undo):
        if value is None:
            delattr(obj, name)
        else:
            setattr(obj, name, value)


def breakdown(batch: int, steps: int, with_ref: bool = True
              ) -> tuple[dict[str, float], float, float | None, dict, float]:
    import resource

    x, t, _ = data(10000)
    step = minidl_side.TrainStep(x, t, batch)
    ref = numpy_reference.TrainStep(x, t, batch)
    for _ in range(3):
        step()
        if with_ref:
            ref()
    faults = 0
    ref_phases: list[dict[str, float]] = []
    timers = Timers()
    undo = instrument(step, timers)
    totals, ref_totals = [], []
    try:
        for _ in range(steps):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            step()
            totals.append(time.perf_counter() - t0)
            faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            timers.next_step()
            if not with_ref:
                continue
            ref.net.phases = {}
            t0 = time.perf_counter()
            ref()
            ref_totals.append(time.perf_counter() - t0)
            ref_phases.append(ref.net.phases)
            ref.net.phases = None
    finally:
        restore(undo)
    ref_med = {k: statistics.median(p.get(k, 0.0) for p in ref_phases) * 1e3
               for k in ref_phases[0]} if ref_phases else {}
    return (timers.medians(), statistics.median(totals) * 1e3,
            statistics.median(ref_totals) * 1e3 if ref_totals else None, ref_med,
            faults / steps)


PIECES = ["dlconv fwd", "instancenorm fwd", "relu+maxpool fwd", "fullyconnect fwd",
          "softmax+crossentropy fwd+bwd", "fullyconnect bwd", "relu+maxpool bwd",
          "instancenorm bwd", "dlconv bwd", "sgdm"]


def minidl_pieces(med: dict[str, float]) -> dict[str, float]:
    """minidl's per-op times grouped like the NumPy reference's phases."""
    g = med.get
    return {
        "dlconv fwd": g("fwd Convolution2DLayer", 0.0),
        "instancenorm fwd": g("fwd InstanceNormalizationLayer", 0.0),
        "relu+maxpool fwd": g("fwd ReLULayer", 0.0) + g("fwd MaxPooling2DLayer", 0.0),
        "fullyconnect fwd": g("fwd FullyConnectedLayer", 0.0),
        "softmax+crossentropy fwd+bwd": g("fwd SoftmaxLayer", 0.0) + g("crossentropy", 0.0)
        + g("bwd softmax", 0.0) + g("bwd crossentropy", 0.0),
        "fullyconnect bwd": g("bwd fullyconnect", 0.0),
        "relu+maxpool bwd": g("bwd relu", 0.0) + g("bwd maxpool", 0.0),
        "instancenorm bwd": g("bwd instancenorm", 0.0),
        "dlconv bwd": g("bwd dlconv", 0.0),
        "sgdm": g("sgdmupdate", 0.0),
    }


def side_by_side(med: dict[str, float], total: float, ref: dict[str, float],
                 ref_total: float | None,
                 torch_pieces: dict[str, float] | None, torch_total: float | None) -> str:
    mine = minidl_pieces(med)
    head = f"{'piece (ms per step)':30s} {'minidl':>8s} {'NumPy ref':>10s}"
    if torch_pieces is not None:
        head += f" {'PyTorch':>8s}"
    lines = [head]
    for piece in PIECES:
        line = f"{piece:30s} {mine[piece]:8.2f} {ref.get(piece, 0.0):10.2f}"
        if torch_pieces is not None:
            line += f" {torch_pieces.get(piece, 0.0):8.2f}"
        lines.append(line)
    rest = total - sum(mine.values())
    line = f"{'framework (tape, tables, other)':30s} {rest:8.2f} {'':>10s}"
    if torch_pieces is not None:
        other = sum(v for k, v in torch_pieces.items() if k not in PIECES)
        line += f" {other:8.2f}"
    lines.append(line)
    line = f"{'step (median wall time)':30s} {total:8.2f} {ref_total or 0.0:10.2f}"
    if torch_total is not None:
        line += f" {torch_total:8.2f}"
    lines.append(line)
    return "\n".join(lines)


def report(med: dict[str, float], total: float, ref_total: float | None, batch: int) -> str:
    fwd = {k[4:]: v for k, v in med.items() if k.startswith("fwd ")}
    bwd = {k[4:]: v for k, v in med.items() if k.startswith("bwd ")}
    loss_fwd = med.get("crossentropy", 0.0)
    tape = med.get("dlgradient", 0.0) - sum(bwd.values())
    plumbing = med.get("dlfeval", 0.0) - sum(fwd.values()) - loss_fwd - med.get("dlgradient", 0)
    sgdm = med.get("sgdmupdate", 0.0)
    ref_text = "not run" if ref_total is None else f"{ref_total:.2f} ms"
    lines = [f"minidl training step, batch {batch}: median {total:.2f} ms per step "
             f"({batch / total * 1e3:.0f} images/s); NumPy reference {ref_text}",
             "", f"{'piece':38s} {'ms':>8s} {'share':>7s}"]

    def row(name: str, ms: float) -> None:
        lines.append(f"{name:38s} {ms:8.2f} {ms / total:7.1%}")

    op_of = {"Convolution2DLayer": "dlconv", "InstanceNormalizationLayer": "instancenorm",
             "ReLULayer": "relu", "MaxPooling2DLayer": "maxpool",
             "FullyConnectedLayer": "fullyconnect", "SoftmaxLayer": "softmax"}
    for layer, ms in sorted(fwd.items(), key=lambda kv: -kv[1]):
        row(f"forward  {layer}", ms)
    row("forward  crossentropy", loss_fwd)
    for op, ms in sorted(bwd.items(), key=lambda kv: -kv[1]):
        row(f"backward {op}", ms)
    row("autograd tape overhead (dlgradient)", tape)
    row("dlfeval tracing + Learnables tables", plumbing)
    row("sgdmupdate", sgdm)
    accounted = med.get("dlfeval", 0.0) + sgdm
    row("not accounted (step - dlfeval - sgdm)", total - accounted)
    lines.append("")
    lines.append("forward+backward per op: " + ", ".join(
        f"{op_of.get(k, k)} {fwd[k] + bwd.get(op_of.get(k, k), 0.0):.1f}"
        for k in sorted(fwd, key=lambda k: -(fwd[k] + bwd.get(op_of.get(k, k), 0.0)))))
    return "\n".join(lines)


# PyTorch ops (self CPU time of the aten op on the calling thread) by the piece they belong to
TORCH_PIECES = [  # first match wins: backward names before the forward names they contain
    ("dlconv bwd", ("convolution_backward",)),
    ("instancenorm bwd", ("batch_norm_backward", "instance_norm_backward")),
    ("relu+maxpool bwd", ("threshold_backward", "max_pool2d_with_indices_backward")),
    ("softmax+crossentropy fwd+bwd", ("log_softmax", "nll_loss")),
    ("dlconv fwd", ("mkldnn_convolution", "aten::convolution", "_convolution", "conv2d")),
    ("instancenorm fwd", ("native_batch_norm", "instance_norm", "batch_norm")),
    ("relu+maxpool fwd", ("aten::relu", "clamp_min", "max_pool2d")),
    ("fullyconnect bwd", ("aten::mm",)),
    ("fullyconnect fwd", ("addmm", "aten::linear")),
    ("sgdm", ("Optimizer.step", "_foreach", "aten::add_", "aten::mul_")),
    ("zero_grad / fill", ("zero_grad", "aten::fill_", "aten::zero_")),
]


def torch_breakdown(batch: int, steps: int, threads: int) -> tuple[dict[str, float], float]:
    """Per-piece ms per step of the PyTorch step (faster memory format at this batch), from
    torch.profiler's self CPU times, and the step's median wall time outside the profiler."""
    import torch_side
    from torch.profiler import ProfilerActivity, profile

    torch_side.set_threads(threads)
    x, t, _ = data(10000)
    best, best_ms = None, float("inf")
    for fmt in torch_side.FORMATS:
        step = torch_side.TrainStep(x, t, batch, fmt)
        for _ in range(3):
            step()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1e3
        if ms < best_ms:
            best, best_ms = step, ms
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            best()
    pieces: dict[str, float] = defaultdict(float)
    for ev in prof.key_averages():
        name = ev.key
        if not name.startswith(("aten::", "Optimizer.")):
            continue
        piece = next((p for p, keys in TORCH_PIECES if any(k in name for k in keys)), None)
        pieces[piece or "other aten ops"] += ev.self_cpu_time_total / 1e3 / steps

    return dict(pieces), best_ms


def cprofile(batch: int, steps: int, top: int) -> str:
    x, t, _ = data(10000)
    step = minidl_side.TrainStep(x, t, batch)
    step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cprofile", type=int, default=25, metavar="N",
                    help="print the N functions with the most own time (0: skip cProfile)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch breakdown")
    ap.add_argument("--alone", action="store_true",
                    help="time minidl's steps alone (no NumPy reference steps in between, no "
                         "PyTorch): the allocator then behaves as in a user's process")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS and PyTorch threads (default: NumPy's BLAS setting)")
    args = ap.parse_args(argv)
    ok, why = minidl_side.available()
    if not ok:
        print(f"minidl is not complete yet: {why}")
        return {}
    import harness

    threads = args.threads or harness.blas_info()["blas_threads"]
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads, user_api="blas")
    med, total, ref_total, ref_med, faults = breakdown(args.batch, args.steps, not args.alone)
    torch_pieces = torch_total = None
    if not args.no_torch and not args.alone:
        try:
            torch_pieces, torch_total = torch_breakdown(args.batch, args.steps, threads)
        except ImportError:
            print("(PyTorch not installed: no PyTorch column)")
    print(f"threads: {threads}; minor page faults per minidl step: {faults:.0f} "
          f"({faults * 4 / 1024:.1f} MiB of fresh pages)")
    print(report(med, total, ref_total, args.batch))
    print()
    print(side_by_side(med, total, ref_med, ref_total, torch_pieces, torch_total))
    if args.cprofile:
        print()
        print(cprofile(args.batch, max(5, args.steps // 2), args.cprofile))
    return {"batch": args.batch, "step_ms": total, "numpy_reference_ms": ref_total,
            "page_faults_per_step": faults,
            "pieces_ms": med, "numpy_reference_pieces_ms": ref_med,
            "torch_pieces_ms": torch_pieces, "torch_step_ms": torch_total}


if __name__ == "__main__":
    main()
