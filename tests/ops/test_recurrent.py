"""lstm and gru ops, the sequence layers, and the sequence padding helpers."""

from __future__ import annotations

import numpy as np
import pytest

import minidl as dl
from minidl.data.sequences import (
    SequenceObservations,
    pad_sequences,
    sequence_observations,
)
from minidl.layers.recurrent import (
    BiLSTMLayer,
    GRULayer,
    bilstmLayer,
    gruLayer,
    lstmLayer,
    sequenceInputLayer,
)
from minidl.ops.recurrent import gru, lstm
from tests.conftest import dev, host

MODES = ["after-multiplication", "before-multiplication", "recurrent-bias-after-multiplication"]


# ---- step-by-step references, written from the equations (one time step, one loop) ------------

def sig(x):
    return 1 / (1 + np.exp(-x))


def lstm_reference(x, h0, c0, W, R, b):
    """x: C x N x T; h0, c0: H x N. Gates stacked i, f, g, o (MATLAB's order)."""
    H = R.shape[1]
    h, c, ys = h0, c0, []
    for t in range(x.shape[2]):
        a = W @ x[:, :, t] + R @ h + b[:, None]
        i, f = sig(a[:H]), sig(a[H:2 * H])
        g, o = np.tanh(a[2 * H:3 * H]), sig(a[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys, axis=2), h, c


def gru_reference(x, h0, W, R, b, mode):
    """Gates stacked r, z, candidate; h = (1 - z) h̃ + z h_prev."""
    H = R.shape[1]
    bx, bR = b[:3 * H, None], (b[3 * H:, None] if b.size == 6 * H else np.zeros((3 * H, 1)))
    h, ys = h0, []
    for t in range(x.shape[2]):
        ax = W @ x[:, :, t] + bx
        rec = R @ h + bR
        r = sig(ax[:H] + rec[:H])
        z = sig(ax[H:2 * H] + rec[H:2 * H])
        if mode == "before-multiplication":
            cand = np.tanh(ax[2 * H:] + R[2 * H:] @ (r * h))
        else:
            cand = np.tanh(ax[2 * H:] + r * rec[2 * H:])
        h = (1 - z) * cand + z * h
        ys.append(h)
    return np.stack(ys, axis=2), h


def _lstm_args(rng, C=3, N=2, T=5, H=4):
    return (rng.standard_normal((C, N, T)), rng.standard_normal((H, N)),
            rng.standard_normal((H, N)), rng.standard_normal((4 * H, C)) * 0.5,
            rng.standard_normal((4 * H, H)) * 0.5, rng.standard_normal(4 * H) * 0.5)


def _gru_args(rng, mode, C=3, N=2, T=5, H=4):
    nb = 6 * H if mode == MODES[2] else 3 * H
    return (rng.standard_normal((C, N, T)), rng.standard_normal((H, N)),
            rng.standard_normal((3 * H, C)) * 0.5, rng.standard_normal((3 * H, H)) * 0.5,
            rng.standard_normal(nb) * 0.5)


# ---- ops: forward against the reference ---------------------------------------------------------

def test_lstm_matches_step_by_step_reference(xp, rng):
    x, h0, c0, W, R, b = _lstm_args(rng)
    Y, hT, cT = lstm(dl.dlarray(dev(xp, x.astype(np.float32)), "CBT"),
                     *(dev(xp, a.astype(np.float32)) for a in (h0, c0, W, R, b)))
    ry, rh, rc = lstm_reference(x, h0, c0, W, R, b)
    assert Y.fmt == "CBT" and Y.shape == (4, 2, 5) and Y.dtype == np.float32
    assert hT.fmt == "CB" and cT.fmt == "CB" and hT.dtype == np.float32
    np.testing.assert_allclose(host(Y), ry, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(hT), rh, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(cT), rc, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_gru_matches_step_by_step_reference(xp, rng, mode):
    x, h0, W, R, b = _gru_args(rng, mode)
    Y, hT = gru(dl.dlarray(dev(xp, x.astype(np.float32)), "CBT"),
                *(dev(xp, a.astype(np.float32)) for a in (h0, W, R, b)), ResetGateMode=mode)
    ry, rh = gru_reference(x, h0, W, R, b, mode)
    assert Y.dtype == np.float32 and Y.fmt == "CBT"
    np.testing.assert_allclose(host(Y), ry, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(hT), rh, rtol=1e-5, atol=1e-5)


def test_shared_initial_state_and_unformatted_layout(rng):
    """An H x 1 initial state serves every observation; DataFormat "TCB" reads T x C x N and
    gives an unformatted result in that layout."""
    x, h0, c0, W, R, b = _lstm_args(rng)
    h1, c1 = h0[:, :1], c0[:, :1]
    ry, rh, _ = lstm_reference(x, np.repeat(h1, 2, 1), np.repeat(c1, 2, 1), W, R, b)
    Y, hT, _ = lstm(dl.dlarray(x.transpose(2, 0, 1)), h1, c1, W, R, b, DataFormat="TCB")
    assert Y.fmt == "" and Y.shape == (5, 4, 2) and hT.fmt == ""
    np.testing.assert_allclose(host(Y), ry.transpose(2, 0, 1), rtol=1e-10)
    np.testing.assert_allclose(host(hT), rh, rtol=1e-10)


def test_single_time_step_cb_input(rng):
    x, h0, c0, W, R, b = _lstm_args(rng, T=1)
    Y, _, _ = lstm(dl.dlarray(x[:, :, 0], "CB"), h0, c0, W, R, b)
    assert Y.fmt == "CB"
    np.testing.assert_allclose(host(Y), lstm_reference(x, h0, c0, W, R, b)[0][:, :, 0])


# ---- ops: gradients against finite differences --------------------------------------------------

def _loss_of_outputs(outs, weights):
    return sum((o * w).sum() for o, w in zip(outs, weights))


def test_lstm_gradients_for_every_input(rng):
    x, h0, c0, W, R, b = _lstm_args(rng, T=4)
    ws = [dl.dlarray(rng.standard_normal(s)) for s in ((4, 2, 4), (4, 2), (4, 2))]
    ws[0] = dl.dlarray(ws[0].extractdata(), "CBT")
    ws[1], ws[2] = dl.dlarray(ws[1].extractdata(), "CB"), dl.dlarray(ws[2].extractdata(), "CB")
    args = [dl.dlarray(x, "CBT")] + [dl.dlarray(a) for a in (h0[:, :1], c0, W, R, b)]
    err = dl.gradcheck(lambda *a: _loss_of_outputs(lstm(*a), ws), *args)
    assert err < 1e-6


@pytest.mark.parametrize("mode", MODES)
def test_gru_gradients_for_every_input(rng, mode):
    x, h0, W, R, b = _gru_args(rng, mode, T=4)
    ws = [dl.dlarray(rng.standard_normal((4, 2, 4)), "CBT"),
          dl.dlarray(rng.standard_normal((4, 2)), "CB")]
    args = [dl.dlarray(x, "CBT")] + [dl.dlarray(a) for a in (h0, W, R, b)]
    err = dl.gradcheck(lambda *a: _loss_of_outputs(gru(*a, ResetGateMode=mode), ws), *args)
    assert err < 1e-6


def test_gradients_through_unformatted_layout(rng):
    x, h0, c0, W, R, b = _lstm_args(rng, T=3)
    args = [dl.dlarray(x.transpose(2, 0, 1))] + [dl.dlarray(a) for a in (h0, c0, W, R, b)]
    wy = rng.standard_normal((3, 4, 2))
    err = dl.gradcheck(lambda *a: (lstm(*a, DataFormat="TCB")[0] * wy).sum(), *args)
    assert err < 1e-6


def test_gradients_are_float32_for_float32_inputs(xp, rng):
    x, h0, c0, W, R, b = (dev(xp, a.astype(np.float32)) for a in _lstm_args(rng))

    def f(X, W, R, b):
        Y, _, _ = lstm(X, h0, c0, W, R, b)
        return Y.sum(), dl.dlgradient(Y.sum(), X, W, R, b)

    _, grads = dl.dlfeval(f, dl.dlarray(x, "CBT"), *(dl.dlarray(a) for a in (W, R, b)))
    assert all(g.dtype == np.float32 for g in grads)
    assert grads[0].fmt == "CBT" and grads[3].shape == (16,)


# ---- ops: errors ------------------------------------------------------------------------------

def test_op_errors_name_the_argument_and_size(rng):
    x, h0, c0, W, R, b = _lstm_args(rng)
    X = dl.dlarray(x, "CBT")
    with pytest.raises(ValueError, match=r"lstm: weights must be a 16x3 matrix"):
        lstm(X, h0, c0, W[:, :2], R, b)
    with pytest.raises(ValueError, match=r"lstm: recurrentWeights must be a 4\*NumHiddenUnits"):
        lstm(X, h0, c0, W, R[:5], b)
    with pytest.raises(ValueError, match=r"lstm: bias must have 16 elements"):
        lstm(X, h0, c0, W, R, b[:4])
    with pytest.raises(ValueError, match=r"lstm: H0 must be 4x1 or 4x2"):
        lstm(X, h0[:3], c0, W, R, b)
    with pytest.raises(ValueError, match=r"format 'SSCB'"):
        lstm(dl.dlarray(np.zeros((2, 2, 3, 2)), "SSCB"), h0, c0, W, R, b)
    with pytest.raises(ValueError, match="DataFormat"):
        lstm(dl.dlarray(x), h0, c0, W, R, b)
    with pytest.raises(ValueError, match=r"ResetGateMode must be"):
        gru(X, h0, W[:12], R[:12], b[:12], ResetGateMode="sometimes")
    with pytest.raises(ValueError, match=r"6\*NumHiddenUnits"):
        gru(X, h0, W[:12], R[:12], b[:12], ResetGateMode=MODES[2])


# ---- layers -------------------------------------------------------------------------------------

def _classifier(hidden=8):
    return dl.LayerArray([sequenceInputLayer(3), lstmLayer(hidden, OutputMode="last"),
                          dl.fullyConnectedLayer(2), dl.softmaxLayer()])


def test_layer_array_and_property_displays():
    text = repr(_classifier())
    assert "Sequence Input    Sequence input with 3 dimensions" in text
    assert "LSTM              LSTM with 8 hidden units" in text
    shown = repr(lstmLayer(100, OutputMode="last", Name="lstm1"))
    for line in ("LSTMLayer with properties:", "Name: 'lstm1'", "NumHiddenUnits: 100",
                 "OutputMode: 'last'", "InputSize: 'auto'", "InputWeights: []",
                 "State Parameters", "HiddenState: []", "CellState: []"):
        assert line in shown
    assert "ResetGateMode: 'after-multiplication'" in repr(gruLayer(5))
    assert gruLayer(5).description() == "GRU with 5 hidden units"
    assert "MinLength: 1" in repr(sequenceInputLayer(12))


def test_network_learnables_state_and_matlab_initializers(xp):
    dl.rng(0)
    net = dl.dlnetwork(_classifier())
    rows = list(zip(net.Learnables.Layer, net.Learnables.Parameter))
    assert rows[:3] == [("lstm", "InputWeights"), ("lstm", "RecurrentWeights"), ("lstm", "Bias")]
    assert list(zip(net.State.Layer, net.State.Parameter)) == [("lstm", "HiddenState"),
                                                              ("lstm", "CellState")]
    W, R, b, *_ = (host(v) for v in net.Learnables.Value)
    assert W.shape == (32, 3) and R.shape == (32, 8) and b.shape == (32, 1)
    assert np.abs(W).max() <= np.sqrt(6 / (3 + 32))  # glorot, fan in 3, fan out 4H
    np.testing.assert_allclose(R.T @ R, np.eye(8), atol=1e-5)  # orthogonal columns
    np.testing.assert_array_equal(b.ravel(), np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
    assert all(host(v).shape == (8, 1) and not host(v).any() for v in net.State.Value)
    assert net.Layers[1].factors("Bias") == (1.0, 0.0)
    assert GRULayer(4).BiasInitializer == "zeros"


def test_layer_outputs_and_state_updates(xp, rng):
    dl.rng(1)
    net = dl.dlnetwork([sequenceInputLayer(3), lstmLayer(6)])
    x = rng.standard_normal((3, 4, 7)).astype(np.float32)
    X = dl.dlarray(dev(xp, x), "CBT")
    Y = net.predict(X)
    assert Y.fmt == "CBT" and Y.shape == (6, 4, 7) and Y.dtype == np.float32
    lay = net.Layers[1]
    ref = lstm_reference(x.astype(np.float64), np.zeros((6, 4)), np.zeros((6, 4)),
                         host(lay.InputWeights), host(lay.RecurrentWeights),
                         host(lay.Bias).ravel())
    np.testing.assert_allclose(host(Y), ref[0], rtol=1e-4, atol=1e-5)
    Y2, state = net.forward(X)
    np.testing.assert_allclose(host(state.Value[0]), ref[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(host(state.Value[1]), ref[2], rtol=1e-4, atol=1e-5)
    # stored H x N states are the initial states of the next call (stateful prediction)
    layer = lstmLayer(6, InputWeights=host(lay.InputWeights),
                      RecurrentWeights=host(lay.RecurrentWeights), Bias=host(lay.Bias),
                      HiddenState=ref[1][:, :1], CellState=ref[2][:, :1])
    net2 = dl.dlnetwork([sequenceInputLayer(3), layer])
    Z = net2.predict(dl.dlarray(dev(xp, x[:, :1]), "CBT"))
    np.testing.assert_allclose(host(Z), lstm_reference(x[:, :1].astype(np.float64), ref[1][:, :1],
                                                       ref[2][:, :1], *ref_params(lay))[0],
                               rtol=1e-4, atol=1e-5)


def ref_params(layer):
    return host(layer.InputWeights), host(layer.RecurrentWeights), host(layer.Bias).ravel()


def test_gru_layer_in_network(rng):
    dl.rng(2)
    net = dl.dlnetwork([sequenceInputLayer(2), gruLayer(5, OutputMode="last",
                                                        ResetGateMode=MODES[2])])
    lay = net.Layers[1]
    assert host(lay.Bias).shape == (30, 1)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    Y = net.predict(dl.dlarray(x, "CBT"))
    ref = gru_reference(x.astype(np.float64), np.zeros((5, 3)), *ref_params(lay), MODES[2])
    assert Y.fmt == "CB"
    np.testing.assert_allclose(host(Y), ref[1], rtol=1e-4, atol=1e-5)


def test_custom_loop_learns_sign_of_sequence_sum(xp):
    """[sequenceInputLayer(3), lstmLayer(8, OutputMode="last"), fc(2), softmax], trained with
    dlfeval/dlgradient/adamupdate to tell whether a sequence's sum is positive."""
    dl.rng(0)
    gen = np.random.default_rng(0)
    x = gen.standard_normal((3, 64, 6)).astype(np.float32)
    labels = (x.sum(axis=(0, 2)) > 0).astype(int)
    T = dev(xp, np.eye(2, dtype=np.float32)[labels].T)
    X = dl.dlarray(dev(xp, x), "CBT")
    net = dl.dlnetwork(_classifier())

    def model_loss(net, X, T):
        Y, state = dl.forward(net, X)
        loss = dl.crossentropy(Y, dl.dlarray(T, "CB"))
        return loss, dl.dlgradient(loss, net.Learnables), state

    avg = avg_sq = None
    losses = []
    for iteration in range(1, 61):
        loss, grads, state = dl.dlfeval(model_loss, net, X, T)
        assert host(state.Value[0]).shape == (8, 64)
        net, avg, avg_sq = dl.adamupdate(net, grads, avg, avg_sq, iteration, 0.02)
        losses.append(float(host(loss)))
    assert losses[-1] < 0.5 * losses[0]
    accuracy = np.mean(np.argmax(host(net.predict(X)), axis=0) == labels)
    assert accuracy > 0.85


def test_sequence_input_layer_checks_and_normalization(rng):
    layer = sequenceInputLayer(2, MinLength=3, Normalization="zscore")
    seqs = [rng.standard_normal((2, n)) * 3 + 5 for n in (4, 7, 5)]
    layer.fit_normalization(seqs)
    allsteps = np.concatenate(seqs, axis=1)
    np.testing.assert_allclose(layer.Mean.ravel(), allsteps.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(layer.StandardDeviation.ravel(), allsteps.std(axis=1), rtol=1e-5)
    X = dl.dlarray(allsteps[:, None, :].astype(np.float32), "CBT")
    Z = host(layer.predict(X))
    np.testing.assert_allclose(Z.mean(axis=2).ravel(), 0, atol=1e-5)
    with pytest.raises(ValueError, match="at least MinLength = 3 time steps, got 2"):
        layer.predict(dl.dlarray(np.zeros((2, 1, 2), np.float32), "CBT"))
    with pytest.raises(ValueError, match="expects sequences with 2 channels, got 3"):
        layer.predict(dl.dlarray(np.zeros((3, 1, 4), np.float32), "CBT"))
    one = np.arange(18.0).reshape(9, 2)  # raw data in trainnet's layout: S x C ...
    assert layer.prepare(one).fmt == "CBT" and layer.prepare(one).shape == (2, 1, 9)
    np.testing.assert_array_equal(host(layer.prepare(one))[:, 0, :], one.T)
    many = rng.standard_normal((4, 9, 2))  # ... and N x S x C
    np.testing.assert_array_equal(host(layer.prepare(many)), many.transpose(2, 0, 1)
                                  .astype(np.float32))


def test_layer_errors():
    with pytest.raises(ValueError, match="lstmLayer: OutputMode"):
        lstmLayer(4, OutputMode="first")
    with pytest.raises(ValueError, match=r"lstmLayer: InputWeights must have size 16x"):
        lstmLayer(4, InputWeights=np.zeros((12, 3)))
    with pytest.raises(ValueError, match=r"gruLayer: Bias must have 24 elements"):
        gruLayer(4, ResetGateMode=MODES[2], Bias=np.zeros(12))
    with pytest.raises(ValueError, match="StateActivationFunction must be 'tanh'"):
        lstmLayer(4, StateActivationFunction="relu")
    with pytest.raises(ValueError, match="numHiddenUnits"):
        lstmLayer(0)
    with pytest.raises(ValueError, match=r"expects sequence input with format 'CBT'"):
        dl.dlnetwork([dl.imageInputLayer([4, 4, 1]), lstmLayer(3)])
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(3), lstmLayer(2, HiddenState=np.zeros((2, 1)))])
    layer = net.Layers[1]
    layer.HiddenState = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"HiddenState of size 2x5, from a mini-batch of 5 "
                                         r"observations, but this input has 4: it must be 2x1"):
        layer.predict(dl.dlarray(np.zeros((3, 4, 2), np.float32), "CBT"))


def test_layers_save_and_load(tmp_path):
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(3, MinLength=2), gruLayer(4, OutputMode="last")])
    dl.save(net, tmp_path / "net.npz")
    back = dl.load(tmp_path / "net.npz")
    X = dl.dlarray(np.ones((3, 2, 5), np.float32), "CBT")
    np.testing.assert_array_equal(host(back.predict(X)), host(net.predict(X)))
    assert back.Layers[1].ResetGateMode == "after-multiplication"


# ---- sequence padding helpers --------------------------------------------------------------------

def _toy():
    """Three one-channel sequences: S x 1 arrays (MATLAB's trainnet layout) or 1-D arrays."""
    return [np.array([[1.0], [2], [3]]), np.array([1.0, 2, 3, 4, 5]), np.array([7.0, 8])]


def test_pad_right_left_and_shortest():
    Y, mask = pad_sequences(_toy(), SequencePaddingValue=-1)
    np.testing.assert_array_equal(Y[0], [[1, 2, 3, -1, -1], [1, 2, 3, 4, 5], [7, 8, -1, -1, -1]])
    np.testing.assert_array_equal(mask.sum(axis=1), [3, 5, 2])
    assert Y.dtype == np.float32 and Y.shape == (1, 3, 5)
    Y, mask = pad_sequences(_toy(), SequencePaddingDirection="left")
    np.testing.assert_array_equal(Y[0], [[0, 0, 1, 2, 3], [1, 2, 3, 4, 5], [0, 0, 0, 7, 8]])
    Y, _ = pad_sequences(_toy(), SequenceLength="shortest")
    np.testing.assert_array_equal(Y[0], [[1, 2], [1, 2], [7, 8]])
    Y, _ = pad_sequences(_toy(), SequenceLength="shortest", SequencePaddingDirection="left")
    np.testing.assert_array_equal(Y[0], [[2, 3], [4, 5], [7, 8]])


def test_integer_sequence_length_is_refused_until_it_is_supported():
    with pytest.raises(ValueError, match="SequenceLength 2 is not supported yet"):
        pad_sequences(_toy(), SequenceLength=2)
    with pytest.raises(ValueError, match="SequenceLength 4 is not supported yet"):
        dl.trainingOptions("adam", SequenceLength=4)  # checked as early as MATLAB checks
    with pytest.raises(ValueError, match="SequenceLength 4 is not supported yet"):
        sequence_observations(_toy(), 1, SequenceLength=4)


def test_sequence_observations_batches(xp, rng):
    seqs = [dev(xp, rng.standard_normal((n, 3)).astype(np.float32)) for n in (4, 6, 2, 5)]
    obs = sequence_observations(seqs, 3, SequencePaddingDirection="left")  # S x C sequences
    assert isinstance(obs, SequenceObservations) and obs.N == 4
    B = obs.batch(dev(xp, np.array([3, 0])))
    ref, _ = pad_sequences([host(seqs[3]), host(seqs[0])], SequencePaddingDirection="left")
    assert B.fmt == "CBT" and B.shape == (3, 2, 5)
    np.testing.assert_array_equal(host(B), ref)
    np.testing.assert_array_equal(ref[:, 0, :], host(seqs[3]).T)  # C x S inside
    assert len(obs.canonical()) == 4 and host(obs.canonical()[1]).shape == (3, 6)
    columns = sequence_observations([s.T for s in seqs], 3, formats="CTB",  # trainNetwork's
                                    SequencePaddingDirection="left")
    np.testing.assert_array_equal(host(columns.batch(slice(0, 4))), host(obs.batch(slice(0, 4))))
    cube = rng.standard_normal((2, 5, 3)).astype(np.float32)  # N x S x C, the default
    np.testing.assert_array_equal(host(sequence_observations(cube, 3).batch(slice(0, 2))),
                                  cube.transpose(2, 0, 1))
    cube = rng.standard_normal((5, 3, 2)).astype(np.float32)  # T x C x N
    obs = sequence_observations(cube, 3, formats="TCB")
    np.testing.assert_array_equal(host(obs.batch(slice(0, 2))), cube.transpose(1, 2, 0))
    with pytest.raises(ValueError, match=r"size 4x2 but the sequences must be S x C .* C = 3"):
        sequence_observations([np.zeros((4, 2))], 3)
    with pytest.raises(ValueError, match="SequenceLength"):
        pad_sequences(_toy(), SequenceLength="medium")


# ---- trainnet, minibatchpredict and testnet on sequences -------------------------------------


def _sign_task(n, seed):
    """Sequences of 4-11 steps and 3 channels (S x C), labelled by the sign of their sum."""
    rng = np.random.default_rng(seed)
    seqs = [rng.standard_normal((int(rng.integers(4, 12)), 3)).astype(np.float32)
            for _ in range(n)]
    return seqs, np.array(["pos" if s.sum() > 0 else "neg" for s in seqs])


def test_trainnet_learns_from_a_cell_array_of_sequences():
    """A list of C x S sequences of different lengths (MATLAB's cell array), padded per
    mini-batch; the recurrent states are not carried from one mini-batch to the next."""
    seqs, labels = _sign_task(160, 0)
    layers = [sequenceInputLayer(3), lstmLayer(12, OutputMode="last"),
              dl.fullyConnectedLayer(2), dl.softmaxLayer()]
    opts = dl.trainingOptions("adam", MaxEpochs=12, MiniBatchSize=32, Verbose=False,
                              InitialLearnRate=0.01, SequencePaddingDirection="left")
    dl.rng(0)
    net, info = dl.trainnet(seqs, labels, layers, "crossentropy", opts)
    loss = info.TrainingHistory["Loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert [v.shape for v in net.State.Value] == [(12, 1), (12, 1)]  # initial states kept
    test_seqs, test_labels = _sign_task(60, 1)
    assert dl.testnet(net, test_seqs, test_labels, "accuracy",
                      SequencePaddingDirection="left") > 85
    scores = dl.minibatchpredict(net, test_seqs, MiniBatchSize=16,
                                 SequencePaddingDirection="left")
    assert scores.shape == (60, 2)
    # the first mini-batch alone is padded the same way, so it gives the same scores
    first = dl.minibatchpredict(net, test_seqs[:16], SequencePaddingDirection="left")
    np.testing.assert_allclose(first, scores[:16], rtol=1e-5, atol=1e-6)


def test_sequence_output_and_numeric_arrays():
    """An N x S x C array (or another layout through InputDataFormats) works as input;
    sequence output is refused by minibatchpredict with a message that says what to do."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 5, 3)).astype(np.float32)  # N x S x C
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(3), gruLayer(4, OutputMode="last"),
                        dl.fullyConnectedLayer(2), dl.softmaxLayer()])
    as_list = list(X)  # eight S x C sequences
    expected = dl.minibatchpredict(net, as_list)
    np.testing.assert_allclose(dl.minibatchpredict(net, X), expected, rtol=1e-6)
    np.testing.assert_allclose(dl.minibatchpredict(net, X.transpose(2, 0, 1),
                                                   InputDataFormats="CBT"), expected, rtol=1e-6)
    seq = dl.dlnetwork([sequenceInputLayer(3), lstmLayer(4)])
    with pytest.raises(ValueError, match="sequence output.*predict\\(net, X\\)"):
        dl.minibatchpredict(seq, as_list)


def test_a_network_with_per_observation_states_saves_loads_and_trains(tmp_path):
    """After forward, the LSTM's states are H x N; such a network round-trips through save and
    load, and trainnet starts its sequences from H x 1 zeros again."""
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(2), lstmLayer(4, OutputMode="last"),
                        dl.fullyConnectedLayer(2), dl.softmaxLayer()])
    _, state = dl.forward(net, dl.dlarray(np.ones((2, 3, 5), np.float32), "CBT"))
    net.State = state
    assert [v.shape for v in net.State.Value] == [(4, 3), (4, 3)]
    dl.save(net, tmp_path / "net.npz")
    back = dl.load(tmp_path / "net.npz")
    for a, b in zip(back.State.Value, net.State.Value):
        np.testing.assert_array_equal(host(a), host(b))
    seqs = [np.full((5, 2), k % 2, np.float32) for k in range(8)]
    trained, _ = dl.trainnet(seqs, np.array(list("abababab")), net, "crossentropy",
                             dl.trainingOptions("adam", MaxEpochs=1, MiniBatchSize=4,
                                                Verbose=False))
    assert [v.shape for v in trained.State.Value] == [(4, 1), (4, 1)]
    with pytest.raises(ValueError, match="from a mini-batch of 3 observations, but this input "
                                         "has 2: it must be 4x1"):
        net.predict(dl.dlarray(np.ones((2, 2, 5), np.float32), "CBT"))


def test_sequence_to_sequence_training_is_refused_clearly():
    seqs = [np.ones((5, 2), np.float32)] * 4
    with pytest.raises(ValueError, match="sequence-to-sequence training is not supported yet"):
        dl.trainnet(seqs, np.ones((4, 1)), [sequenceInputLayer(2), lstmLayer(3),
                                            dl.fullyConnectedLayer(1)], "mse",
                    dl.trainingOptions("adam", MaxEpochs=1, Verbose=False))


# ---- bilstmLayer --------------------------------------------------------------------------------

def bilstm_reference(x, h0, c0, W, R, b):
    """Two independent LSTMs, written from the layout: rows 0..4H-1 of W, R, b (and 0..H-1 of
    the states) drive one LSTM over x as given, rows 4H..8H-1 (H..2H-1) another over x with its
    time steps reversed. Returns the 2H x N x T sequence output (forward rows first, the
    backward output re-reversed to input time), the "last" output and the final states."""
    H = R.shape[1]
    f = lstm_reference(x, h0[:H], c0[:H], W[:4 * H], R[:4 * H], b[:4 * H])
    r = lstm_reference(x[:, :, ::-1], h0[H:], c0[H:], W[4 * H:], R[4 * H:], b[4 * H:])
    seq = np.concatenate([f[0], r[0][:, :, ::-1]], axis=0)
    last = np.concatenate([f[0][:, :, -1], r[0][:, :, ::-1][:, :, 0]], axis=0)
    return seq, last, np.concatenate([f[1], r[1]]), np.concatenate([f[2], r[2]])


def _bilstm_params(rng, C=3, H=4):
    return (rng.standard_normal((8 * H, C)) * 0.5, rng.standard_normal((8 * H, H)) * 0.5,
            rng.standard_normal(8 * H) * 0.5, rng.standard_normal((2 * H, 1)) * 0.5,
            rng.standard_normal((2 * H, 1)) * 0.5)


@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_bilstm_matches_forward_and_reversed_lstm_reference(xp, rng, mode):
    W, R, b, h0, c0 = _bilstm_params(rng)
    layer = bilstmLayer(4, OutputMode=mode, InputWeights=W.astype(np.float32),
                        RecurrentWeights=R.astype(np.float32), Bias=b.astype(np.float32),
                        HiddenState=h0.astype(np.float32), CellState=c0.astype(np.float32))
    net = dl.dlnetwork([sequenceInputLayer(3), layer])
    x = rng.standard_normal((3, 2, 6)).astype(np.float32)
    X = dl.dlarray(dev(xp, x), "CBT")
    ref = bilstm_reference(x.astype(np.float64), np.repeat(h0, 2, 1), np.repeat(c0, 2, 1),
                           W, R, b)
    Y, state = net.forward(X)
    assert Y.dtype == np.float32 and Y.fmt == ("CBT" if mode == "sequence" else "CB")
    assert Y.shape == ((8, 2, 6) if mode == "sequence" else (8, 2))
    np.testing.assert_allclose(host(Y), ref[0] if mode == "sequence" else ref[1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(net.predict(X)), host(Y), rtol=1e-6)
    hT, cT = (host(v) for v in state.Value)
    assert hT.dtype == np.float32 and hT.shape == (8, 2)
    np.testing.assert_allclose(hT, ref[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cT, ref[3], rtol=1e-5, atol=1e-5)


def test_bilstm_last_is_the_sequence_output_at_both_ends(rng):
    """"last" = forward rows of the last step and backward rows of the first step: what each
    direction has after reading the whole sequence."""
    W, R, b, _, _ = _bilstm_params(rng, H=3)
    make = [bilstmLayer(3, OutputMode=m, InputWeights=W, RecurrentWeights=R, Bias=b)
            for m in ("sequence", "last")]
    seq, last = (dl.dlnetwork([sequenceInputLayer(3), la]) for la in make)
    X = dl.dlarray(rng.standard_normal((3, 4, 5)).astype(np.float32), "CBT")
    Ys, Yl = host(seq.predict(X)), host(last.predict(X))
    np.testing.assert_allclose(Yl[:3], Ys[:3, :, -1], rtol=1e-6)
    np.testing.assert_allclose(Yl[3:], Ys[3:, :, 0], rtol=1e-6)


@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_bilstm_gradients_for_input_learnables_and_states(rng, mode):
    W, R, b, h0, c0 = _bilstm_params(rng, H=3)
    x = rng.standard_normal((3, 2, 4))
    layer = bilstmLayer(3, OutputMode=mode)

    def f(X, W, R, b, h0, c0):
        layer.InputWeights, layer.RecurrentWeights, layer.Bias = W, R, b
        layer.HiddenState, layer.CellState = h0, c0
        return layer.predict(X)

    args = [dl.dlarray(x, "CBT")] + [dl.dlarray(a) for a in (W, R, b.reshape(-1, 1), h0, c0)]
    assert dl.gradcheck(f, *args) < 1e-6


def test_bilstm_gradients_are_float32(xp, rng):
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(3), bilstmLayer(4, OutputMode="last"),
                        dl.fullyConnectedLayer(2), dl.softmaxLayer()])
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 2, 5)).astype(np.float32)), "CBT")

    def f(net, X):
        loss = dl.forward(net, X)[0].sum()
        return dl.dlgradient(loss, net.Learnables, X)

    grads, gX = dl.dlfeval(f, net, X)
    assert gX.dtype == np.float32 and gX.fmt == "CBT" and gX.shape == (3, 2, 5)
    values = [host(v) for v in grads.Value]
    assert [v.shape for v in values[:3]] == [(32, 3), (32, 4), (32, 1)]
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in values)


def test_bilstm_displays_and_matlab_initializers(xp):
    layers = dl.LayerArray([sequenceInputLayer(12), bilstmLayer(100, OutputMode="last"),
                            dl.fullyConnectedLayer(9), dl.softmaxLayer()])
    assert "BiLSTM            BiLSTM with 100 hidden units" in repr(layers)
    shown = repr(bilstmLayer(100, OutputMode="last", Name="bilstm1"))
    for line in ("BiLSTMLayer with properties:", "Name: 'bilstm1'", "NumHiddenUnits: 100",
                 "OutputMode: 'last'", "InputSize: 'auto'", "InputWeights: []",
                 "HiddenState: []", "CellState: []"):
        assert line in shown
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(3), bilstmLayer(5)])
    assert net.Layers[1].Name == "bilstm" and isinstance(net.Layers[1], BiLSTMLayer)
    W, R, b = (host(v) for v in net.Learnables.Value)
    assert W.shape == (40, 3) and R.shape == (40, 5) and b.shape == (40, 1)
    assert np.abs(W).max() <= np.sqrt(6 / (3 + 40))  # glorot, fan out 8H (minidl's reading)
    np.testing.assert_allclose(R.T @ R, np.eye(5), atol=1e-5)
    gate = np.r_[np.zeros(5), np.ones(5), np.zeros(10)]  # i, f, g, o of one direction
    np.testing.assert_array_equal(b.ravel(), np.r_[gate, gate])
    assert all(host(v).shape == (10, 1) and not host(v).any() for v in net.State.Value)
    assert net.Layers[1].factors("Bias") == (1.0, 0.0)
    Y = net.predict(dl.dlarray(dev(xp, np.ones((3, 2, 4), np.float32)), "CBT"))
    assert Y.shape == (10, 2, 4) and Y.fmt == "CBT"


def test_bilstm_errors():
    with pytest.raises(ValueError, match="bilstmLayer: OutputMode"):
        bilstmLayer(4, OutputMode="first")
    with pytest.raises(ValueError, match=r"bilstmLayer: InputWeights must have size 32x"
                                         r"InputSize \(8\*NumHiddenUnits x InputSize\)"):
        bilstmLayer(4, InputWeights=np.zeros((16, 3)))
    with pytest.raises(ValueError, match=r"bilstmLayer: RecurrentWeights must have size 32x4"):
        bilstmLayer(4, RecurrentWeights=np.zeros((16, 4)))
    with pytest.raises(ValueError, match=r"bilstmLayer: Bias must have 32 elements"):
        bilstmLayer(4, Bias=np.zeros(16))
    with pytest.raises(ValueError, match=r"bilstmLayer: HiddenState must be 2\*NumHiddenUnits "
                                         r"x 1 \(8x1\), got size 4x1"):
        bilstmLayer(4, HiddenState=np.zeros((4, 1)))
    with pytest.raises(ValueError, match="numHiddenUnits"):
        bilstmLayer(0)
    with pytest.raises(ValueError, match=r"layer 'bilstm' \(BiLSTM\) expects sequence input"):
        dl.dlnetwork([dl.imageInputLayer([4, 4, 1]), bilstmLayer(3)])
    with pytest.raises(ValueError, match=r"layer 'b' \(BiLSTM\) has InputSize 2 but its "
                                         r"input has 3 channels"):
        dl.dlnetwork([sequenceInputLayer(3), bilstmLayer(3, InputSize=2, Name="b")])
    dl.rng(0)
    layer = dl.dlnetwork([sequenceInputLayer(3), bilstmLayer(2)]).Layers[1]
    layer.HiddenState = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"HiddenState of size 4x5, from a mini-batch of 5 "
                                         r"observations, but this input has 2: it must be 4x1"):
        layer.predict(dl.dlarray(np.zeros((3, 2, 2), np.float32), "CBT"))
    with pytest.raises(ValueError, match="has no InputWeights"):
        bilstmLayer(2).predict(dl.dlarray(np.zeros((3, 2, 2), np.float32), "CBT"))


def test_bilstm_save_and_load_with_per_observation_states(tmp_path):
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(2), bilstmLayer(3, OutputMode="last"),
                        dl.fullyConnectedLayer(2), dl.softmaxLayer()])
    X = dl.dlarray(np.random.default_rng(0).standard_normal((2, 4, 5)).astype(np.float32),
                   "CBT")
    _, state = dl.forward(net, X)
    net.State = state
    assert [v.shape for v in net.State.Value] == [(6, 4), (6, 4)]
    dl.save(net, tmp_path / "net.npz")
    back = dl.load(tmp_path / "net.npz")
    assert isinstance(back.Layers[1], BiLSTMLayer) and back.Layers[1].OutputMode == "last"
    for a, b in zip(list(back.Learnables.Value) + list(back.State.Value),
                    list(net.Learnables.Value) + list(net.State.Value)):
        np.testing.assert_array_equal(host(a), host(b))
    np.testing.assert_array_equal(host(back.predict(X)), host(net.predict(X)))


def test_trainnet_trains_a_bilstm_on_a_cell_array_of_sequences():
    """Label: the sign of a sequence's FIRST step sum, the step a forward LSTM in "last" mode
    has read longest ago and the backward LSTM most recently."""
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((int(rng.integers(4, 9)), 3)).astype(np.float32)
            for _ in range(96)]
    labels = np.array(["pos" if s[0].sum() > 0 else "neg" for s in seqs])
    layers = [sequenceInputLayer(3), bilstmLayer(6, OutputMode="last"),
              dl.fullyConnectedLayer(2), dl.softmaxLayer()]
    opts = dl.trainingOptions("adam", MaxEpochs=10, MiniBatchSize=32, Verbose=False,
                              InitialLearnRate=0.02)
    dl.rng(0)
    net, info = dl.trainnet(seqs, labels, layers, "crossentropy", opts)
    loss = info.TrainingHistory["Loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert [v.shape for v in net.State.Value] == [(12, 1), (12, 1)]  # initial states kept
    assert dl.testnet(net, seqs, labels, "accuracy") > 85


def test_predict_converts_integer_sequence_data_like_minibatchpredict():
    dl.rng(0)
    net = dl.dlnetwork([sequenceInputLayer(3), lstmLayer(4, OutputMode="last"),
                        dl.fullyConnectedLayer(2)])
    Xi = np.random.default_rng(0).integers(-3, 3, (5, 7, 3))
    Y = net.predict(Xi.astype(np.int32))
    assert Y.dtype == np.float32
    np.testing.assert_allclose(host(Y), host(net.predict(Xi.astype(np.float32))), rtol=1e-6)
