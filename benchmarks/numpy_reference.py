"""A hand-written plain-NumPy implementation of the benchmark network: the floor/ceiling to
compare minidl with (what NumPy alone can do, with no framework overhead).

Same model as the benchmark, channels innermost (N, H, W, C) throughout:
conv 5x5 3->20 (im2col + one GEMM) -> instance norm (affine, eps 1e-5) -> relu -> maxpool 2x2/2
-> fully connected 2880->10 -> softmax -> cross-entropy (mean over the batch), and an SGDM update
(vel = momentum * vel - lr * grad; w += vel, MATLAB's sgdmupdate).

Tricks, all exact (the gradients match PyTorch's to float32 rounding, see ``check``):
* im2col is one strided copy: the (kw, c) part of a window is 15 contiguous floats, so the windows
  are an ``as_strided`` view of shape (N, 24, 24, 5, 15) copied once into (N*576, 75);
* relu and maxpool commute (both monotone), so the pool runs first on 4x less data; the pool
  folds column pairs, then row pairs (whole rows at a time), keeping which of each pair won
  (ties: the first maximum in row-major order, PyTorch's rule), and its backward routes the
  gradient with those masks;
* reductions over rows use a ones-vector GEMV (BLAS) rather than ``sum(axis=0)``;
* in-place updates wherever a buffer is dead, and the input gradient of the first layer is not
  computed (the input needs none).
The FC weight is stored for (h, w, c) flattening; ``from_torch`` converts PyTorch's (c, h, w).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

EPS = 1e-5
K = 5  # kernel size
F_OUT = 20  # conv filters
CLASSES = 10


def init_params(seed: int = 0, in_hw: int = 28, in_c: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    oh = in_hw - K + 1
    ph = oh // 2
    fan_in_fc = ph * ph * F_OUT
    f32 = np.float32
    fan_in_conv = K * K * in_c
    return {
        "Wc": (rng.standard_normal((fan_in_conv, F_OUT)) * np.sqrt(2 / fan_in_conv)).astype(f32),
        "bc": np.zeros(F_OUT, f32),
        "gamma": np.ones(F_OUT, f32),
        "beta": np.zeros(F_OUT, f32),
        "Wf": (rng.standard_normal((CLASSES, fan_in_fc)) * np.sqrt(1 / fan_in_fc)).astype(f32),
        "bf": np.zeros(CLASSES, f32),
    }


def im2col(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) contiguous float32 -> (N*OH*OW, K*K*C) patches ordered (kh, kw, c)."""
    n, h, w, c = x.shape
    oh, ow = h - K + 1, w - K + 1
    s_n, s_h, s_w, s_c = x.strides
    win = as_strided(x, shape=(n, oh, ow, K, K * c), strides=(s_n, s_h, s_w, s_h, s_c),
                     writeable=False)
    return win.reshape(n * oh * ow, K * K * c)  # the one copy


class Net:
    """Parameters, SGDM velocities and the forward/backward of the benchmark network."""

    def __init__(self, params: dict[str, np.ndarray] | None = None, lr: float = 0.01,
                 momentum: float = 0.9):
        self.p = params if params is not None else init_params()
        self.vel = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.lr, self.momentum = lr, momentum
        self._ones_cache: dict = {}
        self.phases: dict[str, float] | None = None  # set to {} to time the phases of a step
        self._t = 0.0

    def _mark(self, phase: str) -> None:
        """Add the time since the previous mark to ``phase`` (only when ``phases`` is a dict)."""
        if self.phases is not None:
            now = time.perf_counter()
            self.phases[phase] = self.phases.get(phase, 0.0) + now - self._t
            self._t = now

    # ---- forward ------------------------------------------------------------------------------
    def _ones(self, m: int) -> np.ndarray:
        ones = self._ones_cache.get(m)
        if ones is None:
            ones = self._ones_cache[m] = np.ones(m, np.float32)
        return ones

    def _features(self, x: np.ndarray, train: bool):
        p = self.p
        n, h, w, _ = x.shape
        oh, ow = h - K + 1, w - K + 1
        s = oh * ow
        self._t = time.perf_counter()
        cols = im2col(x)
        y = cols @ p["Wc"]  # (N*S, F); the conv bias is cancelled by the norm's centring
        self._mark("dlconv fwd")
        y3 = y.reshape(n, s, F_OUT)
        ones = self._ones(s)
        inv_s = np.float32(1.0 / s)
        mu = np.matmul(ones, y3)[:, None, :]  # (N, 1, F): sums over S by BLAS (GEMV)
        mu *= inv_s
        yv = y3.reshape(n, s // _R, _R * F_OUT)  # long rows for per-(n, c) broadcasting
        yv -= _tile(mu)  # centred in place
        var = np.matmul(ones, np.square(y3))[:, None, :]
        var *= inv_s
        var += np.float32(EPS)
        rs = 1.0 / np.sqrt(var)  # (N, 1, F)
        yv *= _tile(rs)  # xhat, in place
        xhat = y3
        z = xhat.reshape(n, s * F_OUT) * np.tile(p["gamma"], s)
        z += np.tile(p["beta"], s)
        self._mark("instancenorm fwd")
        # 2x2 max pool, columns then rows, each step on whole rows; cw/rw: the second of the
        # pair won (strictly larger), so ties go to the first maximum in row-major order
        z5 = z.reshape(n, oh, ow // 2, 2, F_OUT)
        cw = z5[:, :, :, 1] > z5[:, :, :, 0]
        cm = np.maximum(z5[:, :, :, 0], z5[:, :, :, 1])  # (N, OH, PW, F)
        r4 = cm.reshape(n, oh // 2, 2, (ow // 2) * F_OUT)
        rw = r4[:, :, 1] > r4[:, :, 0]
        pooled = np.maximum(r4[:, :, 0], r4[:, :, 1])  # (N, PH, PW*F)
        np.maximum(pooled, np.float32(0), out=pooled)  # relu after the pool: same values
        self._mark("relu+maxpool fwd")
        flat = pooled.reshape(n, -1)
        logits = flat @ p["Wf"].T
        logits += p["bf"]
        self._mark("fullyconnect fwd")
        if not train:
            return logits, None
        return logits, (cols, xhat, rs, cw, rw, pooled)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities (N, 10) for a (N, H, W, C) batch."""
        logits, _ = self._features(x, train=False)
        return _softmax(logits)

    # ---- training -----------------------------------------------------------------------------
    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray):
        p = self.p
        n = x.shape[0]
        logits, (cols, xhat, rs, cw, rw, pooled) = self._features(x, train=True)
        prob = _softmax(logits)
        rows = np.arange(n)
        loss = -np.log(prob[rows, labels]).mean(dtype=np.float64)
        dlogits = prob
        dlogits[rows, labels] -= 1.0
        dlogits *= np.float32(1.0 / n)
        self._mark("softmax+crossentropy fwd+bwd")
        flat = pooled.reshape(n, -1)
        g = {"Wf": dlogits.T @ flat, "bf": dlogits.sum(axis=0)}
        dpool = (dlogits @ p["Wf"]).reshape(pooled.shape)  # (N, PH, PW*F)
        self._mark("fullyconnect bwd")
        dpool *= pooled > 0  # relu
        # maxpool backward: each pooled gradient to its window's winner, rows then columns
        n_, ph, row = pooled.shape
        drows = np.empty((n_, ph, 2, row), np.float32)
        np.multiply(dpool, rw, out=drows[:, :, 1])
        np.subtract(dpool, drows[:, :, 1], out=drows[:, :, 0])
        dcm = drows.reshape(cw.shape)  # (N, OH, PW, F)
        dz5 = np.empty(cw.shape[:3] + (2, F_OUT), np.float32)
        np.multiply(dcm, cw, out=dz5[:, :, :, 1])
        np.subtract(dcm, dz5[:, :, :, 1], out=dz5[:, :, :, 0])
        dz = dz5.reshape(n_, -1, F_OUT)
        self._mark("relu+maxpool bwd")
        s = dz.shape[1]
        dz3 = dz
        ones = self._ones(s)
        sum_dz = np.matmul(ones, dz3)[:, None, :]  # (N, 1, F)
        sum_gx = np.matmul(ones, dz3 * xhat)[:, None, :]
        g["beta"] = sum_dz.sum(axis=(0, 1))
        g["gamma"] = sum_gx.sum(axis=(0, 1))
        # dy = gamma * rs * (dz - mean(dz) - xhat * mean(dz * xhat))
        scale = rs * p["gamma"]
        inv_s = np.float32(1.0 / s)
        xv = xhat.reshape(n, s // _R, _R * F_OUT)
        dv = dz3.reshape(n, s // _R, _R * F_OUT)
        xv *= _tile(sum_gx * inv_s * scale)
        dv *= _tile(scale)
        dv -= xv
        dv -= _tile(sum_dz * inv_s * scale)
        self._mark("instancenorm bwd")
        dy = dz3.reshape(n * s, F_OUT)
        g["Wc"] = (dy.T @ cols).T
        g["bc"] = self._ones(n * s) @ dy
        self._mark("dlconv bwd")
        return loss, g

    def sgdm(self, g: dict[str, np.ndarray]) -> None:
        for k, w in self.p.items():
            v = self.vel[k]
            v *= self.momentum
            v -= self.lr * g[k]
            w += v
        self._mark("sgdm")

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        loss, g = self.loss_and_grads(x, labels)
        self.sgdm(g)
        return loss


_R = 48  # spatial positions per broadcast row (divides 24*24); rows of 48*20 floats


def _tile(v: np.ndarray) -> np.ndarray:
    """(N, 1, F) per-(sample, channel) values -> (N, 1, R*F), to broadcast over long rows."""
    return np.tile(v, (1, 1, _R))


class TrainStep:
    """One step per call, cycling through the mini-batches of a data set (like the others)."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, batch: int):
        self.net = Net()
        self.batches = [(x[i:i + batch], labels[i:i + batch])
                        for i in range(0, x.shape[0] - batch + 1, batch)]
        self.i = 0

    def __call__(self) -> float:
        x, t = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.net.step(x, t)


class ParallelTrainStep:
    """The same step with the mini-batch split into ``workers`` shards that run at the same
    time on a thread pool, each with single-threaded BLAS, their gradients summed (weighted by
    shard size, since each shard's loss is a mean). NumPy releases the GIL inside its loops and
    BLAS calls, so the shards really run in parallel: elementwise work, which NumPy otherwise
    does on one core, is spread over the cores as well. Exact for this network (every layer
    is per-observation; batch normalization would not be)."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, batch: int, workers: int = 2):
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import ThreadpoolController

        workers = max(1, min(workers, batch // 32))  # shards below ~32 images do not pay
        self.net = Net()
        self.shard_nets = [Net(self.net.p) for _ in range(workers)]  # parameters shared
        bounds = np.linspace(0, batch, workers + 1).astype(int)
        self.batches = [[(x[i + a:i + b], labels[i + a:i + b], (b - a) / batch)
                         for a, b in zip(bounds[:-1], bounds[1:])]
                        for i in range(0, x.shape[0] - batch + 1, batch)]
        self.pool = ThreadPoolExecutor(workers)
        self.blas = ThreadpoolController().select(user_api="blas")
        self.i = 0

    def __call__(self) -> float:
        shards = self.batches[self.i % len(self.batches)]
        self.i += 1
        with self.blas.limit(limits=1):
            results = list(self.pool.map(lambda a: a[0].loss_and_grads(a[1][0], a[1][1]),
                                         zip(self.shard_nets, shards)))
        g = {k: sum(r[1][k] * sh[2] for r, sh in zip(results, shards)) for k in self.net.p}
        self.net.sgdm(g)
        return sum(r[0] * sh[2] for r, sh in zip(results, shards))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = logits - logits.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


def predict_all(net: Net, x: np.ndarray, batch: int = 128) -> np.ndarray:
    out = np.empty((x.shape[0], CLASSES), np.float32)
    for i in range(0, x.shape[0], batch):
        out[i:i + batch] = net.predict(x[i:i + batch])
    return out


class ParallelPredict:
    """predict_all with each mini-batch split in halves run at the same time on two threads
    (single-threaded BLAS), as ParallelTrainStep does."""

    def __init__(self, net: Net, workers: int = 2):
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import ThreadpoolController

        self.net, self.workers = net, workers
        self.pool = ThreadPoolExecutor(workers)
        self.blas = ThreadpoolController().select(user_api="blas")

    def __call__(self, x: np.ndarray, batch: int = 128) -> np.ndarray:
        out = np.empty((x.shape[0], CLASSES), np.float32)

        def part(i: int, j: int) -> None:
            out[i:j] = self.net.predict(x[i:j])

        with self.blas.limit(limits=1):
            for i in range(0, x.shape[0], batch):
                n = min(batch, x.shape[0] - i)
                cuts = np.linspace(i, i + n, self.workers + 1).astype(int)
                list(self.pool.map(part, cuts[:-1], cuts[1:]))
        return out


def train_epoch(x: np.ndarray, labels: np.ndarray, batch: int = 128, seed: int = 0) -> Net:
    """One epoch from fresh weights: shuffle once, drop the partial batch, SGDM with L2 1e-4."""
    net = Net(init_params(seed))
    order = np.random.default_rng(seed).permutation(x.shape[0])
    for i in range(0, x.shape[0] - batch + 1, batch):
        idx = order[i:i + batch]
        _, g = net.loss_and_grads(x[idx], labels[idx])
        for k, w in net.p.items():
            g[k] += 1e-4 * w
        net.sgdm(g)
    return net


# ---- conversion from / check against PyTorch ---------------------------------------------------

def from_torch(model) -> dict[str, np.ndarray]:
    """Parameters of ``torch_side.build_model`` in this module's layout (float32 copies)."""
    conv, norm, fc = model[0], model[1], model[5]
    wc = conv.weight.detach().numpy()  # (F, C, KH, KW)
    wf = fc.weight.detach().numpy()  # (10, C*PH*PW) over (c, h, w)
    ph = int(round((wf.shape[1] / F_OUT) ** 0.5))
    return {
        "Wc": np.ascontiguousarray(wc.transpose(2, 3, 1, 0).reshape(-1, wc.shape[0])),
        "bc": conv.bias.detach().numpy().copy(),
        "gamma": norm.weight.detach().numpy().copy(),
        "beta": norm.bias.detach().numpy().copy(),
        "Wf": np.ascontiguousarray(
            wf.reshape(CLASSES, F_OUT, ph, ph).transpose(0, 2, 3, 1).reshape(CLASSES, -1)),
        "bf": fc.bias.detach().numpy().copy(),
    }


def check(n: int = 16, seed: int = 0, x: np.ndarray | None = None,
          t: np.ndarray | None = None) -> float:
    """Max relative gradient error against PyTorch on one batch (needs torch)."""
    import torch
    import torch.nn.functional as F
    import torch_side

    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.random((n, 28, 28, 3), dtype=np.float32)
        t = rng.integers(0, CLASSES, n)
    model = torch_side.build_model("contiguous", seed)
    net = Net(from_torch(model))
    loss_np, g_np = net.loss_and_grads(x.copy(), t)
    loss = F.cross_entropy(model(torch_side.to_input(x, "contiguous")), torch.from_numpy(t))
    loss.backward()
    g_t = from_torch(_GradView(model))
    worst = abs(loss_np - loss.item()) / abs(loss.item())
    for k in g_np:
        scale = max(np.abs(g_t[k]).max(), 1e-3)
        worst = max(worst, float(np.abs(g_np[k] - g_t[k]).max() / scale))
    return worst


class _GradView:
    """Makes ``from_torch`` read .grad instead of the weights."""

    def __init__(self, model):
        self.m = model

    def __getitem__(self, i):
        mod = self.m[i]
        return type("G", (), {name: _Detached(getattr(mod, name).grad)
                              for name in ("weight", "bias")})


class _Detached:
    def __init__(self, t):
        self.t = t

    def detach(self):
        return self.t.detach()


if __name__ == "__main__":
    print(f"max relative gradient error vs PyTorch, random images: {check():.2e}")
    from run import data

    xd, td, what = data(64)
    print(f"max relative gradient error vs PyTorch, {what}: {check(x=xd, t=td):.2e}")
