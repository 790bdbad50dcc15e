"""The spmd functions and the MPI layer under them (minidl.training.spmd, minidl.backend.mpi).

Several processes: scripts in tests/training/mpi_scripts/ are started with
``mpiexec -n 2 <this python>
-m mpi4py <script>`` (mpiexec from the environment of this Python: the ``mpich`` wheel of the
dev extra puts it next to it), each launch with a timeout. spmd_checks.py checks every spmd
function against its definition on 2 ranks and prints ``PASS <check>`` for each; the tests
here read that. One process: the same functions act as on a pool of one worker.
Skipped, with the reason, only where mpi4py is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minidl as dl
from minidl.backend import mpi
from minidl.data import partition_bounds
from minidl.training import spmd
from minidl.training.spmd import (
    partition,
    spmdBarrier,
    spmdBroadcast,
    spmdIndex,
    spmdPlus,
    spmdReduce,
    spmdSize,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI4PY, reason="mpi4py is not installed (pip install "
                               "'minidl[parallel]', also in the dev extra)")
LAUNCH_TIMEOUT = 120  # seconds; a launch takes 1-5 s here


def mpiexec() -> str:
    """The mpiexec next to this Python (the mpich wheel's), else the one on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    found = shutil.which("mpiexec")
    assert found, ("mpi4py is installed but no mpiexec was found next to "
                   f"{sys.executable} or on PATH: pip install mpich")
    return found


def launch(script: Path | str, *args: str, ranks: int = 2, runner: bool = True,
           timeout: float = LAUNCH_TIMEOUT, cwd: Path | None = None) -> tuple[int, str, float]:
    """Run ``script`` on ``ranks`` processes; (exit status, stdout + stderr, seconds). On a
    timeout the launch's whole process group is killed and the test fails."""
    command = [mpiexec(), "-n", str(ranks), sys.executable]
    command += ["-m", "mpi4py"] if runner else []
    command += [str(script), *args]
    env = {k: v for k, v in os.environ.items()
           if k not in mpi.LAUNCHER_VARIABLES and k not in mpi.LOCAL_SIZE_VARIABLES}
    env.update(MPLBACKEND="Agg", PYTHONPATH=str(ROOT), MINIDL_BACKEND="numpy")
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=cwd or ROOT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # mpiexec and the ranks it started
        out, _ = proc.communicate()
        pytest.fail(f"{script} on {ranks} ranks ran past {timeout} s:\n{out[-3000:]}")
    return proc.returncode, out, time.monotonic() - start


CHECK_NAMES = re.findall(r"^@check\ndef (\w+)", (SCRIPTS / "spmd_checks.py").read_text(),
                         re.M)


@pytest.fixture(scope="module")
def checks_output() -> str:
    rc, out, _ = launch(SCRIPTS / "spmd_checks.py")
    return out if rc == 0 else out + f"\n(exit status {rc})"


# ---- on 2 ranks --------------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("name", CHECK_NAMES)
def test_on_two_ranks(checks_output, name):
    """Each check of spmd_checks.py passed on both ranks (see that script for each one's
    definition: sums against the sum of every rank's value, one MPI call per spmdPlus, ...)."""
    assert f"PASS {name}\n" in checks_output, checks_output[-4000:]


TRAINNET_CHECKS = re.findall(r"^@check\ndef (\w+)",
                             (SCRIPTS / "trainnet_checks.py").read_text(), re.M)


@pytest.fixture(scope="module")
def trainnet_output() -> str:
    rc, out, _ = launch(SCRIPTS / "trainnet_checks.py")
    return out if rc == 0 else out + f"\n(exit status {rc})"


@needs_mpi
@pytest.mark.parametrize("name", TRAINNET_CHECKS)
def test_trainnet_on_two_ranks(trainnet_output, name):
    """trainnet with a parallel ExecutionEnvironment (trainnet_checks.py): equal to one process
    without batch normalization, batch-norm statistics merged by the formula, every stop
    (NaN, Ctrl-C on one rank, OutputFcn) on all ranks together, reporting by worker 1 only."""
    assert f"PASS {name}\n" in trainnet_output, trainnet_output[-4000:]


@needs_mpi
def test_verbose_table_printed_once(trainnet_output):
    assert trainnet_output.count("Training stopped: Max epochs completed") == 1


@needs_mpi
@pytest.mark.parametrize("runner", [True, False], ids=["python -m mpi4py", "python"])
def test_a_rank_that_raises_ends_the_launch(runner):
    """Worker 2 raises while worker 1 waits for it in a barrier: both end, with a nonzero
    status, in seconds (timeout 60 s): by mpi4py's runner, or by minidl's abort hook."""
    rc, out, seconds = launch(SCRIPTS / "raise_on_one.py", runner=runner, timeout=60)
    assert rc != 0, out
    assert "worker 2 fails on purpose" in out
    assert "must not" not in out
    assert seconds < 20, seconds


@needs_mpi
def test_example_runs_on_two_workers(tmp_path):
    rc, out, _ = launch(ROOT / "examples" / "train_in_parallel_custom_loop.py", "--fast",
                        "--out", str(tmp_path), cwd=tmp_path)
    assert rc == 0, out[-3000:]
    assert "Training on 2 worker(s), mini-batch 64 split as [32, 32]" in out
    assert "Identical networks on all 2 worker(s): True" in out
    assert out.count("Test accuracy:") == 1  # printed by worker 1 only
    assert (tmp_path / "parallel_progress.png").read_bytes()[:4] == b"\x89PNG"


# ---- in one process ----------------------------------------------------------------------------

def test_import_does_not_start_mpi():
    """`import minidl` (and minidl.training.spmd) never imports mpi4py, which would initialize
    MPI, not even in a process an MPI launcher started."""
    code = ("import sys, minidl, minidl.training.spmd, minidl.backend.mpi;"
            "minidl.backend.thread_count();"
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'")
    env = dict(os.environ, PMI_RANK="0", PMI_SIZE="1", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_single_process_is_one_worker():
    assert mpi.world() is None and not mpi.is_distributed()
    assert (spmdIndex(), spmdSize()) == (1, 1)
    assert (mpi.rank(), mpi.size(), mpi.local_rank(), mpi.local_size()) == (0, 1, 0, 1)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    table = dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(2)]).Learnables
    for value in (3, 2.5, x, dl.dlarray(x, "CB"), table, {"a": [x, 1]}):
        assert spmdPlus(value) is value
        assert spmdPlus(value, 1) is value
        assert spmdBroadcast(1, value) is value
    calls = []
    assert spmdReduce(lambda a, b: calls.append(1), x) is x and not calls  # fcn: N - 1 = 0
    spmdBarrier()
    assert mpi.any_true(True) and not mpi.any_true(False)
    assert mpi.allreduce_sum([x])[0] is x


def test_bad_arguments():
    with pytest.raises(ValueError, match="source must be a worker index"):
        spmdBroadcast(2, 1.0)
    with pytest.raises(ValueError, match="destination must be a worker index"):
        spmdPlus(1.0, 0)
    with pytest.raises(TypeError, match="spmdPlus: x must be a number, an array"):
        spmdPlus("text")
    with pytest.raises(TypeError, match="spmdReduce: fcn must be a function"):
        spmdReduce(3, 1.0)
    with pytest.raises(TypeError, match="numeric or logical"):
        mpi._pack([np.array(["a"])], np)


def test_launcher_without_mpi4py_is_an_error(monkeypatch):
    """Started by mpiexec but mpi4py missing: a clear error, not N ranks each training alone."""
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` raises ImportError
    saved = dict(mpi._state)
    mpi._reset_for_tests()
    try:
        with pytest.raises(RuntimeError, match=r"pip install 'minidl\[parallel\]'"):
            mpi.world()
    finally:
        mpi._reset_for_tests()
        mpi._state.update(saved)


def test_threads_per_rank_from_the_launcher(monkeypatch):
    """Ranks sharing a machine share its cores, whatever MINIDL_THREADS asks for."""
    from minidl.backend import thread_count

    cpus = len(os.sched_getaffinity(0))
    assert mpi.threads_per_rank() is None  # a lone process
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    assert mpi.threads_per_rank() == max(1, cpus // 2)
    monkeypatch.setenv("MINIDL_THREADS", "64")
    assert thread_count() == max(1, cpus // 2)
    monkeypatch.setenv("MPI_LOCALNRANKS", str(4 * cpus))  # more ranks than cores: still 1
    assert mpi.threads_per_rank() == 1 and thread_count() == 1


def test_parallel_environment_in_one_process(capsys):
    """MATLAB's parallel environments train as the serial one in a single process, after a
    one-line note; the result is the serial run's."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    T = np.where(X[:, 0] > 0, "a", "b")
    runs = {}
    for env in ("cpu", "parallel-cpu", "parallel", "parallel-auto", "multi-gpu",
                "parallel-gpu"):
        if env.endswith("gpu") and not dl.canUseGPU():
            with pytest.raises(RuntimeError, match="no GPU is usable"):
                dl.trainnet(X, T, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2),
                                   dl.softmaxLayer()], "crossentropy",
                            dl.trainingOptions("sgdm", MaxEpochs=1, Verbose=False,
                                               ExecutionEnvironment=env))
            continue
        dl.rng(0)
        net, info = dl.trainnet(X, T, [dl.featureInputLayer(3), dl.fullyConnectedLayer(2),
                                       dl.softmaxLayer()], "crossentropy",
                                dl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=8,
                                                   Verbose=False, ExecutionEnvironment=env))
        runs[env] = info.TrainingHistory.Loss
    out = capsys.readouterr().out
    assert out.count("in a single process: training on it alone") == 5
    assert 'ExecutionEnvironment "parallel-cpu" in a single process' in out
    for env, losses in runs.items():
        np.testing.assert_array_equal(losses, runs["cpu"], err_msg=env)


def test_example_runs_in_one_process(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    for name in mpi.LAUNCHER_VARIABLES:
        env.pop(name, None)
    out = subprocess.run([sys.executable, str(ROOT / "examples" /
                                              "train_in_parallel_custom_loop.py"),
                          "--fast", "--out", str(tmp_path)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=300, check=True).stdout
    assert "Training on 1 worker(s), mini-batch 64 split as [64]" in out
    assert "Identical networks on all 1 worker(s): True" in out


# ---- partition ---------------------------------------------------------------------------------

def test_partition_bounds_follow_matlab():
    # MATLAB's documented example: 10 files in 3 parts, the first part has 4 files
    assert [partition_bounds(10, 3, i) for i in (1, 2, 3)] == [(0, 4), (4, 7), (7, 10)]
    for total in range(0, 13):
        for n in range(1, 6):
            parts = [partition_bounds(total, n, i) for i in range(1, n + 1)]
            covered = [k for a, b in parts for k in range(a, b)]
            assert covered == list(range(total))  # contiguous, in order, each once
            sizes = [b - a for a, b in parts]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    with pytest.raises(ValueError, match="index must be from 1 to n"):
        partition_bounds(10, 3, 4)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        partition_bounds(10, 0, 1)
    with pytest.raises(ValueError, match="index must be a positive integer"):
        partition_bounds(10, 3, 1.0)


def test_worker_batch_sizes():
    assert spmd.worker_batch_sizes(128, 3) == [43, 43, 42]
    assert spmd.worker_batch_sizes(4, 4) == [1, 1, 1, 1]
    with pytest.raises(ValueError, match=r"MiniBatchSize \(3\) must be at least the number of "
                                         r"workers \(4\)"):
        spmd.worker_batch_sizes(3, 4)


def _ids(part, kind):
    """The observation ids a part holds (each datastore holds its ids as data)."""
    if kind == "image":
        return [int(Path(f).stem) for f in part.Files]
    if kind == "augmented":
        return np.asarray(part.readall()[0])[0, 0, 0, :].astype(int).tolist()
    if kind == "combined":
        X, T = part.readall()
        assert [float(v) for v in X] == [-float(v) for v in T]
        return [int(v) for v in X]
    if kind == "mbq":
        out = []
        while dl.hasdata(part):
            out += np.asarray(next(part)).ravel().astype(int).tolist()
        return out
    return [int(v) for v in part.readall()]


def _datastore(kind, n):
    ids = np.arange(n, dtype=np.float64)
    if kind == "image":  # files are not read by partition
        return dl.ImageDatastore([f"/nowhere/{i}.png" for i in range(n)], [str(i % 2) for i in
                                                                           range(n)])
    if kind == "augmented":
        X = np.broadcast_to(ids, (2, 2, 1, n)).copy()
        return dl.augmentedImageDatastore([2, 2], X, ids)
    if kind == "combined":
        return dl.combine(dl.arrayDatastore(ids), dl.arrayDatastore(-ids))
    if kind == "mbq":
        return dl.minibatchqueue(dl.arrayDatastore(ids), MiniBatchSize=3, OutputAsDlarray=False)
    return dl.arrayDatastore(ids)


@pytest.mark.parametrize("kind", ["image", "array", "augmented", "combined", "mbq"])
def test_partition_covers_the_data_once(kind):
    for n in (1, 2, 3, 5):
        ds = _datastore(kind, 11)
        parts = [partition(ds, n, i) for i in range(1, n + 1)]
        assert all(type(p) is type(ds) for p in parts)
        ids = [_ids(p, kind) for p in parts]
        assert sorted(i for p in ids for i in p) == list(range(11))
        assert [len(p) for p in ids] == [b - a for a, b in (partition_bounds(11, n, i)
                                                            for i in range(1, n + 1))]
        assert ids[0] == list(range(len(ids[0])))  # contiguous blocks, in order


def test_partition_of_a_shuffled_queue_and_its_settings():
    dl.rng(3)
    mbq = dl.minibatchqueue(dl.arrayDatastore(np.arange(10.0)), MiniBatchSize=2,
                            PartialMiniBatch="discard", OutputAsDlarray=False)
    dl.shuffle(mbq)
    order = _ids(mbq, "mbq")
    part = partition(mbq, 2, 2)
    assert (part.MiniBatchSize, part.PartialMiniBatch) == (2, "discard")
    assert _ids(part, "mbq") == order[5:9]  # its block of the queue's order; 5 -> 2 batches
    dl.shuffle(part)  # reorders only its own part (MATLAB's rule)
    assert sorted(_ids(part, "mbq")) != sorted(order[:4])
    assert set(_ids(part, "mbq")) <= set(order[5:])


def test_partition_bad_input():
    with pytest.raises(TypeError, match="partition: ds must be a datastore"):
        partition(np.arange(3), 2, 1)


# ---- batch normalization statistics ------------------------------------------------------------

def test_merge_formula_is_the_statistics_of_the_whole_batch():
    """With each worker's batch mean and (1/n) variance, the formula gives exactly the mean and
    (1/N) variance of all the observations together (the law of total variance)."""
    rng = np.random.default_rng(0)
    counts = [5, 3, 8]
    parts = [rng.standard_normal((n, 4)) * [1, 10, 0.1, 3] + [0, 5, -2, 100] for n in counts]
    whole = np.concatenate(parts)
    mean, variance = spmd.merge_batchnorm_formula([p.mean(0) for p in parts],
                                                  [p.var(0) for p in parts], counts)
    np.testing.assert_allclose(mean, whole.mean(0), rtol=1e-13,
                               atol=1e-13 * np.abs(whole).max())
    np.testing.assert_allclose(variance, whole.var(0), rtol=1e-12)
    m32, v32 = spmd.merge_batchnorm_formula([p.mean(0).astype(np.float32) for p in parts],
                                            [p.var(0).astype(np.float32) for p in parts],
                                            counts)
    assert m32.dtype == v32.dtype == np.float32
    with pytest.raises(ValueError, match="one entry per worker"):
        spmd.merge_batchnorm_formula([1.0], [1.0, 2.0], [1])
    with pytest.raises(ValueError, match="positive sum"):
        spmd.merge_batchnorm_formula([1.0], [1.0], [0])


def test_merge_in_one_process_keeps_the_state():
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.batchNormalizationLayer()])
    state = net.State
    assert spmd.merge_network_state(state, 1.0) is state
    m, v = [np.ones(3, np.float32)], [np.full(3, 2, np.float32)]
    assert spmd.merge_batchnorm_state(m, v, 1.0) == (m, v)
    with pytest.raises(ValueError, match="fraction must be"):
        spmd.merge_batchnorm_state(m, v, 1.5)
    with pytest.raises(TypeError, match="State table"):
        spmd.merge_network_state({"a": 1}, 1.0)


# ---- the CuPy path's pieces that need no MPI ---------------------------------------------------

def test_pack_and_unpack_keep_shapes_and_dtypes():
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(2.5, np.float64),
              np.array([True, False]), np.arange(3, dtype=np.int32)]
    buf, layout = mpi._pack(arrays, np)
    assert buf.ndim == 1 and buf.size == 12 and buf.dtype == np.float64
    back = mpi._unpack(buf, layout)
    for a, b in zip(arrays, back):
        assert b.shape == a.shape
        np.testing.assert_array_equal(b, a)
    assert [b.dtype for b in back] == [np.float32, np.float64, np.int64, np.int32]
    half, _ = mpi._pack([np.ones(2, np.float16)], np)
    assert half.dtype == np.float32  # MPI has no float16 sum


def test_find_nccl_without_cupy():
    from tests import fakegpu

    assert mpi._find_nccl(fakegpu.fakegpu) is None  # no NCCL: sums go through the host
    assert mpi.select_device(np) is None
