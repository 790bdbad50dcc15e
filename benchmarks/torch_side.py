"""The PyTorch (CPU) side of the benchmark: the documented 7-layer example, written the way a
PyTorch user would write it.

Model: Conv2d(3, 20, 5) -> InstanceNorm2d(20, affine=True, eps=1e-5) -> ReLU -> MaxPool2d(2, 2)
-> Flatten -> Linear(2880, 10). Softmax + cross-entropy are fused in the loss,
``F.cross_entropy(logits, labels)`` (log-softmax + NLL, mean over the batch), which is what a
PyTorch user writes; inference applies ``softmax`` so both sides return probabilities.
Optimizer: ``torch.optim.SGD(lr=0.01, momentum=0.9)``.

Two memory formats are offered: "channels_last" (the input is the NHWC array viewed as NCHW,
model converted with ``.to(memory_format=torch.channels_last)``) and "contiguous" (PyTorch's
default NCHW; the input is converted to NCHW once, outside the timed region).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FORMATS = ("channels_last", "contiguous")


def build_model(memory_format: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 20, 5),
        nn.InstanceNorm2d(20, affine=True, eps=1e-5),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(2880, 10),
    )
    if memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model


def to_input(x_nhwc: np.ndarray, memory_format: str) -> torch.Tensor:
    """An N x C x H x W tensor from N x H x W x C float32 memory (shared when channels-last)."""
    t = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)  # NCHW logical, NHWC memory (no copy)
    return t if memory_format == "channels_last" else t.contiguous()


def to_labels(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(labels.astype(np.int64))


class TrainStep:
    """One SGDM training step per call (forward, loss, backward, update), cycling through the
    mini-batches of a preloaded data set (batch views made beforehand)."""

    def __init__(self, x_nhwc: np.ndarray, labels: np.ndarray, batch: int, memory_format: str):
        self.model = build_model(memory_format)
        x, t = to_input(x_nhwc, memory_format), to_labels(labels)
        self.batches = [(x[i:i + batch], t[i:i + batch])
                        for i in range(0, x.shape[0] - batch + 1, batch)]
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.i = 0

    def __call__(self) -> float:
        x, t = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(x), t)
        loss.backward()
        self.opt.step()
        return loss.detach()


class Predict:
    """Inference over a whole preloaded data set in mini-batches, probabilities returned."""

    def __init__(self, x_nhwc: np.ndarray, memory_format: str, batch: int = 128):
        self.model = build_model(memory_format).eval()
        self.x = to_input(x_nhwc, memory_format)
        self.batch = batch

    def __call__(self) -> torch.Tensor:
        n = self.x.shape[0]
        out = torch.empty(n, 10)
        with torch.inference_mode():
            for i in range(0, n, self.batch):
                out[i:i + self.batch] = F.softmax(self.model(self.x[i:i + self.batch]), dim=1)
        return out


def train_epoch(x_nhwc: np.ndarray, labels: np.ndarray, batch: int = 128,
                memory_format: str = "channels_last", seed: int = 0) -> nn.Module:
    """One epoch from a fresh model, the loop equivalent of trainnet with sgdm.

    Like trainnet's defaults: the data are shuffled once, the trailing partial mini-batch is
    dropped, SGD with momentum 0.9, learning rate 0.01 and L2 regularization 1e-4 (PyTorch's
    weight_decay, which adds 1e-4 * w to every gradient, as trainnet's L2Regularization does).
    """
    model = build_model(memory_format, seed)
    x = to_input(x_nhwc, memory_format)
    t = to_labels(labels)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=g)
    for i in range(0, x.shape[0] - batch + 1, batch):
        idx = order[i:i + batch]
        xb = x[idx]
        if memory_format == "channels_last":
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), t[idx])
        loss.backward()
        opt.step()
    return model


def set_threads(n: int) -> None:
    torch.set_num_threads(n)


def info() -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
        "torch_parallel": torch.__config__.parallel_info().splitlines()[0:6],
    }
