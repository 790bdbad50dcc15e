"""One training run timed as a user's script would be, in a fresh process (run by
benchmarks/run.py, workload "script").

    python benchmarks/script_child.py SIDE DATA_DIR THREADS IMAGES EPOCHS

SIDE is minidl or torch. The data are an ordinary C-ordered H x W x C x N float32 array (the
MATLAB layout a user hands to trainnet) and integer labels, loaded with np.load before the clock
starts; imports are done before too, lazy ones included (``import torch`` alone takes over a
second, and its first optimizer imports torch._dynamo, 1.8 s more: no training loop can win
that back, and the import row of the table measures it). Timed: everything from the layer
array to the trained network:

* minidl: ``trainnet(X, labels, layers, "crossentropy", trainingOptions("sgdm", ...))`` with the
  documented layers, imageInputLayer's default 'zerocenter' normalization included (trainnet
  computes the mean image and converts the data);
* torch: what a PyTorch user writes for the same run: the array as an N x C x H x W tensor
  (``from_numpy(X).permute(3, 2, 0, 1).contiguous()``), the per-channel mean subtracted once,
  the model built, SGD (momentum 0.9, lr 0.01, weight_decay 1e-4), the data shuffled once, and
  the epochs of mini-batches of 128 (trailing partial batch dropped, as trainnet does).

Also reported: the fixed cost, the time to the end of the first iteration minus one median
iteration (statistics, conversion, initialization, thread start-up: what a call costs before it
trains), and the median iteration. Printed as one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 128


def run_minidl(X: np.ndarray, labels: np.ndarray, epochs: int) -> list[float]:
    import minidl as md

    stamps: list[float] = [time.perf_counter()]

    def stamp(info: dict) -> bool:
        if info["State"] == "iteration":
            stamps.append(time.perf_counter())
        return False

    layers = [md.imageInputLayer([28, 28, 3]), md.convolution2dLayer(5, 20),
              md.instanceNormalizationLayer(), md.reluLayer(),
              md.maxPooling2dLayer(2, Stride=2), md.fullyConnectedLayer(10), md.softmaxLayer()]
    opts = md.trainingOptions("sgdm", MaxEpochs=epochs, MiniBatchSize=BATCH, Verbose=False,
                              InitialLearnRate=0.01, Momentum=0.9, OutputFcn=stamp)
    md.trainnet(X, labels, layers, "crossentropy", opts)
    stamps.append(time.perf_counter())
    return stamps


def run_torch(X: np.ndarray, labels: np.ndarray, epochs: int) -> list[float]:
    import torch
    import torch.nn.functional as F
    from torch_side import build_model

    stamps: list[float] = [time.perf_counter()]
    x = torch.from_numpy(X).permute(3, 2, 0, 1).contiguous()  # N x C x H x W
    x.sub_(x.mean(dim=(0, 2, 3), keepdim=True))               # zero-centre per channel
    t = torch.from_numpy(labels.astype(np.int64))
    model = build_model("contiguous")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    order = torch.randperm(x.shape[0])
    for _ in range(epochs):
        for i in range(0, x.shape[0] - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), t[idx])
            loss.backward()
            opt.step()
            loss.item()  # as trainnet reads each iteration's loss
            stamps.append(time.perf_counter())
    stamps.append(time.perf_counter())
    return stamps


def main() -> None:
    side, data_dir, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    images, epochs = int(sys.argv[4]), int(sys.argv[5])
    sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass
    # Lazy imports happen before the clock too: constructing the first torch.optim optimizer
    # imports some 800 modules (torch._dynamo; 1.8 s here), and minidl imports threadpoolctl
    # when it first splits work over threads. Import time is its own row of the table.
    if side == "torch":
        import torch
        import torch.nn.functional  # noqa: F401
        torch.set_num_threads(threads)
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        run = run_torch
    elif side == "minidl":
        import minidl
        minidl.trainnet  # noqa: B018  (the package is imported before the clock starts)
        try:
            import threadpoolctl  # noqa: F401
        except ImportError:
            pass
        run = run_minidl
    else:
        raise SystemExit(f"unknown side {side!r}")
    X = np.load(data_dir / "x_hwcn.npy")[..., :images]
    X = np.ascontiguousarray(X)  # an ordinary C-ordered H x W x C x N array
    labels = np.load(data_dir / "labels.npy")[:images]
    stamps = run(X, labels, epochs)
    iters = np.diff(stamps[1:-1])
    iteration = float(statistics.median(iters)) if len(iters) else 0.0
    print(json.dumps({"side": side, "images": images, "epochs": epochs,
                      "total_s": stamps[-1] - stamps[0],
                      "fixed_ms": 1e3 * (stamps[1] - stamps[0] - iteration),
                      "iteration_ms": 1e3 * iteration, "iterations": len(stamps) - 2}))


if __name__ == "__main__":
    main()
