"""minidl vs PyTorch (CPU) on the documented 7-layer example, side by side in one run.

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME[,NAME]] [--json PATH]

Workloads (NAME): train (one SGDM training step at mini-batch 32, 128, 512), predict
(minibatchpredict of 10,000 images at batch 128), epoch (one trainnet epoch of 10,000 images),
memory (peak memory of that epoch, each side in its own process), script (training timed as a
user's script: from the layer array on a C-ordered H x W x C x N array, all set-up included,
each run in a fresh process: 1 epoch of 10,000 images, 2,560 images x 2 epochs, and trainnet's
fixed cost before the first iteration; benchmarks/script_child.py), import (``import minidl``
in a fresh interpreter). Each side runs in a worker process of its own (benchmarks/worker.py);
every timed workload runs the sides interleaved (A, B, C, A, B, C, ...) and reports medians; the
ratio is minidl's advantage (>1: minidl is faster / smaller). A hand-written NumPy implementation
(benchmarks/numpy_reference.py) runs alongside as the "what plain NumPy can do" reference. See
benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import harness  # noqa: E402
import numpy as np  # noqa: E402
import sides as sides_mod  # noqa: E402

WORKLOADS = ("train", "predict", "epoch", "memory", "script", "import")
TARGETS = {
    "train_128": 1.0,  # training throughput at batch 128 >= 1.0x PyTorch
    "train_all": 0.8,  # every batch size >= 0.8x (issue 17; 0.7x before)
    "predict": 1.0,  # inference >= 1.0x
    "memory": 1.0,  # epoch peak memory below PyTorch's (ratio torch/minidl > 1)
    "import_s": 0.3,  # import minidl < 0.3 s
    "script_epoch": 1.0,  # a user's script, 1 epoch of 10,000 images >= 1.0x PyTorch
    "script_short": 0.8,  # a user's script, 2,560 images x 2 epochs >= 0.8x
}


class Config:
    def __init__(self, args: argparse.Namespace):
        self.quick = args.quick
        self.batches = args.batches or [32, 128, 512]
        self.n_images = args.images or (1280 if args.quick else 10000)
        self.train_reps = args.reps or (3 if args.quick else 9)
        self.train_sample_s = 0.05 if args.quick else 0.4
        self.predict_reps = args.reps or (1 if args.quick else 7)
        self.epoch_reps = args.reps or (1 if args.quick else 3)
        self.memory_reps = 1 if args.quick else 2
        self.memory_reference = not args.quick  # the NumPy reference's epoch memory too
        self.import_reps = args.reps or (1 if args.quick else 9)
        self.script_reps = args.reps or (1 if args.quick else 3)
        self.parallel_ref = not args.no_parallel_ref and _importable("threadpoolctl")
        self.isolate = not args.in_process


_DATA: dict[str, np.ndarray] = {}


def data(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """n 28x28x3 float32 images in N, H, W, C memory, labels 0..9, and what they are.

    The colour digits of ``minidl.data.datasets.digits`` (all splits, the first n), so training
    behaves as in the documented example (the loss falls; random data makes SGD at lr 0.01
    diverge); uniform random images if that data set cannot be made here."""
    if "x" not in _DATA or _DATA["x"].shape[0] < n:
        try:
            from minidl.data.datasets import digits
            d = digits(max(n, 10000), color=True)
            xs = [d.XTrain, d.XValidation, d.XTest]
            ts = [d.TTrain, d.TValidation, d.TTest]
            _DATA["x"] = np.ascontiguousarray(np.concatenate(xs, axis=3).transpose(3, 0, 1, 2))
            _DATA["t"] = np.concatenate(ts).astype(np.int64)
            _DATA["what"] = "minidl.data.datasets.digits(color=True)"
        except Exception as err:  # noqa: BLE001  (any failure: fall back to random data)
            rng = np.random.default_rng(0)
            _DATA["x"] = rng.random((max(n, 10000), 28, 28, 3), dtype=np.float32)
            _DATA["t"] = rng.integers(0, 10, max(n, 10000))
            _DATA["what"] = f"uniform random images (digits unavailable: {err})"
    return _DATA["x"][:n], _DATA["t"][:n], _DATA["what"]


class Sides:
    """Which implementations can run, and their modules."""

    def __init__(self, threads: int):
        self.threads = threads
        self.torch = None
        self.torch_reason = ""
        try:
            import torch_side
            torch_side.set_threads(threads)
            self.torch = torch_side
        except ImportError as err:
            self.torch_reason = (f"PyTorch is not installed ({err}); install the CPU wheel "
                                 "(make bench does) to compare")
        import minidl_side
        ok, why = minidl_side.available()
        self.minidl = minidl_side if ok else None
        self.minidl_reason = why
        self.torch_format = "channels_last"  # replaced by the faster one measured in train
        self.workers: dict[str, harness.Remote] = {}
        self.set_blas = False

    def worker(self, name: str) -> harness.Remote:
        """The worker process of one side (started on first use, kept for later workloads)."""
        if name not in self.workers:
            self.workers[name] = harness.Remote(self.threads, self.set_blas)
        return self.workers[name]

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
        self.workers.clear()


def result(name: str, unit: str, better: str, values: dict[str, float | None],
           **extra: Any) -> dict[str, Any]:
    """One table row. ``better`` is "higher" (throughput) or "lower" (time, memory); the ratio
    is always minidl's advantage over PyTorch (and over the NumPy reference)."""
    m, t, r = values.get("minidl"), values.get("torch"), values.get("numpy-ref")

    def adv(a: float | None, b: float | None) -> float | None:
        if a is None or b is None or a <= 0 or b <= 0:
            return None
        return a / b if better == "higher" else b / a

    rp = values.get("numpy-ref-par")
    return {"workload": name, "unit": unit, "better": better, "minidl": m, "torch": t,
            "ratio": adv(m, t), "numpy_ref": r, "ratio_vs_ref": adv(m, r),
            "numpy_ref_parallel": rp, "ratio_ref_parallel_vs_torch": adv(rp, t), **extra}


# ---- workloads ----------------------------------------------------------------------------------

def measure(cfg: Config, sides: Sides, names: list[str], kind: str, batch: int, reps: int,
            target_s: float | None = None) -> tuple[harness.Samples, dict[str, int]]:
    """Build each side for one workload (in its worker process, or here with --in-process),
    warm it up, size its samples (``target_s``: as many calls as fit, else one call) and time
    the sides interleaved."""
    fns: dict[str, Any] = {}
    inner: dict[str, int] = {}
    if cfg.isolate:  # the workers build (import, load data, warm up) at the same time
        for name in names:
            sides.worker(name).send(op="make", side=name, kind=kind, batch=batch,
                                    n_images=cfg.n_images)
        for name in names:
            sides.worker(name).receive()
    for name in names:
        if cfg.isolate:
            w = sides.worker(name)
            n = w.call(op="calibrate", target_s=target_s)["n"] if target_s else 1
            fns[name] = w.sampler(n)
        else:
            run, warm = sides_mod.make(name, kind, batch, cfg.n_images)
            warm()
            n = harness.calibrate(run, target_s) if target_s else 1
            fns[name] = harness.repeat(run, n)
        inner[name] = n
    return harness.interleave(fns, reps, warmup=0), inner


def _names(cfg: Config, sides: Sides, kind: str) -> list[str]:
    names = ["minidl"] if sides.minidl else []
    if sides.torch:
        names += ([f"torch:{sides.torch_format}"] if kind == "epoch"
                  else [f"torch:{f}" for f in sides.torch.FORMATS])
    names.append("numpy-ref")
    if cfg.parallel_ref and kind != "epoch":
        names.append("numpy-ref-par")
    return names


def _extras(samples: harness.Samples) -> dict[str, Any]:
    return {"samples_s": dict(samples), "cpu_per_wall": samples.cpu,
            "foreign_cpu": samples.foreign, "retries": samples.retries}


def _best_torch(sides: Sides, values: dict[str, float], higher: bool) -> tuple[Any, Any]:
    """The faster PyTorch memory format and its value."""
    if not sides.torch:
        return None, None
    keys = [k for k in values if k.startswith("torch:")]
    best = (max if higher else min)(keys, key=lambda k: values[k])
    return best.split(":", 1)[1], values[best]


def bench_train(cfg: Config, sides: Sides) -> list[dict]:
    rows = []
    for batch in cfg.batches:
        samples, inner = measure(cfg, sides, _names(cfg, sides, "train"), "train", batch,
                                 cfg.train_reps, cfg.train_sample_s)
        thr = {k: batch * inner[k] / harness.median(v) for k, v in samples.items()}
        variant, torch_value = _best_torch(sides, thr, higher=True)
        if variant and (batch == 128 or (128 not in cfg.batches and batch == cfg.batches[0])):
            sides.torch_format = variant
        values = {"minidl": thr.get("minidl"), "torch": torch_value,
                  "numpy-ref": thr["numpy-ref"], "numpy-ref-par": thr.get("numpy-ref-par")}
        rows.append(result(f"train step, batch {batch}", "images/s", "higher", values,
                           torch_variant=variant, key=f"train_{batch}",
                           torch_all={k: v for k, v in thr.items() if k.startswith("torch")},
                           steps_per_sample=inner, **_extras(samples)))
    return rows


def bench_predict(cfg: Config, sides: Sides) -> list[dict]:
    samples, _ = measure(cfg, sides, _names(cfg, sides, "predict"), "predict", 128,
                         cfg.predict_reps)
    thr = {k: cfg.n_images / harness.median(v) for k, v in samples.items()}
    variant, torch_value = _best_torch(sides, thr, higher=True)
    values = {"minidl": thr.get("minidl"), "torch": torch_value, "numpy-ref": thr["numpy-ref"],
              "numpy-ref-par": thr.get("numpy-ref-par")}
    return [result(f"inference, {cfg.n_images} images, batch 128", "images/s", "higher", values,
                   torch_variant=variant, key="predict",
                   torch_all={k: v for k, v in thr.items() if k.startswith("torch")},
                   **_extras(samples))]


def bench_epoch(cfg: Config, sides: Sides) -> list[dict]:
    samples, _ = measure(cfg, sides, _names(cfg, sides, "epoch"), "epoch", 128, cfg.epoch_reps)
    med = {k: harness.median(v) for k, v in samples.items()}
    _, torch_value = _best_torch(sides, med, higher=False)
    values = {"minidl": med.get("minidl"), "torch": torch_value, "numpy-ref": med["numpy-ref"]}
    return [result(f"trainnet epoch, {cfg.n_images} images, batch 128", "s", "lower", values,
                   torch_variant=sides.torch_format if sides.torch else None, key="epoch",
                   **_extras(samples))]


def bench_memory(cfg: Config, sides: Sides) -> list[dict]:
    x, labels, _ = data(cfg.n_images)
    order = (["minidl"] if sides.minidl else []) + (["torch"] if sides.torch else []) + \
        (["numpy-ref"] if cfg.memory_reference else [])
    runs: dict[str, list[dict]] = {k: [] for k in order}
    with tempfile.TemporaryDirectory(prefix="minidl-bench-") as tmp:
        np.save(Path(tmp) / "x.npy", x)
        np.save(Path(tmp) / "labels.npy", labels)
        del x, labels
        for _ in range(cfg.memory_reps):
            for side in order:
                argv = [str(HERE / "memory_child.py"), side, tmp, str(sides.threads)]
                if side == "torch":
                    argv.append(sides.torch_format)
                runs[side].append(harness.run_child(argv))
    values: dict[str, float | None] = {k: harness.median([r["epoch_mib"] for r in v])
                                       for k, v in runs.items()}
    baselines = {k: harness.median([r["baseline_kib"] / 1024 for r in v])
                 for k, v in runs.items()}
    return [result(f"epoch peak memory above baseline, {cfg.n_images} images", "MiB", "lower",
                   values, key="memory", baseline_mib=baselines, runs=runs,
                   torch_variant=sides.torch_format if sides.torch else None,
                   method="peak RSS (ru_maxrss after the epoch) minus RSS after imports and "
                          "data loading, peak mark reset via /proc/self/clear_refs; one fresh "
                          "process per measurement")]


#: (key, label, images, epochs) of the runs timed as a user's script
SCRIPT_RUNS = (("script_epoch", "user script, 1 epoch of {n:,} images", None, 1),
               ("script_short", "short run, {n:,} images x 2 epochs", 2560, 2))


def bench_script(cfg: Config, sides: Sides) -> list[dict]:
    """Training as a user's script runs it, each run in a fresh process (script_child.py):
    from the layer array to the trained network, data given as a C-ordered H x W x C x N array,
    set-up included; the sides alternate. Also trainnet's fixed cost (time before the first
    iteration's work), from the 1-epoch runs."""
    x, labels, _ = data(cfg.n_images)
    order = (["minidl"] if sides.minidl else []) + (["torch"] if sides.torch else [])
    runs: dict[tuple[str, str], list[dict]] = {}
    retries = {side: 0 for side in order}
    with tempfile.TemporaryDirectory(prefix="minidl-bench-") as tmp:
        np.save(Path(tmp) / "x_hwcn.npy", np.ascontiguousarray(x.transpose(1, 2, 3, 0)))
        np.save(Path(tmp) / "labels.npy", labels)
        del x, labels
        for _ in range(cfg.script_reps):
            for key, _, images, epochs in SCRIPT_RUNS:
                n = min(images or cfg.n_images, cfg.n_images)
                for side in order:
                    argv = [str(HERE / "script_child.py"), side, tmp, str(sides.threads),
                            str(n), str(epochs)]
                    for attempt in range(2):  # retake a run during which others were busy
                        with harness.Watch() as w:
                            out = harness.run_child(argv)
                        if w.foreign is None or w.foreign <= 0.3 or attempt == 1:
                            break
                        retries[side] += 1
                        time.sleep(0.5)
                    out["foreign_cpu"] = w.foreign
                    runs.setdefault((key, side), []).append(out)
    rows = []
    for key, label, images, _ in SCRIPT_RUNS:
        values = {side: harness.median([r["total_s"] for r in runs[key, side]])
                  for side in order}
        n = min(images or cfg.n_images, cfg.n_images)
        rows.append(result(label.format(n=n), "s", "lower", values, key=key,
                           runs={s: runs[key, s] for s in order}, retries=retries,
                           iteration_ms={s: harness.median([r["iteration_ms"]
                                                            for r in runs[key, s]])
                                         for s in order}))
    fixed = {side: harness.median([r["fixed_ms"] for r in runs["script_epoch", side]])
             for side in order}
    rows.append(result(f"fixed cost before the first iteration, {cfg.n_images:,} images", "ms",
                       "lower", fixed, key="script_fixed",
                       note="time to the end of the first iteration minus one median "
                            "iteration: statistics, conversion, initialization, threads"))
    return rows


def bench_import(cfg: Config, sides: Sides) -> list[dict]:
    mods = (["minidl"] if sides.minidl or _importable("minidl") else []) + \
        (["torch"] if sides.torch else []) + ["numpy"]
    for m in mods:  # a first, discarded run: file-system cache
        harness.import_time(m)
    times: dict[str, list[float]] = {m: [] for m in mods}
    retries = {m: 0 for m in mods}
    for _ in range(cfg.import_reps):
        for m in mods:
            for attempt in range(4):  # retake a sample during which other processes were busy
                with harness.Watch() as w:
                    seconds = harness.import_time(m)
                if w.foreign is None or w.foreign <= 0.3 or attempt == 3:
                    break
                retries[m] += 1
                time.sleep(0.5)
            times[m].append(seconds)
    med = {m: harness.median(v) for m, v in times.items()}
    values = {"minidl": med.get("minidl"), "torch": med.get("torch"),
              "numpy-ref": med.get("numpy")}
    return [result("import time (fresh interpreter)", "s", "lower", values, key="import",
                   note="the NumPy column is `import numpy` alone (minidl's floor)",
                   samples_s=times, retries=retries)]


def _importable(name: str) -> bool:
    try:
        __import__(name)
        return True
    except ImportError:
        return False


# ---- output -------------------------------------------------------------------------------------

def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "n/a"
    if unit == "images/s":
        return f"{v:,.0f}"
    if unit == "s":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:.1f}"


def _ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def table(rows: list[dict]) -> str:
    head = ("workload", "unit", "minidl", "PyTorch", "ratio", "NumPy ref", "vs ref",
            "ref, sharded")
    body = [(r["workload"] + (f" [{r['torch_variant']}]" if r.get("torch_variant") and
                              r["key"].startswith(("train", "predict")) else ""),
             r["unit"], _fmt(r["minidl"], r["unit"]), _fmt(r["torch"], r["unit"]),
             _ratio(r["ratio"]), _fmt(r["numpy_ref"], r["unit"]), _ratio(r["ratio_vs_ref"]),
             "" if r.get("numpy_ref_parallel") is None else
             f"{_fmt(r['numpy_ref_parallel'], r['unit'])} "
             f"({_ratio(r.get('ratio_ref_parallel_vs_torch'))})")
            for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*b) for b in body]
    return "\n".join(out)


def markdown(payload: dict) -> str:
    """The results of a run (a results.json payload) as Markdown, for benchmarks/README.md."""
    m = payload["machine"]
    lines = [f"Run of {payload['created']} (`benchmarks/results.json`), minidl commit "
             f"`{m.get('minidl_commit')}`: {m['cpu']} ({_extensions(m)}), "
             f"{m['usable_cpus']} CPUs, Python "
             f"{m['python']}, NumPy {m['numpy']} with {m['blas']}, PyTorch "
             f"{m.get('torch', 'n/a')}; {payload['threads']} threads for NumPy's BLAS and "
             f"PyTorch; data: {payload.get('data')}.", "",
             "| workload | unit | minidl | PyTorch | ratio | NumPy ref | vs ref | "
             "NumPy ref, 2 shards (vs PyTorch) |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in payload["results"]:
        name = r["workload"]
        if r.get("torch_variant") and r["key"].startswith(("train", "predict")):
            name += f" (PyTorch {r['torch_variant'].replace('_', '-')})"
        par = "" if r.get("numpy_ref_parallel") is None else \
            (f"{_fmt(r['numpy_ref_parallel'], r['unit'])} "
             f"({_ratio(r.get('ratio_ref_parallel_vs_torch'))})")
        lines.append(f"| {name} | {r['unit']} | {_fmt(r['minidl'], r['unit'])} | "
                     f"{_fmt(r['torch'], r['unit'])} | {_ratio(r['ratio'])} | "
                     f"{_fmt(r['numpy_ref'], r['unit'])} | {_ratio(r['ratio_vs_ref'])} | {par} |")
    if payload.get("targets"):
        lines += ["", "Targets:", ""] + [f"- {t.strip()}" for t in payload["targets"]]
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[str]:
    by = {r["key"]: r for r in rows}
    lines = []

    def check(label: str, ok: bool | None, detail: str) -> None:
        mark = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"  [{mark}] {label}: {detail}")

    if "train_128" in by:
        r = by["train_128"]["ratio"]
        check("training throughput at batch 128 >= 1.0x PyTorch", None if r is None else
              r >= TARGETS["train_128"], _ratio(r))
    trains = [r for r in rows if r["key"].startswith("train_")]
    if trains:
        rs = [r["ratio"] for r in trains]
        ok = None if any(r is None for r in rs) else min(rs) >= TARGETS["train_all"]
        check(f"every batch size >= {TARGETS['train_all']}x PyTorch", ok,
              ", ".join(f"{r['key'][6:]}: {_ratio(r['ratio'])}" for r in trains))
    if "predict" in by:
        r = by["predict"]["ratio"]
        check("inference >= 1.0x PyTorch", None if r is None else r >= TARGETS["predict"],
              _ratio(r))
    if "memory" in by:
        m = by["memory"]
        ok = None if m["ratio"] is None else m["minidl"] < m["torch"]
        check("trainnet epoch peak memory below PyTorch's", ok,
              f"{_fmt(m['minidl'], 'MiB')} vs {_fmt(m['torch'], 'MiB')} MiB")
    for key, label in (("script_epoch", "user script, 1 epoch"),
                       ("script_short", "short run, 2 epochs")):
        if key in by:
            r = by[key]["ratio"]
            check(f"{label} >= {TARGETS[key]}x PyTorch", None if r is None else
                  r >= TARGETS[key], _ratio(r))
    if "script_fixed" in by and "script_epoch" in by:
        f, e = by["script_fixed"]["minidl"], by["script_epoch"]["minidl"]
        check("trainnet fixed cost, a small fraction of one epoch", None,
              "n/a" if f is None or not e else f"{f:.0f} ms = {f / 1e3 / e:.0%} of the "
              f"1-epoch script (PyTorch's script: {_fmt(by['script_fixed']['torch'], 'ms')} ms)")
    if "import" in by:
        s = by["import"]["minidl"]
        check("import minidl < 0.3 s", None if s is None else s < TARGETS["import_s"],
              "n/a" if s is None else f"{s:.3f} s")
    return lines


def run_workloads(selected: list[str], runners: dict, cfg: Config, sides: Sides,
                  args: argparse.Namespace, facts: dict) -> list[dict]:
    rows: list[dict] = []
    for name in selected:
        idle = harness.wait_idle(args.wait_idle) if args.wait_idle else None
        if idle is not None:
            print(f"  ({name}: machine {idle:.0%} idle before the start)", flush=True)
        t0 = time.perf_counter()
        load0 = harness.load_average()
        new = runners[name](cfg, sides)
        for r in new:
            r["load_average"] = [load0, harness.load_average()]
            r["idle_before"] = idle
            r["minidl_commit"] = facts["minidl_commit"]
            r["run_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        rows += new
        for r in new:
            print(f"  {r['workload']}: minidl {_fmt(r['minidl'], r['unit'])}, PyTorch "
                  f"{_fmt(r['torch'], r['unit'])}, NumPy ref {_fmt(r['numpy_ref'], r['unit'])} "
                  f"{r['unit']}", flush=True)
        print(f"  ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="minidl vs PyTorch CPU benchmark")
    ap.add_argument("--quick", action="store_true",
                    help="few repetitions and 2,560 images: a smoke test (< 60 s)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help=f"run only these workloads ({', '.join(WORKLOADS)}); repeat or "
                         "separate with commas")
    ap.add_argument("--json", type=Path, default=None,
                    help="where to write the results (default benchmarks/results.json; with "
                         "--quick build/benchmarks-quick.json, which git ignores)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS and PyTorch (default: NumPy's BLAS "
                         "setting, and PyTorch is set to match it)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per side")
    ap.add_argument("--images", type=int, default=None,
                    help="images for the predict/epoch/memory workloads (default 10,000)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each workload, wait up to SECONDS for the machine to be "
                         ">= 90%% idle (shared machines: other work wrecks multi-threaded "
                         "BLAS/OpenMP timings)")
    ap.add_argument("--merge", action="store_true",
                    help="update the rows of these workloads in the existing JSON file and "
                         "keep its other rows (to re-run one workload in a quiet moment)")
    ap.add_argument("--no-parallel-ref", action="store_true",
                    help="leave out the NumPy reference run on two threads by batch shards")
    ap.add_argument("--in-process", action="store_true",
                    help="run every side in this one process instead of one worker process "
                         "per side (sides then share malloc state and thread pools)")
    ap.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=None,
                    help="training-step batch sizes, e.g. 32,128,512")
    ap.add_argument("--markdown", type=Path, default=None, metavar="JSON",
                    help="print the results in JSON (e.g. benchmarks/results.json) as a "
                         "Markdown table and exit (runs nothing)")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    only = [w.strip() for item in args.only for w in item.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload {unknown[0]!r}: choose from {', '.join(WORKLOADS)}")
    selected = [w for w in WORKLOADS if not only or w in only]
    cfg = Config(args)

    t_start = time.perf_counter()
    facts = harness.machine_facts()  # NumPy's BLAS threads, read before torch is imported
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads, user_api="blas")
        facts["blas_threads"] = args.threads
        facts["method"] += " (set with --threads)"
    threads = facts["blas_threads"]
    sides = Sides(threads)
    sides.set_blas = bool(args.threads)
    if sides.torch:
        facts.update(sides.torch.info())
    print("minidl vs PyTorch (CPU): the 7-layer example, float32" + (" [QUICK]" if cfg.quick
                                                                      else ""))
    print(f"  CPU: {facts['cpu']}, {facts['usable_cpus']} usable of {facts['logical_cpus']} "
          f"logical CPUs; Python {facts['python']}, NumPy {facts['numpy']}, BLAS {facts['blas']}")
    print(f"  vector extensions: {_extensions(facts)}")
    print(f"  threads: NumPy BLAS {threads} ({facts['method']})"
          + (f", PyTorch {facts['torch_threads']} (torch {facts['torch']})" if sides.torch
             else ""))
    if not sides.torch:
        print(f"  PyTorch comparison skipped: {sides.torch_reason}")
    if not sides.minidl:
        print(f"  minidl columns skipped: {sides.minidl_reason}")
    print(f"  data: {data(cfg.n_images)[2]}, {cfg.n_images} images")
    print(f"  minidl commit {facts['minidl_commit']}; interleaved repetitions, medians; "
          "ratio = minidl's advantage (>1: minidl faster / smaller)")
    load = harness.load_average()
    facts["load_average_start"] = load
    if load is not None and load[0] > 0.5 * facts["usable_cpus"]:
        print(f"  WARNING: load average {load[0]:.2f} on {facts['usable_cpus']} CPUs: other "
              "work is running, timings will be noisy (ratios from interleaved runs still hold "
              "best)")
    print(flush=True)

    runners = {"train": bench_train, "predict": bench_predict, "epoch": bench_epoch,
               "memory": bench_memory, "script": bench_script, "import": bench_import}
    try:
        rows = run_workloads(selected, runners, cfg, sides, args, facts)
    finally:
        sides.close()
    out = args.json or (HERE.parent / "build" / "benchmarks-quick.json" if cfg.quick
                        else HERE / "results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and out.exists():
        old = json.loads(out.read_text())
        keys = {r["key"] for r in rows}
        merged = [r for r in old.get("results", []) if r["key"] not in keys] + rows
        order = {w: i for i, w in enumerate(WORKLOADS)}
        rows = sorted(merged, key=lambda r: (order.get(r["key"].split("_")[0], 9),
                                             int(r["key"].split("_")[1])
                                             if r["key"].startswith("train_") else 0))
    print()
    print(f"{facts['cpu']} ({_extensions(facts)}), {facts['usable_cpus']} CPUs, "
          f"BLAS {facts['blas']}")
    print(table(rows))
    lines = targets(rows)
    if lines:
        print("\nTargets (issue):")
        print("\n".join(lines))
    elapsed = time.perf_counter() - t_start
    facts["load_average_end"] = harness.load_average()
    print(f"\n(total {elapsed:.1f} s; load average at start {_load(facts['load_average_start'])},"
          f" at end {_load(facts['load_average_end'])})")
    payload = {"created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": cfg.quick,
               "machine": facts, "threads": threads,
               "config": {k: v for k, v in vars(cfg).items()},
               "torch_data_note": "F.cross_entropy on logits (log-softmax + NLL fused); "
                                  "SGD(momentum=0.9); memory format = faster of channels_last "
                                  "and contiguous, per workload",
               "data": _DATA.get("what"), "elapsed_s": elapsed, "results": rows,
               "targets": lines}
    out.write_text(json.dumps(payload, indent=1, default=_json_default) + "\n")
    print(f"results written to {os.path.relpath(out)}")
    return 0


def _extensions(facts: dict) -> str:
    """The CPU's vector extensions as one short string: "avx2 fma avx512: f dq cd bw vl ..."."""
    ext = facts.get("vector_extensions")
    if ext is None:
        return "not recorded"
    base = [e for e in ext if not e.startswith("avx512")]
    wide = [e[len("avx512"):].lstrip("_") for e in ext if e.startswith("avx512")]
    return " ".join(base + ([f"avx512: {' '.join(wide)}"] if wide else ["no avx512"]))


def _load(load: Any) -> str:
    return "n/a" if load is None else f"{load[0]:.2f}"


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


if __name__ == "__main__":
    sys.exit(main())
