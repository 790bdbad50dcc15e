"""A/B: the same workloads on two minidl source trees, interleaved, each run in its own process.

    python benchmarks/ab.py OLD_TREE NEW_TREE [--rounds 5]

Each tree is a folder holding a ``minidl`` package (``git worktree add /tmp/old <commit>``).
A round runs every workload once on each tree, alternating which goes first, so a change in the
machine's load hits both sides alike; the medians and their ratio (new / old time) are printed,
with ``import minidl`` timed the same way. Workloads: one hand-written training step of the
documented 7-layer CNN at batch 128 (dlfeval + sgdmupdate), inference at batch 128, and a
trainnet epoch of 2,560 images, timed inside the process after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import minidl as dl
import_s = time.perf_counter() - t0
import numpy as np
which = sys.argv[1]
rng = np.random.default_rng(0)
layers = [dl.imageInputLayer([28, 28, 3], Normalization="none"), dl.convolution2dLayer(5, 20),
          dl.instanceNormalizationLayer(), dl.reluLayer(), dl.maxPooling2dLayer(2, Stride=2),
          dl.fullyConnectedLayer(10), dl.softmaxLayer()]
out = {"import": import_s}
if which == "step":
    dl.rng(0)
    net = dl.dlnetwork(layers)
    X = dl.dlarray(rng.random((28, 28, 3, 128), dtype=np.float32), "SSCB")
    T = dl.dlarray(np.eye(10, 128, dtype=np.float32), "CB")
    def loss_fn(net, X, T):
        Y, _ = dl.forward(net, X)
        loss = dl.crossentropy(Y, T)
        return loss, dl.dlgradient(loss, net.Learnables)
    vel = None
    times = []
    for i in range(12):
        t = time.perf_counter()
        loss, grads = dl.dlfeval(loss_fn, net, X, T)
        net, vel = dl.sgdmupdate(net, grads, vel, 0.01, 0.9)
        times.append(time.perf_counter() - t)
    out[which] = float(np.median(times[2:]))
elif which == "predict":
    dl.rng(0)
    net = dl.dlnetwork(layers)
    X = dl.dlarray(rng.random((28, 28, 3, 128), dtype=np.float32), "SSCB")
    times = []
    for i in range(12):
        t = time.perf_counter()
        net.predict(X)
        times.append(time.perf_counter() - t)
    out[which] = float(np.median(times[2:]))
else:
    X = rng.random((28, 28, 3, 2560), dtype=np.float32)
    T = rng.integers(0, 10, 2560)
    opts = dl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=128, Verbose=False)
    t = time.perf_counter()
    dl.trainnet(X, T, layers, "crossentropy", opts)
    out[which] = time.perf_counter() - t
print(json.dumps(out))
"""

WORKLOADS = ("step", "predict", "epoch")


def run(tree: str, which: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    done = subprocess.run([sys.executable, "-c", CHILD, which], env=env, capture_output=True,
                          text=True, check=True, cwd=os.path.abspath(tree))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    times: dict = {(side, w): [] for side in ("old", "new") for w in (*WORKLOADS, "import")}
    for r in range(args.rounds):
        for which in WORKLOADS:
            order = [("old", args.old), ("new", args.new)]
            for side, tree in order if r % 2 == 0 else order[::-1]:
                result = run(tree, which)
                times[(side, which)].append(result[which])
                times[(side, "import")].append(result["import"])
    print(f"{'workload':10} {'old (ms)':>10} {'new (ms)':>10} {'new/old':>8}")
    for which in (*WORKLOADS, "import"):
        old = statistics.median(times[("old", which)]) * 1e3
        new = statistics.median(times[("new", which)]) * 1e3
        print(f"{which:10} {old:10.1f} {new:10.1f} {new / old:8.2f}")


if __name__ == "__main__":
    main()
