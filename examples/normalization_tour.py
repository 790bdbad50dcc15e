"""A tour of normalization layers, with pictures and numbers computed by minidl itself.

Batch, layer, instance and group normalization are one formula,

    y = scale * (x - mean) / sqrt(variance + epsilon) + offset,

and differ only in which elements share one mean and one variance. This script shows:

  (a) which elements of an H x W x C x N batch share statistics, drawn from the table the
      code itself uses (minidl.ops.norm.normalization_axes), and checked against the ops;
  (b) real activations (the first convolution of a trained example network): statistics per
      channel and per image, before and after each normalization;
  (c) invariance: what a scale and shift of the input each normalization cancels, and what that
      does to a trained network;
  (d) training versus prediction: batch statistics versus running statistics, small
      mini-batches, the layers' learnables and state;
  (e) the backward pass: gradient checks (raw relative errors), the formula against dlgradient,
      instance normalization written from dlarray primitives against the fused op, and the
      zero gradient of a bias placed right before a normalization;
  (f) the 7-layer example trained with no normalization and with each of the four, from
      iteration 0;
  (g) small mini-batches: batch, group and instance normalization trained with mini-batches of
      2, 4, 8 and 32 (in the spirit of Wu & He's Figure 1);
  (h) features ("CB") and sequences ("CBT"): what each normalization shares there, the error
      and the warning for statistics of one element, layer normalization per time step;
  (i) running averages: the effective window of each framework's momentum or decay.

Run: python examples/normalization_tour.py [--fast] [--out FOLDER] [--update-docs]
Figures and normalization_numbers.json (every number docs/normalization.md quotes) go to FOLDER
(default out/normalization_tour). --update-docs writes the figures to docs/images and the numbers
to docs/normalization_numbers.json instead, which is what the page shows and what
tests/test_normalization_page.py compares the page with. --fast (or MINIDL_FAST=1) uses little
data and one epoch so that the test suite can run it in seconds; its numbers mean nothing (it
cannot be combined with --update-docs).
"""

import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import minidl as dl
from minidl.ops.norm import SHARED_LABELS, channel_groups, layer_shared_labels, normalization_axes

FAST = "--fast" in sys.argv or os.environ.get("MINIDL_FAST") == "1"
UPDATE_DOCS = "--update-docs" in sys.argv
ROOT = Path(__file__).resolve().parents[1]
if UPDATE_DOCS and FAST:
    sys.exit("normalization_tour.py: --update-docs needs the full run (not --fast): the page "
             "quotes the full run's numbers")
if UPDATE_DOCS:
    OUT = ROOT / "docs" / "images"
    NUMBERS = ROOT / "docs" / "normalization_numbers.json"
else:
    OUT = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else \
        Path("out") / "normalization_tour"
    NUMBERS = OUT / "normalization_numbers.json"
OUT.mkdir(parents=True, exist_ok=True)

KINDS = ("batch", "layer", "instance", "group")
NAMES = {"none": "no normalization", "batch": "batch", "layer": "layer",
         "instance": "instance", "group": "group"}
NUM_GROUPS = 4          # groupnorm in this tour: 20 channels in 4 groups of 5
COLORS = {"none": "0.45", "batch": "tab:blue", "layer": "tab:green",
          "instance": "tab:red", "group": "tab:purple"}

#: every number the page quotes, by name; written to NUMBERS at the end
NUM: dict[str, float] = {}


def record(key, value):
    """Keep ``value`` (a number) under ``key`` for normalization_numbers.json; return it."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"number {key!r} is not finite: {value}")
    NUM[key] = value
    return value


def write_numbers(path):
    """Write NUM as JSON, atomically (a temporary file in the same folder, then a rename)."""
    text = json.dumps(dict(sorted(NUM.items())), indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


START = time.time()


def section(title):
    print()
    print(f"{title}  [{time.time() - START:.0f} s]")
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
    H, W, C, N = 24, 24, 20, 128
    print(f"for a {H}x{W}x{C}x{N} batch (group: {NUM_GROUPS} groups):")
    for kind in KINDS:
        count, each = statistics_layout(SHARED_LABELS[kind], "SSCB", (H, W, C, N),
                                        channel_groups(kind, C, NUM_GROUPS))
        record(f"sharing.{kind}.statistics", count)
        record(f"sharing.{kind}.elements", each)
        print(f"  {kind:9s} {count:6d} statistics of {each:6d} elements")
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


def initial_loss(kind, data):
    """Cross-entropy loss and spread of the logits of the untrained network (what trainnet
    starts from: the same seed, so the same initial weights) on the first 1,024 training
    images, in training mode (forward, mini-batches of 128: batch normalization uses the
    mini-batch's statistics, as in the first iteration)."""
    dl.rng(0)
    net = dl.dlnetwork(example_layers(kind))
    n = min(1024, data.XTrain.shape[3])
    losses, spreads = [], []
    for i in range(0, n, 128):
        X = dl.dlarray(data.XTrain[:, :, :, i:min(i + 128, n)], "SSCB")
        logits, _ = dl.forward(net, X, Outputs="fc")
        logits = dl.extractdata(logits).astype(np.float64)
        z = logits - logits.max(axis=0)
        logp = z - np.log(np.exp(z).sum(axis=0))
        t = np.asarray(data.TTrain[i:min(i + 128, n)]).astype(int)
        losses.append(-logp[t, np.arange(len(t))].mean() * len(t))
        spreads.append(logits.std(axis=0).sum())
    return sum(losses) / n, sum(spreads) / n


def train_all(data):
    results = {}
    print(f"  loss of a network that predicts 1/10 for every class: ln(10) = {math.log(10):.3f}")
    record("training.uniform_loss", math.log(10))
    for kind in ("none", *KINDS):
        loss0, spread0 = initial_loss(kind, data)
        record(f"training.{kind}.loss0", loss0)
        record(f"training.{kind}.logit_spread0", spread0)
        print(f"  untrained '{kind}': loss {loss0:.3f}, logits' standard deviation per image "
              f"{spread0:.3f}")
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
        results[kind] = {"net": net, "info": info, "seconds": seconds, "test": accuracy,
                         "loss0": loss0}
        record(f"training.{kind}.test", accuracy)
        record(f"training.{kind}.validation", info.ValidationHistory["Accuracy"][-1])
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
        channel_mean = dl.extractdata(Y).mean(axis=(0, 1, 3))
        stats.append((name, m, s, channel_mean))
        batch_mean = np.abs(channel_mean).max()
        print(f"  {name:10s} {m.min():10.3f} {m.max():8.3f} {s.min():10.3f} {s.max():8.3f}"
              f"   {batch_mean:42.3g}")
        for stat, v in (("mean_min", m.min()), ("mean_max", m.max()), ("std_min", s.min()),
                        ("std_max", s.max()), ("batch_mean_max", batch_mean)):
            record(f"stats.{name}.{stat}", v)
    draw_statistics(OUT / "normalization_statistics.png", stats)
    print(f"figure: {OUT / 'normalization_statistics.png'}")
    return A


def draw_statistics(path, stats):
    """Heat maps of the per-(channel, image) means and standard deviations, and each channel's
    mean over the whole batch. The "before" column has its own colour scale (its values are
    much smaller); the four normalized columns share one. Channels and images count from 1."""
    plt = pyplot()
    fig, axes = plt.subplots(3, len(stats), figsize=(13, 8), layout="constrained",
                             gridspec_kw={"height_ratios": [1, 1, 0.8]})
    after = stats[1:]
    m_lim = max(np.abs(m).max() for _, m, _, _ in after)
    s_lim = max(s.max() for _, _, s, _ in after)
    c_lim = max(np.abs(c).max() for _, _, _, c in after)
    _, m0, s0, c0 = stats[0]
    C, N = m0.shape
    extent = (0.5, N + 0.5, C + 0.5, 0.5)           # image 1..N across, channel 1..C down
    for k, (name, m, s, cmean) in enumerate(stats):
        mean_lim = np.abs(m0).max() if k == 0 else m_lim
        im0 = axes[0, k].imshow(m, cmap="RdBu_r", vmin=-mean_lim, vmax=mean_lim, aspect="auto",
                                extent=extent, interpolation="nearest")
        im1 = axes[1, k].imshow(s, cmap="viridis", vmin=0, vmax=s0.max() if k == 0 else s_lim,
                                aspect="auto", extent=extent, interpolation="nearest")
        title = "before\n(its own colour scale)" if k == 0 else f"after {name} norm.\n"
        axes[0, k].set_title(title, fontsize=10)
        bar_lim = 1.1 * (np.abs(c0).max() if k == 0 else c_lim)
        axes[2, k].barh(np.arange(1, C + 1), cmean, color="tab:blue" if k else "0.5")
        axes[2, k].set_xlim(-bar_lim, bar_lim)
        axes[2, k].set_ylim(C + 0.5, 0.5)
        axes[2, k].axvline(0, color="0.3", lw=0.8)
        if np.abs(cmean).max() < 1e-3 * bar_lim:
            axes[2, k].text(0.5, 0.5, f"all {C} are 0", transform=axes[2, k].transAxes,
                            ha="center", va="center", fontsize=9,
                            bbox={"fc": "white", "ec": "0.6"})
        axes[2, k].set_xlabel("mean over images and pixels", fontsize=9)
        axes[1, k].set_xlabel("image (B)")
        for row in range(3):
            axes[row, k].set_yticks([1, 5, 10, 15, 20] if C == 20 else [1, C])
            if k:
                axes[row, k].set_yticklabels([])
        axes[0, k].set_xticks([1, N // 2, N] if N > 2 else [1, N])
        axes[1, k].set_xticks([1, N // 2, N] if N > 2 else [1, N])
        if k == 0:
            fig.colorbar(im0, ax=axes[0, 0], pad=0.02)
            fig.colorbar(im1, ax=axes[1, 0], pad=0.02)
    fig.colorbar(im0, ax=axes[0, 1:].tolist(), shrink=0.9, pad=0.01)
    fig.colorbar(im1, ax=axes[1, 1:].tolist(), shrink=0.9, pad=0.01)
    fig.colorbar(im1, ax=axes[2, 1:].tolist(), shrink=0.9, pad=0.01).remove()  # align columns
    axes[0, 0].set_ylabel("mean\nchannel (C)")
    axes[1, 0].set_ylabel("standard deviation\nchannel (C)")
    axes[2, 0].set_ylabel("each channel's\nmean over the batch")
    fig.suptitle(f"Mean and standard deviation of each channel of each image (over its pixels): "
                 f"first convolution of the trained example network, {N} test images\n"
                 "bottom: each channel's mean over all the images and pixels (after batch "
                 "normalization, 0 for every channel)", fontsize=10)
    fig.savefig(path, dpi=72)
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
        short = {"per image (the same for all channels)": "image",
                 "per image and channel": "image_channel",
                 "per channel (the same for all images)": "channel"}[name]
        for k, d in zip((*KINDS, "instance_eps1e-10"), diffs + [exact]):
            record(f"invariance.{short}.{k}", d)
        print(f"  {name:40s}" + "".join(f"{d:10.2g}" for d in diffs) + f"{exact:25.2g}")
    smallest = record("invariance.smallest_variance", a.var(axis=(0, 1)).min())
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
        for v, acc in zip(("original", "brightness", "colour"), accs):
            record(f"robust.{kind}.{v}", acc)
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
        diff = record(f"dependence.{kind}", np.abs(y1 - y2).max())
        print(f"  image 1 normalized in two different mini-batches of 8, {kind:8s}: "
              f"max |difference| = {diff:.3g}")

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
    for B in (1, 2, 4, 8, 32, 128):
        size = min(B, count)  # (--fast has fewer test images than 128)
        batches = [acts[..., i:i + size] for i in range(0, count - size + 1, size)][:64]
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
        record(f"running.B{B}.mean_error", err_mean)
        record(f"running.B{B}.var_ratio", ratio)
        record(f"running.B{B}.gap", np.mean(gaps))
        print(f"  {B:4d} {err_mean:27.3f} {ratio:17.3f} {np.mean(gaps):36.3f}")

    # The whole network evaluated in training mode (forward: batch statistics) one small
    # mini-batch at a time, against prediction mode (predict: trained statistics).
    n = min(600, data.XTest.shape[3])
    print()
    print(f"test accuracy (%) of the batch-normalized network on {n} test images, evaluated "
          "with forward (mini-batch statistics) in mini-batches of B:")
    X, T = data.XTest[:, :, :, :n], data.TTest[:n]
    modes = {}
    for B in (1, 2, 8, 128):
        correct = 0
        for i in range(0, n, B):
            Y, _ = dl.forward(net, dl.dlarray(X[:, :, :, i:i + B], "SSCB"))
            correct += np.sum(np.argmax(dl.extractdata(Y), axis=0) == T[i:i + B])
        modes[B] = record(f"forward_mode.B{B}", 100 * correct / n)
        print(f"  forward, B = {B:3d}: {modes[B]:6.2f}")
    modes["predict"] = record("forward_mode.predict", dl.testnet(net, X, T, "accuracy"))
    record("forward_mode.images", n)
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
        record(f"params.{kind}.learnables", learn)
        record(f"params.{kind}.state", state)
        print(f"  minidl/MATLAB {kind:8s}: {learn:3d} learnables {rows}, {state:3d} state "
              f"values {srows or ''}")
    m = A.shape[0] * A.shape[1] * A.shape[3]
    record("params.unbiased_ratio", m / (m - 1))
    record("params.unbiased_M", m)
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

def raw_relative_error(op, x, offset, scale, R, step=1e-6):
    """max |dlgradient - central difference| / max |central difference|, over X, offset and
    scale of L = sum(R .* op(X, offset, scale)), in float64, every element: no allowance for
    the finite differences' own round-off is subtracted (gradcheck subtracts one)."""
    Rd = dl.dlarray(R, "SSCB")

    def loss(X, b, g):
        return float(dl.extractdata((op(X, b, g) * Rd).sum()))

    def grads(X, b, g):
        return dl.dlgradient((op(X, b, g) * Rd).sum(), X, b, g)

    values = [dl.extractdata(x), dl.extractdata(offset), dl.extractdata(scale)]
    wrap = (lambda v: dl.dlarray(v, "SSCB"), dl.dlarray, dl.dlarray)
    analytic = [dl.extractdata(g) for g in dl.dlfeval(grads, x, offset, scale)]
    worst = 0.0
    for k, v in enumerate(values):
        numeric = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            shifted = []
            for h in (step, -step):
                w = v.copy()
                w[i] += h
                args = [wrap[j](w if j == k else values[j]) for j in range(3)]
                shifted.append(loss(*args))
            numeric[i] = (shifted[0] - shifted[1]) / (2 * step)
        worst = max(worst, np.abs(analytic[k] - numeric).max() / np.abs(numeric).max())
    return worst


def my_instancenorm(X, offset, scale, epsilon=1e-5):
    """Instance normalization from dlarray primitives (mean, -, *, /, sqrt): the tape
    differentiates it; compare with the fused dl.instancenorm."""
    mu = X.mean((0, 1))                      # one mean per channel of each image
    xc = X - mu
    var = (xc * xc).mean((0, 1))             # the biased variance
    return xc / dl.sqrt(var + epsilon) * scale.reshape(1, 1, -1, 1) + \
        offset.reshape(1, 1, -1, 1)


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
    R = rng.standard_normal(shape)
    ops = {"batchnorm": lambda X, b, g: dl.batchnorm(X, b, g),
           "layernorm": lambda X, b, g: dl.layernorm(X, b, g),
           "instancenorm": lambda X, b, g: dl.instancenorm(X, b, g),
           "groupnorm (2 groups)": lambda X, b, g: dl.groupnorm(X, 2, b, g)}
    errors = {}
    for name, op in ops.items():
        dl.gradcheck(op, x, offset, scale, max_elements=64 if FAST else 256)  # raises if wrong
        errors[name] = raw_relative_error(op, x, offset, scale, R)
        record(f"backward.raw_error.{name.split()[0]}", errors[name])
        print(f"  gradcheck {name:22s} passed; worst relative error {errors[name]:.1e} (raw: "
              "central differences, step 1e-6, float64)")

    # The formula, written out in NumPy for instance normalization, against dlgradient.
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
    formula_error = record("backward.formula_error", np.abs(auto - manual).max())
    print(f"  the formula in NumPy against dlgradient (instancenorm): max |difference| "
          f"{formula_error:.1e}")

    # The exercise: instance normalization from primitives, differentiated by the tape.
    Rd = dl.dlarray(R, "SSCB")

    def grads(f, X, b, g):
        return dl.dlgradient((f(X, b, g) * Rd).sum(), X, b, g)

    mine = dl.dlfeval(grads, my_instancenorm, x, offset, scale)
    fused = dl.dlfeval(grads, dl.instancenorm, x, offset, scale)
    worst = max(np.abs(dl.extractdata(a) - dl.extractdata(b)).max()
                / np.abs(dl.extractdata(b)).max() for a, b in zip(mine, fused))
    record("backward.primitives_vs_fused", worst)
    forward_diff = np.abs(dl.extractdata(my_instancenorm(x, offset, scale))
                          - dl.extractdata(dl.instancenorm(x, offset, scale))).max()
    record("backward.primitives_vs_fused_forward", forward_diff)
    print(f"  instance normalization from dlarray primitives, differentiated by the tape, "
          f"against the fused op (float64): gradients {worst:.1e} (relative), outputs "
          f"{forward_diff:.1e}")

    # A bias right before a normalization: its gradient is zero (up to rounding).
    xb = dl.dlarray(rng.standard_normal((6, 6, 3, 4)), "SSCB")
    W = dl.dlarray(rng.standard_normal((3, 3, 3, 5)) * 0.3)
    bias = dl.dlarray(rng.standard_normal(5))
    Rb = dl.dlarray(rng.standard_normal((4, 4, 5, 4)), "SSCB")
    out = {}
    for kind in ("batch", "instance", "layer"):
        def conv_norm(X, Wt, b, kind=kind):
            Y = dl.dlconv(X, Wt, b)
            Y = {"batch": lambda: dl.batchnorm(Y, 0.0, 1.0),
                 "instance": lambda: dl.instancenorm(Y, 0.0, 1.0),
                 "layer": lambda: dl.layernorm(Y, 0.0, 1.0)}[kind]()
            return dl.dlgradient((Y * Rb).sum(), Wt, b)

        gW, gb = dl.dlfeval(conv_norm, xb, W, bias)
        gW, gb = np.abs(dl.extractdata(gW)).max(), np.abs(dl.extractdata(gb)).max()
        out[kind] = (gW, gb)
        record(f"bias.{kind}.weights", gW)
        record(f"bias.{kind}.bias", gb)
        print(f"  conv bias before {kind:8s} normalization: largest gradient of the weights "
              f"{gW:.2g}, of the bias {gb:.1e}")
    return errors, formula_error


# =============================================================================================
# (f) Training curves and the accuracy table
# =============================================================================================

def smooth(values, weight=0.8, start=None):
    out, avg = [], start
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
        iterations = np.concatenate([[0], hist["Iteration"]])
        losses = np.concatenate([[r["loss0"]], smooth(hist["Loss"], start=r["loss0"])])
        ax_loss.plot(iterations, losses, color=COLORS[kind], label=NAMES[kind])
        ax_loss.plot([0], [r["loss0"]], "o", ms=4, color=COLORS[kind])
        ax_acc.plot(val["Iteration"], val["Accuracy"], "-o", ms=3, color=COLORS[kind],
                    label=NAMES[kind])
    ax_loss.axhline(math.log(10), color="0.6", lw=0.8, ls="--")
    ax_loss.text(len(results["none"]["info"].TrainingHistory["Iteration"]) * 0.55,
                 math.log(10) * 1.08, "ln 10: uniform guess", fontsize=8, color="0.4")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration (0: the untrained network)")
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
# (g) Small mini-batches
# =============================================================================================

SMALL_BATCHES = (2, 4, 8, 32)
SMALL_KINDS = ("batch", "group", "instance")


def part_g(data):
    """Batch, group and instance normalization trained with mini-batches of 2 to 32 images.

    As in Wu & He's Figure 1: the same number of epochs for every mini-batch size and a learning
    rate proportional to it (0.02 * B/32), so that every run sees the same images equally often.
    """
    section("(g) Small mini-batches: batch, group and instance normalization")
    n = 48 if FAST else 1500
    epochs = 1 if FAST else 3
    X, T = data.XTrain[:, :, :, :n], data.TTrain[:n]
    record("small.train_images", n)
    record("small.epochs", epochs)
    print(f"{n} training images, {epochs} epochs, sgdm, learning rate 0.02 * B / 32; test "
          f"accuracy (%) on {data.XTest.shape[3]} test images (predict):")
    print(f"  {'B':>4s}" + "".join(f"{k:>10s}" for k in SMALL_KINDS) + f"{'seconds':>10s}")
    curves, accuracy = {}, {}
    tic = time.time()
    for B in SMALL_BATCHES:
        row_tic = time.time()
        for kind in SMALL_KINDS:
            dl.rng(0)
            options = dl.trainingOptions("sgdm", InitialLearnRate=0.02 * B / 32,
                                         MaxEpochs=epochs, MiniBatchSize=B,
                                         Shuffle="every-epoch", Verbose=False)
            net, info = dl.trainnet(X, T, example_layers(kind), "crossentropy", options)
            accuracy[kind, B] = record(f"small.{kind}.B{B}",
                                       dl.testnet(net, data.XTest, data.TTest, "accuracy"))
            hist = info.TrainingHistory
            curves[kind, B] = (np.asarray(hist["Iteration"]) * B / n, np.asarray(hist["Loss"]))
        print(f"  {B:4d}" + "".join(f"{accuracy[k, B]:10.2f}" for k in SMALL_KINDS)
              + f"{time.time() - row_tic:10.1f}")
    record("small.seconds", time.time() - tic)
    draw_small_batches(OUT / "normalization_small_batch.png", curves, accuracy, n)
    print(f"figure: {OUT / 'normalization_small_batch.png'}")


def draw_small_batches(path, curves, accuracy, n):
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SMALL_BATCHES) + 1, figsize=(14, 3.3))
    for ax, B in zip(axes, SMALL_BATCHES):
        window = max(1, 64 // B)                 # average the losses of about 64 images
        for kind in SMALL_KINDS:
            epoch, loss = curves[kind, B]
            if len(loss) >= window:
                loss = np.convolve(loss, np.ones(window) / window, mode="valid")
                epoch = epoch[window - 1:]
            ax.plot(epoch, loss, color=COLORS[kind], lw=1, label=kind)
        ax.set_yscale("log")
        ax.set_title(f"mini-batches of {B}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training loss")
    axes[0].legend(fontsize="small")
    ax = axes[-1]
    for kind in SMALL_KINDS:
        ax.plot(SMALL_BATCHES, [accuracy[kind, B] for B in SMALL_BATCHES], "-o", ms=4,
                color=COLORS[kind], label=kind)
    ax.set_xscale("log", base=2)
    ax.set_xticks(SMALL_BATCHES, [str(B) for B in SMALL_BATCHES])
    ax.set_xlabel("images per mini-batch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    fig.suptitle(f"The example with batch, group (4 groups) and instance normalization, {n} "
                 "training images, learning rate 0.02 * B / 32", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


# =============================================================================================
# (h) Features and sequences
# =============================================================================================

def statistics_layout(labels, fmt, shape, groups):
    """(number of statistics, elements each) when the labels in ``labels`` share statistics and
    the C dimension forms ``groups`` groups (C shared) or stays per channel (C not shared)."""
    size = dict(zip(fmt, shape))
    shared = math.prod(n for d, n in zip(fmt, shape) if d in labels and d != "C")
    if "C" in labels:
        per = size["C"] // groups
        return math.prod(shape) // (shared * per), shared * per
    return math.prod(shape) // shared, shared


def part_h():
    section("(h) Features ('CB') and sequences ('CBT')")
    C, B, T = 16, 32, 50
    cases = [("batch", "batch", SHARED_LABELS["batch"], channel_groups("batch", C)),
             ("layer (auto)", "layer_auto", None, 1),
             ("layer (batch-excluded)", "layer_batch_excluded",
              layer_shared_labels("batch-excluded", "CBT"), 1),
             ("instance", "instance", SHARED_LABELS["instance"], C),
             ("group (4 groups)", "group", SHARED_LABELS["group"], 4)]
    print(f"  {'':24s} {'CB ' + str(C) + 'x' + str(B):>22s} {'CBT ' + f'{C}x{B}x{T}':>24s}")
    for name, key, labels, groups in cases:
        row = []
        for fmt, shape in (("CB", (C, B)), ("CBT", (C, B, T))):
            lab = layer_shared_labels("auto", fmt) if labels is None else labels
            count, each = statistics_layout(lab, fmt, shape, groups)
            record(f"features.{key}.{fmt}.statistics", count)
            record(f"features.{key}.{fmt}.elements", each)
            row.append(f"{count:6d} of {each:5d} elements")
        print(f"  {name:24s} {row[0]:>22s} {row[1]:>24s}")

    rng = np.random.default_rng(5)
    features = dl.dlarray(rng.standard_normal((C, B)).astype(np.float32), "CB")
    try:
        dl.instancenorm(features, 0.0, 1.0)
    except ValueError as err:
        print(f"  instancenorm on 'CB' data: ValueError: {err}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dl.batchnorm(dl.dlarray(rng.standard_normal((C, 1)).astype(np.float32), "CB"), 0.0, 1.0)
    for w in caught:
        print(f"  batchnorm on one observation of 'CB' data: {w.category.__name__}: {w.message}")

    # Layer normalization of a sequence: over C and T together, or per time step.
    x = rng.standard_normal((C, 4, T)).astype(np.float32) * 2 + 1
    later = x.copy()
    later[:, :, -1] += 5                      # change only the last time step
    X, X2 = dl.dlarray(x, "CBT"), dl.dlarray(later, "CBT")
    for dim in ("batch-excluded", "channel-only"):
        Y1 = dl.extractdata(dl.layernorm(X, 0.0, 1.0, OperationDimension=dim))
        Y2 = dl.extractdata(dl.layernorm(X2, 0.0, 1.0, OperationDimension=dim))
        leak = record(f"sequence.leak.{dim.replace('-', '_')}", np.abs(Y1 - Y2)[:, :, 0].max())
        print(f"  layernorm, OperationDimension='{dim}': changing the last time step changes "
              f"the output at time step 1 by up to {leak:.3g}")
    per_step = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)   # LayerNorm(C) in PyTorch
    ours = dl.extractdata(dl.layernorm(X, 0.0, 1.0, OperationDimension="channel-only"))
    diff = record("sequence.per_step_vs_reference", np.abs(ours - per_step).max())
    print(f"  'channel-only' against a per-time-step NumPy reference (PyTorch's LayerNorm(C) "
          f"formula): max |difference| {diff:.1e}")
    layer = dl.layerNormalizationLayer()
    print(f"  layerNormalizationLayer().OperationDimension = '{layer.OperationDimension}'")


# =============================================================================================
# (i) Running averages: momentum and decay
# =============================================================================================

# Each framework's default, and the weight it gives the NEW mini-batch's statistic.
MOMENTUM = [("matlab", "MATLAB MeanDecay / VarianceDecay", 0.1, 0.1),
            ("pytorch", "PyTorch momentum", 0.1, 0.1),
            ("keras", "Keras momentum", 0.99, 0.01),
            ("mxnet", "MXNet momentum", 0.9, 0.1),
            ("chainer", "Chainer decay", 0.9, 0.1),
            ("caffe", "Caffe moving_average_fraction", 0.999, 0.001)]


def part_i():
    section("(i) Running averages: momentum and decay")
    print(f"  {'framework and parameter':34s} {'default':>8s} {'new-batch weight':>17s} "
          f"{'1/weight':>9s} {'half-life (batches)':>20s}")
    for key, name, default, alpha in MOMENTUM:
        half = math.log(0.5) / math.log(1 - alpha)
        record(f"momentum.{key}.default", default)
        record(f"momentum.{key}.weight", alpha)
        record(f"momentum.{key}.window", 1 / alpha)
        record(f"momentum.{key}.half_life", half)
        print(f"  {name:34s} {default:8g} {alpha:17g} {1 / alpha:9g} {half:20.1f}")
    record("momentum.last_window_share", 1 - 0.9 ** 10)

    # The trap, measured: a stream of mini-batches whose true channel mean is 1; how far is the
    # running mean from 1 after 200 mini-batches with each rule? (rms over the last 100 steps)
    rng = np.random.default_rng(6)
    steps, C = 200, 64
    batches = [rng.standard_normal((C, 16)).astype(np.float32) + 1 for _ in range(steps)]
    rules = {"decay_0.1": lambda k: 0.1, "decay_0.01": lambda k: 0.01,
             "decay_0.99": lambda k: 0.99, "cumulative": lambda k: 1 / k}
    for name, decay in rules.items():
        mean, var = np.zeros(C, np.float32), np.ones(C, np.float32)
        errors = []
        for k, b in enumerate(batches, start=1):
            _, mean, var = dl.batchnorm(dl.dlarray(b, "CB"), 0.0, 1.0, mean, var,
                                        MeanDecay=decay(k), VarianceDecay=decay(k))
            if k > steps // 2:
                errors.append(np.sqrt(np.mean((mean - 1) ** 2)))
        err = record(f"momentum.trap.{name.replace('.', '')}", np.mean(errors))
        print(f"  running mean with MeanDecay {name.replace('_', ' '):12s}: rms error "
              f"{err:.3f} (one mini-batch's mean: {1 / 4:.3f})")
    record("momentum.trap.batch_noise", 1 / np.sqrt(16))


# =============================================================================================

def main():
    tic = time.time()
    data = dl.digits(num_images=600 if FAST else 10000, color=True)
    part_a()
    section("(f, first) Training the example with each normalization")
    tic_train = time.time()
    results = train_all(data)
    record("time.training_s", time.time() - tic_train)
    A = part_b(results, data)
    _, robust = part_c(results, data, A)
    part_d(results, data, A)
    part_e()
    part_f(results, robust)
    part_g(data)
    part_h()
    part_i()
    elapsed = record("time.total_s", time.time() - tic)
    write_numbers(NUMBERS)
    print()
    print(f"numbers: {NUMBERS}")
    print(f"Elapsed time: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
