"""BP(λ) learns the future gradient of a fixed RNN (a behaviour with a known answer)."""

from __future__ import annotations

import torch

import bpl
from bpl.experiments import delayed_loss_problem, fit_critic


def _fit(rollout, lam, iterations=300):
    torch.manual_seed(0)
    # One hidden layer: a linear critic over 16 units cannot represent the 19 distinct
    # future gradients of this trajectory exactly (its least-squares optimum has mean
    # cosine 0.93–0.98 depending on the seed), so it would test capacity, not BP(λ).
    critic = bpl.SyntheticGradient(16, hidden_sizes=(32,), activation="tanh")
    learner = bpl.BPLambda(critic, gamma=1.0, lam=lam)
    return fit_critic(learner, torch.optim.Adam(critic.parameters(), lr=1e-2), rollout, iterations)


def test_bp1_aligns_with_true_future_gradient_and_beats_bp0():
    """Tanh RNN H = 16, loss only at the last of 20 steps: BP(1) reaches mean cosine
    ≥ 0.95 with G_t; BP(0), given the same number of updates, is worse aligned."""
    rollout = delayed_loss_problem(hidden_size=16, delay=20, seed=1)
    assert rollout.future[:-1].norm(dim=-1).min() > 0  # every earlier step gets a gradient
    bp1 = _fit(rollout, lam=1.0)
    bp0 = _fit(rollout, lam=0.0)
    assert bp1[-10:].mean() >= 0.95
    assert bp1[-10:].mean() > bp0[-10:].mean() + 0.1


def test_linear_critic_learns_when_delay_fits_its_capacity():
    """Linear ĝ = Az + b, delay 10 < H: fully online BP(1) (an Adam step at every time
    step) aligns almost perfectly."""
    rollout = delayed_loss_problem(hidden_size=16, delay=10, seed=0)
    torch.manual_seed(0)
    critic = bpl.SyntheticGradient(16)
    learner = bpl.BPLambda(critic, gamma=1.0, lam=1.0)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2)
    history = fit_critic(learner, opt, rollout, 300, update="step")
    assert history[0] == 0  # zero-initialised output layer: ĝ ≡ 0 at first
    assert history[-10:].mean() >= 0.95
