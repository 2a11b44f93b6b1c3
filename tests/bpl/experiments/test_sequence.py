"""Known-answer tests of the sequence learner's credit-assignment modes (float64)."""

from __future__ import annotations

import pytest
import torch

import bpl
from bpl import CREDIT_MODES
from bpl.experiments import LOSSES, SequenceLearner

from ..helpers import random_critic

CELL_KINDS = ["rnn", "gru", "lstm"]
T, B, I, H, O = 7, 3, 4, 5, 3


def _problem(kind: str = "gru", loss: str = "mse", seed: int = 0, dense: bool = True):
    torch.manual_seed(seed)
    cell = bpl.make_cell(kind, I, H, dtype=torch.float64)
    xs = torch.randn(T, B, I, dtype=torch.float64)
    ys = torch.randn(T, B, O, dtype=torch.float64)
    if loss == "bce":
        ys = (ys > 0).to(torch.float64)
    mask = (torch.rand(T, B) < 0.6).to(torch.float64) if dense else torch.zeros(T, B)
    mask[-1] = 1.0
    return cell, xs, ys, mask.to(torch.float64)


def _learner(cell, credit, **kw) -> SequenceLearner:
    torch.manual_seed(1)
    return SequenceLearner(cell, O, credit=credit, **kw)


def _bptt_reference(learner: SequenceLearner, xs, ys, mask):
    """Σ_t mean_b mask·L_t unrolled by plain autograd; gradients of cell + readout."""
    z = learner.cell.initial_state(xs.shape[1])
    total = 0.0
    for t in range(xs.shape[0]):
        z = learner.cell(xs[t], z)
        out = learner.readout(learner.cell.hidden(z))
        total = total + (learner.loss_fn(out, ys[t]) * mask[t]).mean()
    return torch.autograd.grad(total, learner.network_parameters())


def _grads(learner: SequenceLearner):
    return [p.grad.clone() for p in learner.network_parameters()]


def _immediate_and_jacobians(learner: SequenceLearner, xs, ys, mask):
    """Per-row l_t by autograd through the readout, and J_t, for the whole sequence."""
    z = learner.cell.initial_state(xs.shape[1])
    imms, jacs = [], []
    for t in range(xs.shape[0]):
        z, jac = learner.cell.jacobian(xs[t], z.detach())
        zd = z.detach().requires_grad_(True)
        out = learner.readout(learner.cell.hidden(zd))
        (g,) = torch.autograd.grad((learner.loss_fn(out, ys[t]) * mask[t]).sum(), zd)
        imms.append(g)
        jacs.append(jac)
    return torch.stack(imms), torch.stack(jacs)


def _assert_close(got, want, tol=1e-10):
    for g, w in zip(got, want, strict=True):
        err = (g - w).norm() / w.norm().clamp_min(1e-300)
        assert err < tol, f"relative error {err:.2e}"


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("loss", ["mse", "bce", "ce"])
def test_bptt_matches_autograd_unroll(kind, loss):
    cell, xs, ys, mask = _problem(kind, "bce" if loss == "bce" else "mse")
    learner = _learner(cell, "bptt", loss=loss)
    learner.train_batch(xs, ys, mask, update=False)
    _assert_close(_grads(learner), _bptt_reference(learner, xs, ys, mask))


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("k", [T, T + 3])
def test_tbptt_with_window_covering_sequence_equals_bptt(kind, k):
    cell, xs, ys, mask = _problem(kind)
    learner = _learner(cell, "tbptt", k=k)
    learner.train_batch(xs, ys, mask, update=False)
    _assert_close(_grads(learner), _bptt_reference(learner, xs, ys, mask))


def test_tbptt_with_short_window_differs_from_bptt():
    cell, xs, ys, mask = _problem("rnn")
    learner = _learner(cell, "tbptt", k=2)
    learner.train_batch(xs, ys, mask, update=False)
    got, want = _grads(learner), _bptt_reference(learner, xs, ys, mask)
    assert (got[1] - want[1]).norm() > 1e-3 * want[1].norm()


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_bp_lambda_with_perfect_critic_equals_bptt(kind, k):
    """Σ over windows of TBPTT(k) + G(z_last) at window ends = the BPTT gradient (γ = β = 1)."""
    cell, xs, ys, mask = _problem(kind)
    learner = _learner(cell, "bp_lambda", k=k, sg_gamma=1.0, sg_beta=1.0)
    imms, jacs = _immediate_and_jacobians(learner, xs, ys, mask)
    oracle = bpl.future_gradients(imms, jacs, 1.0)  # G_t, (T, B, |z|)
    learner.train_batch(xs, ys, mask, update=False, injected=oracle)
    _assert_close(_grads(learner), _bptt_reference(learner, xs, ys, mask))


def test_bp_lambda_k1_is_one_step_gradients_with_signal():
    """k = 1: the cell's gradient is Σ_t (∂z_t/∂Ψ|one step)^T (l_t + β ĝ_t) / B."""
    cell, xs, ys, mask = _problem("lstm")
    critic = random_critic(cell.state_size, seed=3)
    learner = _learner(cell, "bp_lambda", k=1, sg_beta=0.7, gradient_critic=critic)
    learner.train_batch(xs, ys, mask, update=False)
    imms, _ = _immediate_and_jacobians(learner, xs, ys, mask)
    want = [torch.zeros_like(p) for p in cell.parameters()]
    z = cell.initial_state(B)
    with torch.no_grad():
        for t in range(T):
            z_new = cell(xs[t], z)
            sg = critic(z_new) if t < T - 1 else torch.zeros_like(z_new)
            for acc, g in zip(
                want, bpl.one_step_gradients(cell, xs[t], z, (imms[t] + 0.7 * sg) / B), strict=True
            ):
                acc += g
            z = z_new
    _assert_close([p.grad for p in cell.parameters()], want)


def test_immediate_is_one_step_gradients():
    cell, xs, ys, mask = _problem("gru")
    learner = _learner(cell, "immediate")
    learner.train_batch(xs, ys, mask, update=False)
    imms, _ = _immediate_and_jacobians(learner, xs, ys, mask)
    want = [torch.zeros_like(p) for p in cell.parameters()]
    z = cell.initial_state(B)
    with torch.no_grad():
        for t in range(T):
            for acc, g in zip(
                want, bpl.one_step_gradients(cell, xs[t], z, imms[t] / B), strict=True
            ):
                acc += g
            z = cell(xs[t], z)
    _assert_close([p.grad for p in cell.parameters()], want)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("gamma", [0.8, 1.0])
def test_dni_targets_are_k_step_bootstrapped_targets(k, gamma):
    """Each window's target = ∂/∂z_start [Σ_j γ^{j−1} L_j + γ^n ĝ(z_n)·z_n], by autograd."""
    cell, xs, ys, mask = _problem("lstm")
    critic = random_critic(cell.state_size, seed=2)
    learner = _learner(cell, "dni", k=k, sg_gamma=gamma, gradient_critic=critic)
    learner.train_batch(xs, ys, mask, update=False)
    assert len(learner.dni_targets) == -(-T // k)
    z = cell.initial_state(B)
    for w, w0 in enumerate(range(0, T, k)):
        w1 = min(T, w0 + k)
        z_start = z.detach().requires_grad_(True)
        z, obj = z_start, 0.0
        for j, t in enumerate(range(w0, w1)):
            z = cell(xs[t], z)
            out = learner.readout(cell.hidden(z))
            obj = obj + gamma**j * (learner.loss_fn(out, ys[t]) * mask[t]).sum()
        if w1 < T:
            obj = obj + gamma ** (w1 - w0) * (critic(z).detach() * z).sum()
        (want,) = torch.autograd.grad(obj, z_start)
        _assert_close([learner.dni_targets[w]], [want])


def test_dni_critic_gradient_is_regression_on_targets():
    cell, xs, ys, mask = _problem("rnn")
    critic = random_critic(cell.state_size, seed=2)
    learner = _learner(cell, "dni", k=2, gradient_critic=critic)
    learner.train_batch(xs, ys, mask, update=False)
    got = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad()
    z = cell.initial_state(B)
    zs = [z]
    with torch.no_grad():
        for t in range(T):
            z = cell(xs[t], z)
            zs.append(z)
    starts = [zs[w0] for w0 in range(0, T, 2)]
    loss = sum(
        0.5 * (critic(s) - tgt).pow(2).sum(-1).mean()
        for s, tgt in zip(starts, learner.dni_targets, strict=True)
    )
    loss.backward()
    _assert_close(got, [p.grad for p in critic.parameters()])


def test_bp_lambda_critic_gradient_matches_bplambda():
    """Inside the learner the critic receives exactly what BPLambda gives over the batch."""
    cell, xs, ys, mask = _problem("gru")
    critic = random_critic(cell.state_size, seed=4)
    learner = _learner(cell, "bp_lambda", k=2, sg_gamma=0.9, sg_lambda=0.6, gradient_critic=critic)
    learner.train_batch(xs, ys, mask, update=False)
    got = [p.grad.clone() for p in critic.parameters()]
    imms, jacs = _immediate_and_jacobians(learner, xs, ys, mask)
    z = cell.initial_state(B)
    zs = []
    with torch.no_grad():
        for t in range(T):
            z = cell(xs[t], z)
            zs.append(z)
    from ..helpers import reference_gradient

    want = reference_gradient(critic, torch.stack(zs), imms, jacs, 0.9, 0.6)
    _assert_close(got, want)


def test_updates_happen_once_per_window():
    cell, xs, ys, mask = _problem("rnn")
    for credit, k, want in [("bptt", 3, 1), ("tbptt", 3, 3), ("immediate", 3, T), ("dni", 2, 4)]:
        learner = _learner(bpl.make_cell("rnn", I, H, dtype=torch.float64), credit, k=k)
        learner.train_batch(xs, ys, mask)
        assert learner.updates == want, credit


@pytest.mark.parametrize("credit", CREDIT_MODES)
def test_every_mode_learns_a_short_task(credit):
    """A few updates on one fixed batch lower its loss in every mode."""
    cell, xs, ys, mask = _problem("gru")
    learner = _learner(cell, credit, k=2, learning_rate=0.02, sg_learning_rate=0.01)
    before = learner.evaluate(xs, ys, mask)["loss"]
    for _ in range(30):
        learner.train_batch(xs, ys, mask)
    assert learner.evaluate(xs, ys, mask)["loss"] < 0.8 * before


def test_frozen_network_critic_alignment_rises():
    """Only the critic learns (lr = 0): l_t + ĝ_t comes to align with dL/dz_t."""
    torch.manual_seed(0)
    cell = bpl.RNNCell(3, 6, nonlinearity="linear", dtype=torch.float64)
    xs = torch.zeros(6, 2, 3, dtype=torch.float64)
    xs[0] = torch.randn(3, dtype=torch.float64)  # one cue: 6 states, 7 features
    ys = torch.zeros(6, 2, 2, dtype=torch.float64)
    ys[-1] = torch.randn(2, dtype=torch.float64)
    mask = torch.zeros(6, 2, dtype=torch.float64)
    mask[-1] = 1
    learner = SequenceLearner(
        cell,
        2,
        credit="bp_lambda",
        learning_rate=0.0,
        sg_learning_rate=0.1,
        sg_lambda=1.0,
        optimizer="sgd",
    )
    w = [p.clone() for p in learner.network_parameters()]
    _, before = learner.alignment(xs, ys, mask)
    for _ in range(1000):
        learner.train_batch(xs, ys, mask)
    _, after = learner.alignment(xs, ys, mask)
    assert after > max(before, 0.9)
    assert all(torch.equal(a, b) for a, b in zip(w, learner.network_parameters(), strict=True))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"credit": "rtrl"}, "credit must be one of"),
        ({"credit": "BPTT"}, "credit must be one of"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"k": 1.5}, "k must be an integer"),
        ({"sg_lambda": 1.5}, "sg_lambda must lie in"),
        ({"sg_gamma": -0.1}, "sg_gamma must lie in"),
        ({"sg_beta": -1.0}, "sg_beta must be"),
        ({"learning_rate": -1e-3}, "learning_rate must be"),
        ({"readout_learning_rate": -1.0}, "readout_learning_rate must be"),
        ({"sg_learning_rate": float("nan")}, "sg_learning_rate must be"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    cell = bpl.make_cell("rnn", I, H)
    with pytest.raises(ValueError, match=match):
        SequenceLearner(cell, O, **kwargs)


def test_critic_given_to_a_mode_without_one_raises():
    cell = bpl.make_cell("rnn", I, H)
    with pytest.raises(ValueError, match="uses no gradient critic"):
        SequenceLearner(cell, O, credit="tbptt", gradient_critic=bpl.SyntheticGradient(H))


def test_bad_batch_shapes_raise():
    cell, xs, ys, mask = _problem("rnn")
    learner = _learner(cell, "bp_lambda")
    with pytest.raises(ValueError, match="targets must have shape"):
        learner.train_batch(xs, ys[:, :, :2], mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        learner.train_batch(xs, ys, mask[:-1])
    with pytest.raises(ValueError, match="injected must have shape"):
        learner.train_batch(xs, ys, mask, injected=torch.zeros(T, B, H + 1, dtype=xs.dtype))


def test_losses_are_per_row():
    out = torch.randn(4, 3)
    tgt = torch.rand(4, 3)
    for fn in LOSSES.values():
        assert fn(out, tgt).shape == (4,)


# ------------------------------------------------------------- standardised critic input
def _normalised_learner(credit: str, seed: int = 5, **kw):
    """A learner whose critic sees z' = (z − μ)/s with non-trivial, fixed μ and s."""
    cell, xs, ys, mask = _problem("gru")
    critic = random_critic(cell.state_size, seed=seed)
    learner = _learner(cell, credit, gradient_critic=critic, sg_normalize_input=True, **kw)
    g = torch.Generator().manual_seed(7)
    S = cell.state_size
    learner.engine.normalizer.mean.copy_(torch.randn(S, generator=g, dtype=torch.float64))
    learner.engine.normalizer.var.copy_(torch.rand(S, generator=g, dtype=torch.float64) + 0.1)
    learner.engine.normalizer.count.fill_(100.0)
    return learner, critic, xs, ys, mask


def test_normalised_synthetic_gradient_is_mapped_back():
    """ĝ(z) = ĝ'((z − μ)/s) / s, with s = √var."""
    learner, critic, *_ = _normalised_learner("bp_lambda")
    z = torch.randn(4, learner.cell.state_size, dtype=torch.float64)
    mu, s = learner.engine.normalizer.mean, learner.engine.normalizer.var.sqrt()
    with torch.no_grad():
        want = critic((z - mu) / s) / s
    _assert_close([learner.synthetic_gradient(z)], [want])


def test_normalised_bp_lambda_critic_gradient_matches_bplambda():
    """The critic learns by BP(λ) on (z', diag(1/s) J diag(s), s ⊙ l)."""
    learner, critic, xs, ys, mask = _normalised_learner(
        "bp_lambda", k=2, sg_gamma=0.9, sg_lambda=0.6
    )
    learner.train_batch(xs, ys, mask, update=False)
    got = [p.grad.clone() for p in critic.parameters()]
    imms, jacs = _immediate_and_jacobians(learner, xs, ys, mask)
    mu, s = learner.engine.normalizer.mean, learner.engine.normalizer.var.sqrt()
    z = learner.cell.initial_state(B)
    zs = []
    with torch.no_grad():
        for t in range(T):
            z = learner.cell(xs[t], z)
            zs.append((z - mu) / s)
    jacs_n = torch.diag(1 / s) @ jacs @ torch.diag(s)
    from ..helpers import reference_gradient

    want = reference_gradient(critic, torch.stack(zs), imms * s, jacs_n, 0.9, 0.6)
    _assert_close(got, want)


@pytest.mark.parametrize("k", [1, 3])
def test_normalised_dni_targets_are_k_step_bootstrapped_targets(k):
    """DNI's targets (reported in z's coordinates) bootstrap on the mapped-back ĝ, and the
    critic regresses on them in its own coordinates: ½‖ĝ'(z') − s ⊙ target‖²."""
    learner, critic, xs, ys, mask = _normalised_learner("dni", k=k, sg_gamma=0.9)
    learner.train_batch(xs, ys, mask, update=False)
    got = [p.grad.clone() for p in critic.parameters()]
    mu, s = learner.engine.normalizer.mean, learner.engine.normalizer.var.sqrt()
    cell = learner.cell
    z = cell.initial_state(B)
    starts = []
    for w, w0 in enumerate(range(0, T, k)):
        w1 = min(T, w0 + k)
        z_start = z.detach().requires_grad_(True)
        starts.append(z_start.detach())
        z, obj = z_start, 0.0
        for j, t in enumerate(range(w0, w1)):
            z = cell(xs[t], z)
            out = learner.readout(cell.hidden(z))
            obj = obj + 0.9**j * (learner.loss_fn(out, ys[t]) * mask[t]).sum()
        if w1 < T:
            g_hat = (critic((z.detach() - mu) / s) / s).detach()
            obj = obj + 0.9 ** (w1 - w0) * (g_hat * z).sum()
        (want,) = torch.autograd.grad(obj, z_start)
        _assert_close([learner.dni_targets[w]], [want])
    critic.zero_grad()
    loss = sum(
        0.5 * (critic((z0 - mu) / s) - s * tgt).pow(2).sum(-1).mean()
        for z0, tgt in zip(starts, learner.dni_targets, strict=True)
    )
    loss.backward()
    _assert_close(got, [p.grad for p in critic.parameters()])


def test_normalised_statistics_move_only_with_updates():
    learner, _, xs, ys, mask = _normalised_learner("bp_lambda", k=2)
    before = learner.engine.normalizer.mean.clone()
    learner.train_batch(xs, ys, mask, update=False)
    assert torch.equal(learner.engine.normalizer.mean, before)
    learner.train_batch(xs, ys, mask)
    assert not torch.equal(learner.engine.normalizer.mean, before)
    assert learner.config()["sg_normalize_input"] is True


def test_normalised_bp_lambda_learns_a_short_task():
    cell, xs, ys, mask = _problem("gru")
    learner = _learner(
        cell, "bp_lambda", k=2, learning_rate=0.02, sg_learning_rate=0.01, sg_normalize_input=True
    )
    before = learner.evaluate(xs, ys, mask)["loss"]
    for _ in range(30):
        learner.train_batch(xs, ys, mask)
    assert learner.evaluate(xs, ys, mask)["loss"] < 0.8 * before


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"credit": "tbptt", "sg_normalize_input": True}, "need a gradient critic"),
        ({"credit": "bp_lambda", "sg_normalize_input": 1}, "must be a bool"),
    ],
)
def test_normalised_input_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceLearner(bpl.make_cell("rnn", I, H), O, **kwargs)


def _critic_change(**kw) -> float:
    cell, xs, ys, mask = _problem("gru")
    learner = _learner(cell, "bp_lambda", k=2, optimizer="sgd", sg_learning_rate=1.0, **kw)
    before = [p.detach().clone() for p in learner.gradient_critic.parameters()]
    learner.train_batch(xs, ys, mask)
    after = list(learner.gradient_critic.parameters())
    return float(
        sum((a.detach() - b).pow(2).sum() for a, b in zip(after, before, strict=True)).sqrt()
    )


def test_critic_clipping_is_separate_from_the_network():
    """SGD with lr 1: each of the 4 window updates moves the critic by at most the clip."""
    assert _critic_change(max_grad_norm=1e-6) <= 4e-6 + 1e-12  # "same" (default)
    assert _critic_change(max_grad_norm=1e-6, sg_max_grad_norm=1e-3) <= 4e-3 + 1e-12
    assert _critic_change(max_grad_norm=1e-6, sg_max_grad_norm=None) > 1e-3
    cell = bpl.make_cell("rnn", I, H)
    assert SequenceLearner(cell, O, max_grad_norm=2.0).config()["sg_max_grad_norm"] == 2.0


@pytest.mark.parametrize(
    "value, match", [(0.0, "got 0"), ("never", "or 'same'"), (-1.0, "sg_max_grad_norm")]
)
def test_bad_critic_clip_raises(value, match):
    with pytest.raises(ValueError, match=match):
        SequenceLearner(bpl.make_cell("rnn", I, H), O, sg_max_grad_norm=value)


@pytest.mark.parametrize("credit", ["bp_lambda", "dni"])
def test_learner_hands_its_windows_to_a_credit_engine(credit):
    """The critic, its optimizer and its error are the engine's."""
    cell, xs, ys, mask = _problem("gru")
    learner = _learner(cell, credit, k=2, sg_normalize=True)
    assert isinstance(learner.engine, bpl.CreditEngine)
    assert learner.gradient_critic is learner.engine.gradient_critic
    out = learner.train_batch(xs, ys, mask)
    assert out["sg_error"] >= 0.0 and learner.engine.scale_sq is not None
    config = learner.config()
    assert config["credit"] == credit and config["sg_normalize"] is True
