"""A worker process holding one side of the benchmark (run by benchmarks/run.py).

    python benchmarks/worker.py THREADS [SET_BLAS_THREADS]

Reads one JSON command per line on stdin and answers one JSON line on stdout:
    {"op": "make", "side": ..., "kind": ..., "batch": ..., "n_images": ...}  build (and warm up)
    {"op": "calibrate", "target_s": 0.4}     -> {"n": calls per sample of about target_s}
    {"op": "sample", "n": 5}                 -> {"wall": s, "cpu": process CPU s, "value": ...}
    {"op": "quit"}
Errors come back as {"error": "..."}. Timing happens here, around the calls only, so the pipe
does not count; the CPU time lets the runner tell how busy the rest of the machine was.

One framework per process keeps the sides from sharing a memory allocator's state, thread pools
or caches: PyTorch in the same process changes how glibc's malloc treats NumPy's large
temporaries (heap trimming), which changes minidl's speed by a quarter.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def main() -> None:
    threads = int(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "1":
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads, user_api="blas")
    import sides

    out = sys.stdout
    sys.stdout = sys.stderr  # anything the sides print must not break the protocol
    run = None

    def reply(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        try:
            if op == "quit":
                break
            if op == "make":
                if cmd["side"].startswith("torch:"):
                    import torch_side
                    torch_side.set_threads(threads)
                run, warm = sides.make(cmd["side"], cmd["kind"], cmd["batch"], cmd["n_images"])
                warm()
                reply({"ok": True})
            elif op == "calibrate":
                t0 = time.perf_counter()
                run()
                one = max(time.perf_counter() - t0, 1e-6)
                reply({"n": int(min(1000, max(1, round(cmd["target_s"] / one))))})
            elif op == "sample":
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(cmd.get("n", 1)):
                    result = run()
                wall = time.perf_counter() - t0
                reply({"wall": wall, "cpu": time.process_time() - c0,
                       "value": sides.value(result) if cmd.get("value") else None})
            else:
                reply({"error": f"unknown op {op!r}"})
        except Exception as err:  # noqa: BLE001  (report any failure to the runner)
            reply({"error": f"{type(err).__name__}: {err}",
                   "trace": traceback.format_exc()[-2000:]})


if __name__ == "__main__":
    main()
