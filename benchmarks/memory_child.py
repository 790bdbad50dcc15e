"""Peak memory of one training epoch, measured in a fresh process (run by benchmarks/run.py).

    python benchmarks/memory_child.py SIDE DATA_DIR THREADS [TORCH_MEMORY_FORMAT]

SIDE is minidl, torch or numpy-ref. Everything the epoch needs is imported and the data set is
loaded (np.load of the N x H x W x C float32 images and the labels) before the baseline is taken;
then one epoch runs (batch 128, SGDM) and the peak is read. Printed as one JSON line.

Method, the same for every side: baseline = the resident set size (VmRSS) after imports and data
loading; the kernel's peak-RSS mark is then reset to the current RSS (``/proc/self/clear_refs``,
"5") so that transient peaks of the imports do not hide the epoch's; peak = the peak-RSS mark
(VmHWM) after the epoch. The epoch's memory is peak - baseline. VmHWM is the counter that
``getrusage(RUSAGE_SELF).ru_maxrss`` reports for the process's own memory, but ru_maxrss also
takes the maximum with the RSS the process had before ``exec`` (a fork of the benchmark runner,
hundreds of MiB), so it is not used when /proc is available. Without /proc (non-Linux) the
fallback is ru_maxrss before and after (flagged "peak_reset": false).
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def status_kib(field: str) -> int | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in KiB, or None without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    side, data_dir, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass
    if side == "torch":
        import torch_side as impl
        impl.set_threads(threads)
    elif side == "minidl":
        import minidl_side as impl
        ok, why = impl.available()
        if not ok:
            raise SystemExit(f"minidl not available: {why}")
        for name in ("dlnetwork", "trainnet", "trainingOptions", "crossentropy", "sgdmupdate"):
            getattr(impl.md, name)  # import everything before the baseline
    elif side == "numpy-ref":
        import numpy_reference as impl
    else:
        raise SystemExit(f"unknown side {side!r}")
    x = np.load(data_dir / "x.npy")
    labels = np.load(data_dir / "labels.npy")
    gc.collect()
    baseline = status_kib("VmRSS")
    exact = baseline is not None and reset_peak()
    if not exact:
        baseline = maxrss_kib()
    t0 = time.perf_counter()
    if side == "torch" and len(sys.argv) > 4:
        impl.train_epoch(x, labels, 128, sys.argv[4])
    else:
        impl.train_epoch(x, labels, 128)
    seconds = time.perf_counter() - t0
    peak = status_kib("VmHWM") if exact else maxrss_kib()
    print(json.dumps({"side": side, "baseline_kib": baseline, "peak_kib": peak,
                      "epoch_mib": max(peak - baseline, 0) / 1024, "epoch_s": seconds,
                      "peak_reset": exact}))


if __name__ == "__main__":
    main()
