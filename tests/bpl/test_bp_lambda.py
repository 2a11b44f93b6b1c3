"""Known-answer tests of accumulate BP(λ) against the offline forward view."""

from __future__ import annotations

import pytest
import torch

import bpl

from .helpers import random_critic, reference_gradient, rollout, run_online

CELL_KINDS = ["rnn", "gru", "lstm"]


def _sequence(kind: str, T: int = 9, B: int = 3, H: int = 4, I: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    cell = bpl.make_cell(kind, I, H, dtype=torch.float64)
    xs = torch.randn(T, B, I, dtype=torch.float64)
    zs, jacs = rollout(cell, xs)
    imm = torch.randn(T, B, cell.state_size, dtype=torch.float64)
    return zs, jacs, imm


def _assert_close_grads(got, want, rtol=1e-11):
    for g, w in zip(got, want):
        err = (g - w).norm() / w.norm().clamp_min(1e-300)
        assert err < rtol, f"relative error {err:.2e}"


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("hidden", [(), (5,)], ids=["linear", "hidden"])
@pytest.mark.parametrize("gamma", [0.9, 1.0])
@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_identity_online_equals_offline(kind, hidden, gamma, lam):
    """Σ_t E_t^T δ_t = Σ_t (∂ĝ_t/∂θ)^T (G^λ_t − ĝ_t) with θ fixed (bp_lambda.md §4)."""
    zs, jacs, imm = _sequence(kind)
    critic = random_critic(zs.shape[-1], hidden)
    got = run_online(critic, zs, imm, jacs, gamma, lam)
    want = reference_gradient(critic, zs, imm, jacs, gamma, lam)
    assert all(w.norm() > 1e-3 for w in want)
    _assert_close_grads(got, want)


@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_identity_frozen_hidden_layer(lam):
    """A critic whose hidden layer is frozen keeps a trace over its output layer only."""
    zs, jacs, imm = _sequence("gru")
    critic = random_critic(zs.shape[-1], (6,), train_output_only=True)
    critic.features.requires_grad_(False)
    learner = bpl.BPLambda(critic, gamma=0.95, lam=lam)
    assert learner.structured
    assert learner.num_trace_params == critic.output.weight.numel() + critic.output.bias.numel()
    got = run_online(critic, zs, imm, jacs, 0.95, lam)
    want = reference_gradient(critic, zs, imm, jacs, 0.95, lam)
    _assert_close_grads(got, want)
    assert all(p.grad is None for p in critic.features.parameters())


@pytest.mark.parametrize("hidden", [(), (5,)], ids=["linear", "hidden"])
def test_batch_rows_with_different_episode_ends_match_rows_alone(hidden):
    """Each row is split into episodes at its own times; the batch equals rows alone."""
    T, B = 12, 3
    zs, jacs, imm = _sequence("lstm", T=T, B=B)
    ends = torch.zeros(T, B, dtype=torch.bool)
    ends[[3, 11], 0] = True
    ends[[0, 6, 7, 11], 1] = True  # includes a one-step episode
    ends[[11], 2] = True
    # a NaN Jacobian at an episode start must be ignored
    jacs[4, 0] = float("nan")
    critic = random_critic(zs.shape[-1], hidden)
    batch = run_online(critic, zs, imm, jacs, 0.9, 0.6, ends)
    rows = [
        run_online(
            critic,
            zs[:, b : b + 1],
            imm[:, b : b + 1],
            jacs[:, b : b + 1],
            0.9,
            0.6,
            ends[:, b : b + 1],
        )
        for b in range(B)
    ]
    for i, g in enumerate(batch):
        _assert_close_grads([g * B], [sum(r[i] for r in rows)])
    want = reference_gradient(critic, zs, imm, jacs.nan_to_num(), 0.9, 0.6, ends)
    _assert_close_grads(batch, want)


def test_grad_accumulates_and_parameters_untouched():
    zs, jacs, imm = _sequence("rnn")
    critic = random_critic(zs.shape[-1])
    before = [p.detach().clone() for p in critic.parameters()]
    once = run_online(critic, zs, imm, jacs, 0.9, 0.5)
    learner = bpl.BPLambda(critic, gamma=0.9, lam=0.5)
    for _ in range(2):  # .grad now holds `once`; two more passes add 2x
        learner.reset(zs.shape[1])
        ends = torch.zeros(zs.shape[1], dtype=torch.bool)
        for t in range(zs.shape[0]):
            learner.step(zs[t], jacs[t], imm[t], ends | (t == zs.shape[0] - 1))
    for p, g, b in zip(critic.parameters(), once, before):
        torch.testing.assert_close(p.grad, 3 * g)
        assert torch.equal(p.detach(), b)


def test_step_returns_detached_prediction():
    zs, jacs, imm = _sequence("rnn")
    critic = random_critic(zs.shape[-1], (5,))
    learner = bpl.BPLambda(critic, gamma=1.0, lam=1.0)
    learner.reset(zs.shape[1])
    g = learner.step(zs[0], jacs[0], imm[0], torch.zeros(zs.shape[1], dtype=torch.bool))
    assert not g.requires_grad
    torch.testing.assert_close(g, critic(zs[0]).detach())


def test_sgd_update_moves_theta_along_td_direction():
    """One optimizer step with SGD(α) gives θ + α·mean(E^T δ)."""
    zs, jacs, imm = _sequence("rnn")
    critic = random_critic(zs.shape[-1])
    grads = run_online(critic, zs, imm, jacs, 1.0, 1.0)
    before = [p.detach().clone() for p in critic.parameters()]
    torch.optim.SGD(critic.parameters(), lr=0.1).step()
    for p, b, g in zip(critic.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), b - 0.1 * g)


def test_state_dict_roundtrip_continues_identically():
    zs, jacs, imm = _sequence("gru", T=8)
    critic = random_critic(zs.shape[-1])
    ends = torch.zeros(8, zs.shape[1], dtype=torch.bool)
    ends[-1] = True
    a = bpl.BPLambda(critic, 0.9, 0.8)
    a.reset(zs.shape[1])
    for t in range(4):
        a.step(zs[t], jacs[t], imm[t], ends[t])
    b = bpl.BPLambda(critic, 0.9, 0.8)
    b.load_state_dict(a.state_dict())
    critic.zero_grad(set_to_none=True)
    for t in range(4, 8):
        a.step(zs[t], jacs[t], imm[t], ends[t])
    ga = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    for t in range(4, 8):
        b.step(zs[t], jacs[t], imm[t], ends[t])
    for x, y in zip(ga, critic.parameters()):
        torch.testing.assert_close(x, y.grad)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
@pytest.mark.parametrize("hidden", [(5,), (4, 3)])
def test_parameter_jacobian_matches_torch_func(activation, hidden):
    """The analytic per-row ∂ĝ/∂θ against torch.func.jacrev."""
    critic = random_critic(4, hidden, activation=activation)
    learner = bpl.BPLambda(critic)
    z = torch.randn(6, 4, dtype=torch.float64)
    names = [n for n, p in critic.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in critic.named_parameters()}

    def ghat(pars, z1):
        return torch.func.functional_call(critic, pars, (z1.unsqueeze(0),)).squeeze(0)

    jac = torch.func.vmap(torch.func.jacrev(ghat), in_dims=(None, 0))(params, z)
    want = torch.cat([jac[n].reshape(6, 4, -1) for n in names], dim=2)
    sg, got = learner.sensitivities(z)
    torch.testing.assert_close(sg, critic(z))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_memory_bytes_counts_what_is_held_between_steps():
    learner = bpl.BPLambda(bpl.SyntheticGradient(4))
    assert learner.memory_bytes == 0
    learner.reset(3)
    trace = learner.trace.numel() * learner.trace.element_size()
    assert trace < learner.memory_bytes < 2 * trace + 4096
