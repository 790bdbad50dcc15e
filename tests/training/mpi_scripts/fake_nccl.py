"""A stand-in for ``cupy.cuda.nccl`` (and for the device pointers and stream it is given), so
that ``minidl.backend.mpi.DeviceReducer``'s NCCL path runs without a GPU.

It checks what real NCCL would need: every rank joins with the same unique id, its own rank
and the world's size; ``allReduce`` gets the buffer's pointer (in place), its element count,
the NCCL code of its dtype, NCCL_SUM and the current stream. It then does what NCCL would do,
summing the data over the ranks, here with MPI on host copies of the fake device arrays.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


class FakeNccl:
    """The module: constants, get_unique_id, NcclCommunicator."""

    NCCL_SUM = 0
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32 = 0, 1, 2, 3
    NCCL_INT64, NCCL_UINT64, NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 4, 5, 6, 7, 9
    CODES = {"int8": 0, "uint8": 1, "int32": 2, "uint32": 3, "int64": 4, "uint64": 5,
             "float16": 6, "float32": 7, "float64": 9}

    def __init__(self, comm: Any, xp: Any) -> None:
        self.comm, self.xp = comm, xp
        self.buffers: dict[int, Any] = {}  # pointer -> fake device array
        self.communicators: list[FakeCommunicator] = []
        self.unique_ids_made = 0

    def get_unique_id(self) -> tuple:
        self.unique_ids_made += 1
        return tuple(os.urandom(128))  # CuPy's is a tuple of 128 integers, made on one rank

    def NcclCommunicator(self, ndev: int, uid: tuple, rank: int) -> FakeCommunicator:
        comm = FakeCommunicator(self, ndev, uid, rank)
        self.communicators.append(comm)
        return comm

    def pointer(self, a: Any) -> int:
        """The test's device address of a fake array: a key into ``buffers``."""
        self.buffers[id(a)] = a
        return id(a)

    STREAM = 12345

    def stream(self) -> int:
        return self.STREAM


class FakeCommunicator:
    def __init__(self, nccl: FakeNccl, ndev: int, uid: tuple, rank: int) -> None:
        comm = nccl.comm
        assert ndev == comm.Get_size(), (ndev, comm.Get_size())
        assert rank == comm.Get_rank(), (rank, comm.Get_rank())
        ids = comm.allgather(uid)
        assert all(i == ids[0] for i in ids), "the ranks joined with different unique ids"
        assert len(uid) == 128
        self.nccl, self.calls = nccl, 0

    def allReduce(self, send: int, recv: int, count: int, dtype: int, op: int,
                  stream: int) -> None:
        from mpi4py import MPI

        nccl = self.nccl
        assert send == recv, "expected an in-place allReduce"
        buf = nccl.buffers[send]
        assert count == buf.size, (count, buf.size)
        assert dtype == nccl.CODES[np.dtype(buf.dtype).name], (dtype, buf.dtype)
        assert op == nccl.NCCL_SUM
        assert stream == nccl.STREAM
        host = np.ascontiguousarray(buf.get())
        nccl.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        buf[...] = nccl.xp.asarray(host)
        self.calls += 1
