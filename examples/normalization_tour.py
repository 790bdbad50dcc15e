"""A tour of normalization layers, with pictures and numbers computed by minidl itself.

Batch, layer, instance and group normalization are one formula,

    y = scale * (x - mean) / sqrt(variance + epsilon) + offset,

and differ only in which elements share one mean and one variance. This script shows:

  (a) which elements of an H x W x C x N batch share statistics, drawn from the table the
      code itself uses (minidl.ops.norm.normalization_axes), and checked against the ops;
  (b) real activations (the first convolution of a trained example network): statistics per
      channel and per image, before and after each normalization;
  (c) invariance: instance normalization ignores a per-image, per-channel scale and shift of
      its input, batch normalization does not; and what that does to a trained network;
  (d) training versus prediction: batch statistics versus running statistics, small
      mini-batches, and the defaults of MATLAB's layers next to PyTorch's;
  (e) the backward pass: the gradient formula, checked numerically with gradcheck;
  (f) the 7-layer example trained with no normalization and with each of the four.

Run: python examples/normalization_tour.py [--fast] [--out FOLDER]
Figures go to FOLDER (default docs/images; with --fast, out/normalization_tour, so that a quick
run never replaces the documentation's figures). --fast (or MINIDL_FAST=1) uses little data
and one epoch so that the test suite can run it in seconds; its numbers mean nothing.
docs/normalization.md explains the results.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

import minidl as dl
from minidl.ops.norm import channel_groups, normalization_axes

FAST = "--fast" in sys.argv or os.environ.get("MINIDL_FAST") == "1"
ROOT = Path(__file__).resolve().parents[1]
OUT = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else \
    Path("out") / "normalization_tour" if FAST else ROOT / "docs" / "images"
OUT.mkdir(parents=True, exist_ok=True)

KINDS = ("batch", "layer", "instance", "group")
NAMES = {"none": "no normalization", "batch": "batch", "layer": "layer",
         "instance": "instance", "group": "group"}
NUM_GROUPS = 4          # groupnorm in this tour: 20 channels in 4 groups of 5
COLORS = {"none": "0.45", "batch": "tab:blue", "layer": "tab:green",
          "instance": "tab:red", "group": "tab:purple"}


def section(title):
    print()
    print(title)
    print("=" * len(title))


def normalize(kind, X, numGroups=NUM_GROUPS):
    """One normalization with offset 0 and scale 1 (batch: the mini-batch's own statistics)."""
    if kind == "batch":
        return dl.batchnorm(X, 0.0, 1.0)
    if kind == "layer":
        return dl.layernorm(X, 0.0, 1.0)
    if kind == "instance":
        return dl.instancenorm(X, 0.0, 1.0)
    return dl.groupnorm(X, numGroups, 0.0, 1.0)


def pyplot():
    import matplotlib

    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# =============================================================================================
# (a) Which elements share a mean and a variance
# =============================================================================================

def sharing_groups(kind, shape, fmt="SSCB", numGroups=None):
    """Number every element of an array of ``shape`` by the statistics it is normalized with.

    Straight from the code's table: two elements share a mean and variance when they agree on
    every axis that normalization_axes(kind, fmt) does not list, and lie in the same channel
    group (channel_groups splits the C axis into blocks of consecutive channels).
    """
    shared = normalization_axes(kind, fmt, numGroups)
    c = fmt.index("C")
    per_group = shape[c] // channel_groups(kind, shape[c], numGroups)
    index = np.indices(shape)
    key = [index[i] for i in range(len(shape)) if i not in shared and i != c]
    key.append(index[c] // per_group)
    _, ids = np.unique(np.stack([k.ravel() for k in key], axis=1), axis=0, return_inverse=True)
    return ids.reshape(shape)


def check_groups_against_ops(shape, numGroups):
    """Normalize random data with each op; every group of the picture must come out with mean
    0 and variance 1, and no two groups may be one (the means would then be shared)."""
    x = np.random.default_rng(1).standard_normal(shape) * 3 + 5
    X = dl.dlarray(x, "SSCB")
    for kind in KINDS:
        ids = sharing_groups(kind, shape, numGroups=numGroups)
        y = dl.extractdata(normalize(kind, X, numGroups))
        for g in range(ids.max() + 1):
            members = y[ids == g]
            assert abs(members.mean()) < 1e-6 and abs(members.var() - 1) < 1e-3, kind
        raw_means = [x[ids == g].mean() for g in range(ids.max() + 1)]
        assert len(np.unique(np.round(raw_means, 9))) == len(raw_means), kind
    print(f"checked: in a {'x'.join(map(str, shape))} batch every group of the picture has "
          "mean 0 and variance 1 after the op, for all four normalizations")


def draw_sharing(path, shape=(3, 3, 6, 4), numGroups=2):
    """One panel per kind: observations in rows, channels in columns, each an H x W block of
    elements coloured by the statistics they share; each group is also outlined."""
    plt = pyplot()
    H, W, C, N = shape
    k = 10                                        # pixels per element (the last one white)
    palette = np.array(plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.7))
    for ax, kind in zip(axes, KINDS):
        ids = sharing_groups(kind, shape, numGroups=numGroups)
        count = ids.max() + 1
        picture = np.ones((N * (H + 1) * k, C * (W + 1) * k, 3))
        boxes = {}
        for (h, w, ch, n), g in np.ndenumerate(ids):
            x0, y0 = ch * (W + 1) + w, n * (H + 1) + h       # in element units
            picture[y0 * k:(y0 + 1) * k - 1, x0 * k:(x0 + 1) * k - 1] = \
                palette[(7 * g) % len(palette)]
            lo_x, lo_y, hi_x, hi_y = boxes.get(g, (x0, y0, x0 + 1, y0 + 1))
            boxes[g] = (min(lo_x, x0), min(lo_y, y0), max(hi_x, x0 + 1), max(hi_y, y0 + 1))
        ax.imshow(picture, extent=(0, C * (W + 1), N * (H + 1), 0), interpolation="nearest")
        for lo_x, lo_y, hi_x, hi_y in boxes.values():  # every group here is one rectangle
            ax.add_patch(plt.Rectangle((lo_x - 0.25, lo_y - 0.25), hi_x - lo_x + 0.4,
                                       hi_y - lo_y + 0.4, fc="none", ec="0.15", lw=1.2))
        ax.set_xlim(-0.6, C * (W + 1) - 0.4)
        ax.set_ylim(N * (H + 1) - 0.4, -0.6)
        ax.set_xticks([ch * (W + 1) + W / 2 for ch in range(C)], [str(c + 1) for c in range(C)])
        ax.set_yticks([n * (H + 1) + H / 2 for n in range(N)], [str(n + 1) for n in range(N)])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_xlabel("channel (C)")
        if kind == "batch":
            ax.set_ylabel("observation (B)")
        axes_text = ",".join(str(a) for a in normalization_axes(kind, "SSCB", numGroups))
        ax.set_title(f"{kind} normalization\n{count} means, {ids.size // count} elements each"
                     f"\nnormalization_axes = ({axes_text})", fontsize=10)
    fig.suptitle(f"Which elements share one mean and variance in a {H}x{W}x{C}x{N} 'SSCB' batch "
                 "(a square is one element; one outlined colour is one mean and variance; "
                 f"{numGroups} groups for group normalization)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def part_a():
    section("(a) Which elements share a mean and a variance")
    print("normalization_axes(kind, 'SSCB'): the axes (0-based) that share statistics")
    for kind in KINDS:
        axes = normalization_axes(kind, "SSCB", NUM_GROUPS)
        labels = "".join("SSCB"[a] for a in axes)
        groups = channel_groups(kind, 20, NUM_GROUPS)
        print(f"  {kind:9s} axes {str(axes):10s} labels {labels:4s}  channel groups for 20 "
              f"channels: {groups}")
    check_groups_against_ops((3, 3, 6, 4), numGroups=2)
    draw_sharing(OUT / "normalization_sharing.png")
    print(f"figure: {OUT / 'normalization_sharing.png'}")


# =============================================================================================
# (f) first, because (b)-(d) use its trained networks: the same network, five ways
# =============================================================================================

def norm_layer(kind):
    return {"batch": dl.batchNormalizationLayer, "layer": dl.layerNormalizationLayer,
            "instance": dl.instanceNormalizationLayer,
            "group": lambda: dl.groupNormalizationLayer(NUM_GROUPS)}[kind]()


def example_layers(kind):
    """The 7-layer example with the normalization layer of ``kind`` (none: removed)."""
    norm = [] if kind == "none" else [norm_layer(kind)]
    return dl.LayerArray([
        dl.imageInputLayer([28, 28, 3]),
        dl.convolution2dLayer(5, 20),
        *norm,
        dl.reluLayer(),
        dl.maxPooling2dLayer(2, "Stride", 2),
        dl.fullyConnectedLayer(10),
        dl.softmaxLayer(),
    ])


def train_all(data):
    results = {}
    for kind in ("none", *KINDS):
        dl.rng(0)  # the same initial weights and shuffles for every variant
        options = dl.trainingOptions(
            "sgdm", InitialLearnRate=0.01, MaxEpochs=1 if FAST else 4, Shuffle="every-epoch",
            ValidationData=(data.XValidation, data.TValidation), ValidationFrequency=30,
            Metrics="accuracy", Verbose=False)
        tic = time.time()
        net, info = dl.trainnet(data.XTrain, data.TTrain, example_layers(kind), "crossentropy",
                                options)
        seconds = time.time() - tic
        accuracy = dl.testnet(net, data.XTest, data.TTest, "accuracy")
        results[kind] = {"net": net, "info": info, "seconds": seconds, "test": accuracy}
        print(f"  trained '{kind}': test accuracy {accuracy:.2f}% in {seconds:.0f} s")
    return results


# =============================================================================================
# (b) Real activations before and after each normalization
# =============================================================================================

def conv_activations(net, X):
    """The output of the network's first convolution (layers 1 and 2) for images X."""
    layers = net.Layers
    A = dl.dlarray(X, "SSCB")
    for layer in layers[:2]:
        A = layer.predict(A)
    return A


def per_channel_image_stats(A):
    """Mean and standard deviation of each channel of each image: two C x N arrays."""
    a = dl.extractdata(A)
    return a.mean(axis=(0, 1)), a.std(axis=(0, 1))


def part_b(results, data):
    section("(b) Real activations: the first convolution of the trained example network")
    n_images = 16
    A = conv_activations(results["instance"]["net"], data.XTest[:, :, :, :n_images])
    print(f"activations: {A.shape} ({A.fmt}), the input of the instance normalization layer")
    rows = [("before", A)] + [(kind, normalize(kind, A)) for kind in KINDS]
    print("statistics of each (channel, image) pair, over its 24x24 pixels:")
    print(f"  {'':10s} {'mean: min':>10s} {'max':>8s} {'std: min':>10s} {'max':>8s}"
          f"   {'per-channel mean over the batch: max |.|':>42s}")
    stats = []
    for name, Y in rows:
        m, s = per_channel_image_stats(Y)
        stats.append((name, m, s))
        batch_mean = np.abs(dl.extractdata(Y).mean(axis=(0, 1, 3))).max()
        print(f"  {name:10s} {m.min():10.3f} {m.max():8.3f} {s.min():10.3f} {s.max():8.3f}"
              f"   {batch_mean:42.3g}")
    draw_statistics(OUT / "normalization_statistics.png", stats)
    print(f"figure: {OUT / 'normalization_statistics.png'}")
    return A


def draw_statistics(path, stats):
    """Heat maps of the per-(channel, image) means and standard deviations: the activations
    before normalization on their own colour scale, the four normalized versions on a shared
    one."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(stats), figsize=(13, 5.6), sharex=True, sharey=True)
    after = stats[1:]
    m_lim = max(np.abs(m).max() for _, m, _ in after)
    s_lim = max(s.max() for _, _, s in after)
    _, m0, s0 = stats[0]
    for k, (name, m, s) in enumerate(stats):
        mean_lim = np.abs(m0).max() if k == 0 else m_lim
        im0 = axes[0, k].imshow(m, cmap="RdBu_r", vmin=-mean_lim, vmax=mean_lim, aspect="auto")
        im1 = axes[1, k].imshow(s, cmap="viridis", vmin=0, vmax=s0.max() if k == 0 else s_lim,
                                aspect="auto")
        axes[0, k].set_title(name if name == "before" else f"after {name} norm.", fontsize=10)
        axes[1, k].set_xlabel("image (B)")
        if k == 0:
            fig.colorbar(im0, ax=axes[0, 0], pad=0.02)
            fig.colorbar(im1, ax=axes[1, 0], pad=0.02)
    fig.colorbar(im0, ax=axes[0, 1:].tolist(), shrink=0.9, pad=0.01)
    fig.colorbar(im1, ax=axes[1, 1:].tolist(), shrink=0.9, pad=0.01)
    axes[0, 0].set_ylabel("mean\nchannel (C)")
    axes[1, 0].set_ylabel("standard deviation\nchannel (C)")
    fig.suptitle("Mean and standard deviation of each channel of each image (over its 24x24 "
                 "pixels), first convolution of the trained example network (16 test images)",
                 fontsize=10)
    fig.savefig(path, dpi=75)
    plt.close(fig)


# =============================================================================================
# (c) Invariance
# =============================================================================================

def part_c(results, data, A):
    section("(c) Invariance: a scale and shift of the input")
    rng = np.random.default_rng(2)
    H, W, C, N = A.shape
    transforms = {
        "per image (the same for all channels)": (rng.uniform(0.5, 2, (1, 1, 1, N)),
                                                 rng.uniform(-1, 1, (1, 1, 1, N))),
        "per image and channel": (rng.uniform(0.5, 2, (1, 1, C, N)),
                                  rng.uniform(-1, 1, (1, 1, C, N))),
        "per channel (the same for all images)": (rng.uniform(0.5, 2, (1, 1, C, 1)),
                                                 rng.uniform(-1, 1, (1, 1, C, 1))),
    }
    a = dl.extractdata(A)
    print("largest change of the output, max |Y(a*X + b) - Y(X)|, when X (the activations of "
          "(b)) is scaled by a > 0 and shifted by b:")
    print(f"  {'a and b vary':40s}" + "".join(f"{k:>10s}" for k in KINDS)
          + f"{'instance, Epsilon=1e-10':>25s}")
    table = {}
    for name, (scale, shift) in transforms.items():
        moved = dl.dlarray((a * scale + shift).astype(np.float32), "SSCB")
        diffs = [np.abs(dl.extractdata(normalize(k, moved)) - dl.extractdata(normalize(k, A)))
                 .max() for k in KINDS]
        exact = np.abs(dl.extractdata(dl.instancenorm(moved, 0.0, 1.0, Epsilon=1e-10))
                       - dl.extractdata(dl.instancenorm(A, 0.0, 1.0, Epsilon=1e-10))).max()
        table[name] = diffs + [exact]
        print(f"  {name:40s}" + "".join(f"{d:10.2g}" for d in diffs) + f"{exact:25.2g}")
    smallest = a.var(axis=(0, 1)).min()
    print("  With the default Epsilon = 1e-5 the invariance holds only where a^2 * variance >> "
          f"Epsilon; the smallest variance of a (channel, image) here is {smallest:.1e}.")

    # The same at the level of a trained network: change each test image's brightness and
    # contrast (one random a and b per image, for all three colour channels), or its colours
    # (one a and b per image and channel).
    X = data.XTest
    n = X.shape[3]
    contrast = np.exp(rng.uniform(-1.5, 1.5, (1, 1, 1, n))).astype(np.float32)  # 0.22 to 4.5
    brightness = rng.uniform(-1, 1, (1, 1, 1, n)).astype(np.float32)
    colour_a = np.exp(rng.uniform(-1, 1, (1, 1, 3, n))).astype(np.float32)
    colour_b = rng.uniform(-0.5, 0.5, (1, 1, 3, n)).astype(np.float32)
    variants = {"original": X, "brightness/contrast": X * contrast + brightness,
                "colour change": X * colour_a + colour_b}
    print()
    print("test accuracy (%) of the trained networks of (f) on changed test images:")
    print(f"  {'network':18s}" + "".join(f"{v:>22s}" for v in variants))
    robust = {}
    for kind, r in results.items():
        accs = [dl.testnet(r["net"], Xv, data.TTest, "accuracy") for Xv in variants.values()]
        robust[kind] = accs
        print(f"  {NAMES[kind]:18s}" + "".join(f"{acc:22.2f}" for acc in accs))
    return table, robust


# =============================================================================================
# (d) Training versus prediction
# =============================================================================================

def part_d(results, data, A):
    section("(d) Training versus prediction")
    a = dl.extractdata(A)
    first = a[..., :1]
    with_1 = dl.dlarray(np.concatenate([first, a[..., 1:8]], axis=3), "SSCB")
    with_2 = dl.dlarray(np.concatenate([first, a[..., 8:15]], axis=3), "SSCB")
    for kind in ("batch", "instance"):
        y1 = dl.extractdata(normalize(kind, with_1))[..., 0]
        y2 = dl.extractdata(normalize(kind, with_2))[..., 0]
        print(f"  image 1 normalized in two different mini-batches of 8, {kind:8s}: "
              f"max |difference| = {np.abs(y1 - y2).max():.3g}")

    # Batch normalization in training mode uses the mini-batch's statistics, in prediction the
    # running statistics. How far apart are the two as the mini-batch shrinks?
    net = results["batch"]["net"]
    bn = next(layer for layer in net.Layers if layer.Type == "Batch Normalization")
    count = min(1024, data.XTest.shape[3])
    acts = dl.extractdata(conv_activations(net, data.XTest[:, :, :, :count]))
    mu = acts.mean(axis=(0, 1, 3), keepdims=True)
    sigma = acts.std(axis=(0, 1, 3), keepdims=True)
    print()
    print("batch normalization of the trained network's conv activations, mini-batch of B "
          f"images (from {count} test images):")
    print(f"  {'B':>4s} {'|batch mean - mean| / std':>27s} {'batch var / var':>17s} "
          f"{'rms(train-mode Y - predict-mode Y)':>36s}")
    small = {}
    for B in (1, 2, 4, 8, 32, 128)[:3 if FAST else 6]:
        batches = [acts[..., i:i + B] for i in range(0, count - B + 1, B)][:64]
        err_mean = np.mean([np.abs(b.mean(axis=(0, 1, 3), keepdims=True) - mu) / sigma
                            for b in batches])
        ratio = np.mean([b.var(axis=(0, 1, 3), keepdims=True) / sigma**2 for b in batches])
        gaps = []
        for b in batches:
            X = dl.dlarray(b, "SSCB")
            train = dl.extractdata(dl.batchnorm(X, bn.Offset, bn.Scale))
            pred = dl.extractdata(dl.batchnorm(X, bn.Offset, bn.Scale, bn.TrainedMean,
                                               bn.TrainedVariance, Training=False))
            gaps.append(np.sqrt(np.mean((train - pred) ** 2)))
        small[B] = (err_mean, ratio, np.mean(gaps))
        print(f"  {B:4d} {err_mean:27.3f} {ratio:17.3f} {np.mean(gaps):36.3f}")

    # The whole network evaluated in training mode (forward: batch statistics) one small
    # mini-batch at a time, against prediction mode (predict: trained statistics).
    n = 40 if FAST else 600
    print()
    print(f"test accuracy (%) of the batch-normalized network on {n} test images, evaluated "
          "with forward (mini-batch statistics) in mini-batches of B:")
    X, T = data.XTest[:, :, :, :n], data.TTest[:n]
    modes = {}
    for B in (1, 2, 8, 128)[:2 if FAST else 4]:
        correct = 0
        for i in range(0, n, B):
            Y, _ = dl.forward(net, dl.dlarray(X[:, :, :, i:i + B], "SSCB"))
            correct += np.sum(np.argmax(dl.extractdata(Y), axis=0) == T[i:i + B])
        modes[B] = 100 * correct / n
        print(f"  forward, B = {B:3d}: {modes[B]:6.2f}")
    modes["predict"] = dl.testnet(net, X, T, "accuracy")
    print(f"  predict (any B): {modes['predict']:6.2f}")

    # Defaults: MATLAB's layers (and minidl's) against PyTorch's modules.
    print()
    print("parameters and state of each normalization layer of the example (20 channels):")
    counts = {}
    for kind in KINDS:
        net_k = results[kind]["net"]
        name = next(layer.Name for layer in net_k.Layers
                    if type(layer).__name__.lower().startswith(kind))
        learn = sum(v.size for layer, _, v in net_k.Learnables if layer == name)
        state = sum(v.size for layer, _, v in net_k.State if layer == name)
        rows = [p for layer, p, _ in net_k.Learnables if layer == name]
        srows = [p for layer, p, _ in net_k.State if layer == name]
        counts[kind] = (learn, state)
        print(f"  minidl/MATLAB {kind:8s}: {learn:3d} learnables {rows}, {state:3d} state "
              f"values {srows or ''}")
    compare_pytorch(A, bn)
    return small, modes, counts


def compare_pytorch(A, bn):
    try:
        import torch
    except ImportError:
        print("  PyTorch is not installed: its documented defaults are InstanceNorm2d("
              "affine=False, track_running_stats=False), BatchNorm2d(affine=True, "
              "track_running_stats=True, momentum=0.1), GroupNorm(affine=True), "
              "LayerNorm(elementwise_affine=True) with one weight per normalized element.")
        return
    torch.manual_seed(0)
    C = A.shape[2]
    modules = {"InstanceNorm2d(20)": torch.nn.InstanceNorm2d(C),
               "BatchNorm2d(20)": torch.nn.BatchNorm2d(C),
               "GroupNorm(4, 20)": torch.nn.GroupNorm(NUM_GROUPS, C),
               "LayerNorm([20, 24, 24])": torch.nn.LayerNorm([C, A.shape[0], A.shape[1]])}
    print(f"  PyTorch {torch.__version__}:")
    for name, m in modules.items():
        params = sum(p.numel() for p in m.parameters())
        buffers = {b: tuple(v.shape) for b, v in m.named_buffers()}
        print(f"    {name:24s} {params:5d} learnables, buffers {buffers or 'none'}")
    x = torch.from_numpy(np.ascontiguousarray(dl.extractdata(A).transpose(3, 2, 0, 1)))
    inorm = modules["InstanceNorm2d(20)"]
    theirs = inorm(x).detach().numpy().transpose(2, 3, 1, 0)
    mine = dl.extractdata(dl.instancenorm(A, 0.0, 1.0))
    inorm.eval()
    theirs_eval = inorm(x).detach().numpy().transpose(2, 3, 1, 0)
    print(f"    instancenorm vs InstanceNorm2d: max |difference| {np.abs(mine - theirs).max():.2g}"
          f" (train mode), {np.abs(mine - theirs_eval).max():.2g} (eval mode: still per-image "
          "statistics)")
    bnorm = modules["BatchNorm2d(20)"]
    bnorm.train()
    bnorm(x)
    _, run_mean, run_var = dl.batchnorm(A, 0.0, 1.0, np.zeros(C, np.float32),
                                        np.ones(C, np.float32))
    m = A.shape[0] * A.shape[1] * A.shape[3]
    ratio = (bnorm.running_var.numpy() - 0.9) / (np.asarray(run_var) - 0.9)
    print(f"    one training step from mean 0, variance 1: running mean max |difference| "
          f"{np.abs(bnorm.running_mean.numpy() - run_mean).max():.2g}; running variance "
          f"PyTorch / minidl = {ratio.mean():.5f} (M/(M-1) = {m / (m - 1):.5f} for M = {m}: "
          "PyTorch stores the unbiased variance)")


# =============================================================================================
# (e) The backward pass
# =============================================================================================

def part_e():
    section("(e) The backward pass")
    print("with x_hat = (x - mean) / sigma over the M elements that share statistics, "
          "y = scale * x_hat + offset:")
    print("  dL/dx = (scale / sigma) * (dL/dy - mean(dL/dy) - x_hat * mean(dL/dy * x_hat))")
    print("  dL/dscale = sum(dL/dy * x_hat),  dL/doffset = sum(dL/dy)  (sums over all but C)")
    rng = np.random.default_rng(3)
    shape = (3, 3, 4, 2) if FAST else (4, 4, 6, 3)
    C = shape[2]
    x = dl.dlarray(rng.standard_normal(shape) * 2 + 1, "SSCB")
    offset = dl.dlarray(rng.standard_normal(C))
    scale = dl.dlarray(rng.uniform(0.5, 2, C))
    ops = {"batchnorm": lambda X, b, g: dl.batchnorm(X, b, g),
           "layernorm": lambda X, b, g: dl.layernorm(X, b, g),
           "instancenorm": lambda X, b, g: dl.instancenorm(X, b, g),
           "groupnorm (2 groups)": lambda X, b, g: dl.groupnorm(X, 2, b, g)}
    errors = {}
    for name, op in ops.items():
        errors[name] = dl.gradcheck(op, x, offset, scale, max_elements=64 if FAST else 256)
        print(f"  gradcheck {name:22s} worst relative error {errors[name]:.1e}")

    # The formula, written out in NumPy for instance normalization, against dlgradient.
    R = rng.standard_normal(shape)                  # dL/dy for L = sum(R .* y)

    def loss(X, b, g):
        Y = dl.instancenorm(X, b, g)
        return dl.dlgradient((Y * dl.dlarray(R, "SSCB")).sum(), X)

    auto = dl.extractdata(dl.dlfeval(loss, x, offset, scale))
    xd, g = dl.extractdata(x), dl.extractdata(scale).reshape(1, 1, C, 1)
    mu = xd.mean(axis=(0, 1), keepdims=True)
    sigma = np.sqrt(xd.var(axis=(0, 1), keepdims=True) + 1e-5)
    xhat = (xd - mu) / sigma
    manual = g / sigma * (R - R.mean(axis=(0, 1), keepdims=True)
                          - xhat * (R * xhat).mean(axis=(0, 1), keepdims=True))
    formula_error = np.abs(auto - manual).max()
    print(f"  the formula in NumPy against dlgradient (instancenorm): max |difference| "
          f"{formula_error:.1e}")
    return errors, formula_error


# =============================================================================================
# (f) Training curves and the accuracy table
# =============================================================================================

def smooth(values, weight=0.8):
    out, avg = [], None
    for v in values:
        avg = v if avg is None else weight * avg + (1 - weight) * v
        out.append(avg)
    return np.array(out)


def part_f(results, robust):
    section("(f) The example trained without and with each normalization")
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    for kind, r in results.items():
        hist, val = r["info"].TrainingHistory, r["info"].ValidationHistory
        ax_loss.plot(hist["Iteration"], smooth(hist["Loss"]), color=COLORS[kind],
                     label=NAMES[kind])
        ax_acc.plot(val["Iteration"], val["Accuracy"], "-o", ms=3, color=COLORS[kind],
                    label=NAMES[kind])
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss (smoothed)")
    ax_acc.set_xlabel("iteration")
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.set_ylim(max(0, min(min(r["info"].ValidationHistory["Accuracy"][1:], default=0)
                               for r in results.values()) - 5), 100)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(loc="lower right", fontsize="small")
    fig.suptitle("The 7-layer example on colour digits, sgdm, learning rate 0.01, "
                 "mini-batches of 128", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "normalization_training.png", dpi=80)
    plt.close(fig)
    print(f"figure: {OUT / 'normalization_training.png'}")
    print()
    print(f"  {'normalization':18s} {'validation acc.':>16s} {'test acc.':>10s} "
          f"{'test, brightness/contrast':>26s} {'test, colour':>13s} {'time (s)':>9s}")
    for kind, r in results.items():
        val = r["info"].ValidationHistory["Accuracy"][-1]
        print(f"  {NAMES[kind]:18s} {val:16.2f} {r['test']:10.2f} {robust[kind][1]:26.2f} "
              f"{robust[kind][2]:13.2f} {r['seconds']:9.0f}")


# =============================================================================================

def main():
    tic = time.time()
    data = dl.digits(num_images=600 if FAST else 10000, color=True)
    part_a()
    section("(f, first) Training the example with each normalization")
    results = train_all(data)
    A = part_b(results, data)
    _, robust = part_c(results, data, A)
    part_d(results, data, A)
    part_e()
    part_f(results, robust)
    print()
    print(f"Elapsed time: {time.time() - tic:.0f} s")


if __name__ == "__main__":
    main()
