"""Known answers of the e-prop network traces (bpl.eprop), float64."""

from __future__ import annotations

import pytest
import torch

import bpl
from bpl.eprop import NetworkTraces
from bpl.experiments import SequenceLearner

T, B, I, H = 6, 3, 4, 5
DT = torch.float64


def _rnn(alpha=0.0, nonlinearity="tanh", zero_recurrence=False, seed=0):
    torch.manual_seed(seed)
    cell = bpl.RNNCell(I, H, nonlinearity=nonlinearity, alpha=alpha, dtype=DT)
    if zero_recurrence:
        with torch.no_grad():
            cell.weight_hh.zero_()
    return cell


def _lstm(zero_recurrence=False, seed=0):
    torch.manual_seed(seed)
    cell = bpl.LSTMCell(I, H, dtype=DT)
    if zero_recurrence:
        with torch.no_grad():
            cell.weight_hh.zero_()
    return cell


def _eprop(cell, xs, signals):
    """Σ_t E2 with L_t = signals[t] (or signals(t, z_t) if callable)."""
    traces = NetworkTraces(cell)
    traces.reset(xs.shape[1])
    total = [torch.zeros_like(p) for p in cell.parameters()]
    z = cell.initial_state(xs.shape[1])
    for t in range(xs.shape[0]):
        z, _ = traces.step(xs[t], z)
        sig = signals(t, z) if callable(signals) else signals[t]
        for acc, g in zip(total, traces.gradients(sig), strict=True):
            acc += g
    return total


def _loss_problem(cell, seed=1):
    """L = Σ_t ½‖z_t C − y_t‖² and its l_t = (z_t C − y_t) C^T."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(T, B, I, generator=g, dtype=DT)
    C = torch.randn(cell.state_size, 2, generator=g, dtype=DT)
    ys = torch.randn(T, B, 2, generator=g, dtype=DT)

    def bptt():
        z = cell.initial_state(B)
        total = 0.0
        for t in range(T):
            z = cell(xs[t], z)
            total = total + 0.5 * ((z @ C - ys[t]) ** 2).sum()
        return torch.autograd.grad(total, tuple(cell.parameters()))

    return xs, (lambda t, z: (z @ C - ys[t]) @ C.t()), bptt


def _close(got, want, tol=1e-12):
    for g, w in zip(got, want, strict=True):
        err = (g - w).norm() / w.norm().clamp_min(1e-300)
        assert err < tol, f"relative error {err:.2e}"


@pytest.mark.parametrize("nonlinearity", ["tanh", "linear"])
def test_elementwise_rnn_eprop_is_the_exact_gradient(nonlinearity):
    """W_hh = 0, leak α: the only recurrence is each unit's own, which ε_t follows
    exactly, so Σ_t l_t · ε_t is the BPTT (= RTRL) gradient of every parameter."""
    cell = _rnn(alpha=0.7, nonlinearity=nonlinearity, zero_recurrence=True)
    xs, imm, bptt = _loss_problem(cell)
    _close(_eprop(cell, xs, imm), bptt())


def test_elementwise_lstm_eprop_is_the_exact_gradient():
    """LSTM with W_hh = 0: c_t's own recurrence f_t ⊙ c_{t−1} is all there is."""
    cell = _lstm(zero_recurrence=True)
    xs, imm, bptt = _loss_problem(cell)
    _close(_eprop(cell, xs, imm), bptt())


def test_full_rnn_without_leak_eprop_is_the_one_step_gradient():
    """α = 0: ε_t = ψ_t ⊗ p_t, so E2 is (∂z_t/∂Ψ|one step)^T L_t for any signal."""
    cell = _rnn(alpha=0.0)
    g = torch.Generator().manual_seed(2)
    xs = torch.randn(T, B, I, generator=g, dtype=DT)
    sig = torch.randn(T, B, H, generator=g, dtype=DT)
    want = [torch.zeros_like(p) for p in cell.parameters()]
    z = cell.initial_state(B)
    for t in range(T):
        for acc, gr in zip(want, bpl.one_step_gradients(cell, xs[t], z, sig[t]), strict=True):
            acc += gr
        z = cell(xs[t], z).detach()
    _close(_eprop(cell, xs, sig), want)


def test_full_rnn_with_leak_differs_from_bptt():
    """With W_hh ≠ 0 the traces leave out the paths through other units."""
    cell = _rnn(alpha=0.5)
    xs, imm, bptt = _loss_problem(cell)
    got, want = _eprop(cell, xs, imm), bptt()
    assert (got[1] - want[1]).norm() > 1e-3 * want[1].norm()


def test_lstm_traces_match_a_hand_written_recursion():
    """Full LSTM (W_hh ≠ 0): traces and gradient by explicit loops over rows and units."""
    cell = _lstm()
    g = torch.Generator().manual_seed(3)
    xs = torch.randn(T, B, I, generator=g, dtype=DT)
    sig = torch.randn(T, B, 2 * H, generator=g, dtype=DT)
    W = torch.cat([cell.weight_ih, cell.weight_hh], 1).detach()  # (4H, I+H)
    bias = (cell.bias_ih + cell.bias_hh).detach()
    P = I + H + 1
    eps = torch.zeros(B, 4, H, P, dtype=DT)  # gates i, f, g, o
    grad = torch.zeros(4, H, P, dtype=DT)
    h, c = torch.zeros(B, H, dtype=DT), torch.zeros(B, H, dtype=DT)
    sgm = torch.sigmoid
    for t in range(T):
        for b in range(B):
            p = torch.cat([xs[t, b], h[b], torch.ones(1, dtype=DT)])
            a = (W @ p[:-1] + bias).view(4, H)
            i, f, gg, o = sgm(a[0]), sgm(a[1]), torch.tanh(a[2]), sgm(a[3])
            c_new = f * c[b] + i * gg
            for j in range(H):
                imm = [
                    gg[j] * i[j] * (1 - i[j]),
                    c[b, j] * f[j] * (1 - f[j]),
                    i[j] * (1 - gg[j] ** 2),
                ]
                for q in range(3):
                    eps[b, q, j] = f[j] * eps[b, q, j] + imm[q] * p
                eps[b, 3, j] = torch.tanh(c_new[j]) * o[j] * (1 - o[j]) * p
                lh, lc = sig[t, b, j], sig[t, b, H + j]
                on_c = lh * o[j] * (1 - torch.tanh(c_new[j]) ** 2) + lc
                for q in range(3):
                    grad[q, j] += on_c * eps[b, q, j]
                grad[3, j] += lh * eps[b, 3, j]
            h[b], c[b] = o * torch.tanh(c_new), c_new
    grad = grad.view(4 * H, P)
    want = (grad[:, :I], grad[:, I : I + H], grad[:, -1], grad[:, -1])
    _close(_eprop(cell, xs, sig), want)


def test_trace_step_returns_the_cell_state_and_jacobian():
    for cell in (_rnn(alpha=0.3), _lstm()):
        traces = NetworkTraces(cell)
        traces.reset(B)
        x = torch.randn(B, I, dtype=DT)
        z0 = torch.randn(B, cell.state_size, dtype=DT)
        z, jac = traces.step(x, z0, jacobian=True)
        want_z, want_jac = cell.jacobian(x, z0)
        torch.testing.assert_close(z, want_z.detach())
        torch.testing.assert_close(jac, want_jac)


def test_leaky_rnn_jacobian_and_leak_zero_is_the_elman_cell():
    cell = _rnn(alpha=0.4)
    x, z = torch.randn(B, I, dtype=DT), torch.randn(B, H, dtype=DT)
    _, jac = cell.jacobian(x, z)
    want = torch.func.vmap(torch.func.jacrev(lambda x1, z1: cell(x1[None], z1[None])[0], 1))(x, z)
    torch.testing.assert_close(jac, want)
    plain = _rnn(alpha=0.0)
    ref = torch.nn.RNNCell(I, H, dtype=DT)
    ref.load_state_dict(plain.state_dict())
    torch.testing.assert_close(plain(x, z), ref(x, z))
    with pytest.raises(ValueError, match="alpha"):
        bpl.RNNCell(I, H, alpha=1.0)


def _task(seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(T, B, I, generator=g, dtype=DT)
    ys = torch.randn(T, B, 2, generator=g, dtype=DT)
    return xs, ys


@pytest.mark.parametrize("credit", ["immediate", "tbptt", "bp_lambda", "dni"])
def test_learner_with_traces_and_elementwise_rnn_gives_bptt(credit):
    """Through the sequence learner, k = 1, W_hh = 0, β = 0: the cell's gradient is the
    exact BPTT gradient, whatever the credit mode."""
    cell = _rnn(alpha=0.6, zero_recurrence=True)
    xs, ys = _task()
    kw = {"sg_beta": 0.0} if credit in ("bp_lambda", "dni") else {}
    learner = SequenceLearner(cell, 2, credit=credit, k=1, network_traces="eprop", **kw)
    learner.train_batch(xs, ys, update=False)
    got = [p.grad.clone() for p in cell.parameters()]
    ref = SequenceLearner(cell, 2, credit="bptt")
    ref.readout.load_state_dict(learner.readout.state_dict())
    ref.train_batch(xs, ys, update=False)
    _close(got, [p.grad for p in cell.parameters()], 1e-10)


def test_learner_bp_lambda_with_traces_uses_l_plus_beta_g():
    """bp_lambda, k = 1, α = 0: E2 with L_t = l_t + β ĝ_t is the one-step gradient the
    learner computes without traces."""
    xs, ys = _task(1)
    grads = []
    for traces in (None, "eprop"):
        cell = _lstm(seed=4)
        torch.manual_seed(7)
        critic = bpl.SyntheticGradient(cell.state_size, dtype=DT)
        with torch.no_grad():
            critic.output.weight.normal_(0, 0.3)
        learner = SequenceLearner(
            cell, 2, credit="bp_lambda", sg_beta=0.5, gradient_critic=critic,
            network_traces=traces,
        )  # fmt: skip
        learner.train_batch(xs, ys, update=False)
        grads.append([p.grad for p in cell.parameters()])
    # the LSTM's forget gate carries the traces, so they differ from the one-step gradient
    assert (grads[0][0] - grads[1][0]).norm() > 1e-6
    cell = _rnn(alpha=0.0, seed=5)
    out = []
    for traces in (None, "eprop"):
        torch.manual_seed(7)
        critic = bpl.SyntheticGradient(H, dtype=DT)
        with torch.no_grad():
            critic.output.weight.normal_(0, 0.3)
        for p in cell.parameters():
            p.grad = None
        learner = SequenceLearner(
            cell, 2, credit="bp_lambda", sg_beta=0.5, gradient_critic=critic,
            network_traces=traces,
        )  # fmt: skip
        torch.manual_seed(8)
        learner.readout.reset_parameters()
        learner.train_batch(xs, ys, update=False)
        out.append([p.grad.clone() for p in cell.parameters()])
    _close(out[1], out[0], 1e-10)


def test_learner_with_traces_learns_and_checks_its_arguments():
    cell = _rnn(alpha=0.5)
    learner = SequenceLearner(cell, 2, credit="bp_lambda", network_traces="eprop")
    xs, ys = _task(2)
    before = learner.evaluate(xs, ys)["loss"]
    for _ in range(30):
        learner.train_batch(xs, ys)
    assert learner.evaluate(xs, ys)["loss"] < before
    assert learner.config()["network_traces"] == "eprop"
    with pytest.raises(ValueError, match="one step"):
        SequenceLearner(_rnn(), 2, credit="tbptt", k=2, network_traces="eprop")
    with pytest.raises(ValueError, match="one step"):
        SequenceLearner(_rnn(), 2, credit="bptt", network_traces="eprop")
    with pytest.raises(ValueError, match="RNNCell or bpl.LSTMCell"):
        SequenceLearner(bpl.GRUCell(I, H, dtype=DT), 2, network_traces="eprop")
    with pytest.raises(ValueError, match="network_traces must be one of"):
        SequenceLearner(_rnn(), 2, network_traces="rtrl")
