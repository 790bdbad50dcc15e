"""Timing and measuring helpers for benchmarks/run.py: interleaved repetitions, medians,
subprocess memory and import-time measurements, machine facts."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class Samples(dict):
    """{side: [wall seconds per sample]}, plus per sample ``cpu`` (this process's CPU time /
    wall time), ``foreign`` (CPU time other processes used during it / wall time) and
    ``retries`` (samples thrown away because other processes were busy)."""

    cpu: dict[str, list[float]]
    foreign: dict[str, list[float | None]]
    retries: dict[str, int]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_s() -> float | None:
    """CPU seconds all processes have been busy since boot (all CPUs), from /proc/stat."""
    t = _cpu_times()
    return None if t is None else (t[1] - t[0]) / _TICK


def _own_cpu_s() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Watch:
    """Time a block; also how busy the *other* processes were meanwhile (``foreign``: CPU
    seconds per wall second, e.g. 0.5 = half a core), from /proc/stat minus our own CPU time
    (children included). ``foreign`` is None where /proc/stat is missing. Resolution: one clock
    tick (10 ms) per CPU, so short blocks read noisy."""

    def __enter__(self) -> Watch:
        self.b0, self.c0 = _busy_s(), _own_cpu_s()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t0
        self.own = _own_cpu_s() - self.c0
        self.cpu = self.own / self.wall
        b1 = _busy_s()
        self.busy = None if b1 is None or self.b0 is None else b1 - self.b0
        self.foreign = self.others()

    def others(self, also_ours: float = 0.0) -> float | None:
        """CPU cores the other processes used, not counting ``also_ours`` CPU seconds spent by
        a worker process of ours (whose CPU time getrusage cannot see while it runs)."""
        if self.busy is None:
            return None
        return max(0.0, (self.busy - self.own - also_ours) / self.wall)


class Timing(tuple):
    """(wall seconds, CPU seconds) of a sample measured inside a worker process."""

    @property
    def wall(self) -> float:
        return self[0]

    @property
    def cpu(self) -> float:
        return self[1]


class Remote:
    """A worker process (benchmarks/worker.py) holding one side, driven by JSON lines."""

    def __init__(self, threads: int, set_blas_threads: bool):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), str(threads),
             "1" if set_blas_threads else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=python_env(), cwd=str(ROOT), bufsize=1)

    def send(self, **cmd: Any) -> None:
        """Send a command without waiting for its answer (``receive`` it later)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        self.pending = cmd.get("op")

    def receive(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker died during {self.pending}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"benchmark worker: {answer['error']}\n{answer.get('trace', '')}")
        return answer

    def call(self, **cmd: Any) -> dict:
        self.send(**cmd)
        return self.receive()

    def sampler(self, n: int, value: bool = False) -> Callable[[], Timing]:
        def sample() -> Timing:
            a = self.call(op="sample", n=n, value=value)
            self.last_value = a.get("value")
            return Timing((a["wall"], a["cpu"]))
        return sample

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def interleave(fns: dict[str, Callable[[], Any]], reps: int, warmup: int = 1,
               gap_s: float = 0.002, max_foreign: float = 0.3, retries: int = 3) -> Samples:
    """Wall time of each function, ``reps`` samples each, run round-robin A, B, C, A, B, C, ...

    A function may return a ``Timing`` (measured in a worker process); otherwise it is timed
    here.

    A short untimed pause between samples lets spinning worker threads of the previous sample
    (OpenMP, OpenBLAS) go to sleep before the next one starts. A sample during which other
    processes used more than ``max_foreign`` of a CPU is thrown away and taken again after a
    pause (at most ``retries`` times per sample; then the last one is kept): on a shared
    2-core machine such a sample can be several times too slow for multi-threaded code.
    """
    for f in fns.values():
        for _ in range(warmup):
            f()
    samples = Samples({k: [] for k in fns})
    samples.cpu = {k: [] for k in fns}
    samples.foreign = {k: [] for k in fns}
    samples.retries = {k: 0 for k in fns}
    gc.collect()
    for _ in range(reps):
        for name, f in fns.items():
            for attempt in range(retries + 1):
                time.sleep(gap_s if attempt == 0 else 0.5)
                with Watch() as w:
                    res = f()
                if isinstance(res, Timing):  # measured in a worker process
                    wall, cpu, foreign = res.wall, res.cpu / res.wall, w.others(res.cpu)
                else:
                    wall, cpu, foreign = w.wall, w.cpu, w.foreign
                if foreign is None or foreign <= max_foreign or attempt == retries:
                    break
                samples.retries[name] += 1
            samples[name].append(wall)
            samples.cpu[name].append(cpu)
            samples.foreign[name].append(foreign)
    return samples


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) clock ticks of all CPUs since boot, from /proc/stat (None elsewhere)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def idle_fraction(window_s: float = 1.0) -> float | None:
    """Share of all CPUs' time that was idle over the next ``window_s`` seconds (Linux)."""
    a = _cpu_times()
    time.sleep(window_s)
    b = _cpu_times()
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def wait_idle(max_wait_s: float, threshold: float = 0.9) -> float | None:
    """Wait (up to ``max_wait_s``) until the machine is at least ``threshold`` idle over a
    2-second window; returns the last idle fraction seen (None where /proc/stat is missing)."""
    deadline = time.monotonic() + max_wait_s
    while True:
        idle = idle_fraction(2.0)
        if idle is None or idle >= threshold or time.monotonic() >= deadline:
            return idle


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def repeat(f: Callable[[], Any], n: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(n):
            f()
    return run


def calibrate(f: Callable[[], Any], target_s: float, max_n: int = 1000) -> int:
    """How many calls of f (already warmed up) make one sample of about ``target_s``."""
    t0 = time.perf_counter()
    f()
    one = max(time.perf_counter() - t0, 1e-6)
    return int(min(max_n, max(1, round(target_s / one))))


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# ---- subprocess measurements -------------------------------------------------------------------

def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(HERE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_child(args: list[str], timeout: float = 600) -> dict[str, Any]:
    """Run ``python args...`` in a fresh interpreter; its last stdout line is a JSON object."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=python_env(), cwd=str(ROOT), timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"child {' '.join(args)} failed: " + " | ".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


IMPORT_SNIPPET = ("import time; t0 = time.perf_counter(); import {mod}; "
                  "print('{{\"s\": %r}}' % (time.perf_counter() - t0))")


def import_time(module: str) -> float:
    """Seconds to ``import module`` in a fresh interpreter (interpreter start-up excluded)."""
    return float(run_child(["-c", IMPORT_SNIPPET.format(mod=module)])["s"])


# ---- machine facts -----------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def vector_extensions() -> list[str]:
    """The CPU's SIMD extensions that decide how fast the kernels run (from /proc/cpuinfo's
    flags): fma, avx, avx2, every avx512* and amx*, avx_vnni; empty where not readable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return [f for f in flags if f in ("fma", "avx", "avx2", "avx_vnni")
                        or f.startswith(("avx512", "amx"))]
    except OSError:
        pass
    return []


def blas_info() -> dict[str, Any]:
    """numpy's BLAS library and thread count (threadpoolctl when installed, else the env)."""
    import numpy as np

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        keys = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        env = {k: os.environ[k] for k in keys if k in os.environ}
        cfg = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames \
            else {}
        name = cfg.get("Build Dependencies", {}).get("blas", {}).get("name", "?")
        threads = next((int(v) for v in env.values() if v.isdigit()), os.cpu_count() or 1)
        return {"blas": name, "blas_threads": threads, "method": f"environment {env}"}
    for entry in threadpool_info():
        if entry.get("user_api") == "blas" and "numpy" in entry.get("filepath", ""):
            return {"blas": f"{entry['internal_api']} {entry.get('version')} "
                            f"({entry.get('architecture')}, {entry.get('threading_layer')})",
                    "blas_threads": int(entry["num_threads"]), "method": "threadpoolctl"}
    for entry in threadpool_info():
        if entry.get("user_api") == "blas":
            return {"blas": f"{entry['internal_api']} {entry.get('version')}",
                    "blas_threads": int(entry["num_threads"]), "method": "threadpoolctl"}
    return {"blas": "unknown", "blas_threads": 1, "method": "threadpoolctl (no BLAS found)"}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=str(ROOT), timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "minidl"], capture_output=True, text=True, cwd=str(ROOT),
                               timeout=10)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_facts() -> dict[str, Any]:
    import numpy as np

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "vector_extensions": vector_extensions(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        **blas_info(),
        "platform": platform.platform(),
        "minidl_commit": git_commit(),
    }
