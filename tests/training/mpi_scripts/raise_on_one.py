"""Worker 2 raises while worker 1 waits for it in a collective: the launch must end with a
nonzero status at once, not hang. Run with and without mpi4py's ``-m mpi4py`` runner (without
it, minidl's abort hook, installed when the process joins the MPI world, ends the ranks)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from minidl.training.spmd import spmdBarrier, spmdIndex, spmdPlus  # noqa: E402

spmdPlus(1.0)  # both workers are up
if spmdIndex() == 2:
    raise RuntimeError("worker 2 fails on purpose")
spmdBarrier()  # worker 1 would wait here forever for worker 2
print("worker 1 got past the barrier, which it must not", flush=True)
