"""The critic's step-phase input (bpl.time_input, SequenceLearner(sg_time_input=n)), float64."""

from __future__ import annotations

import math

import pytest
import torch

import bpl
from bpl.experiments import SequenceLearner
from bpl.time_input import augment, phase_features, step_indices

from .helpers import rollout

T, B, I, H = 7, 3, 4, 5
DT = torch.float64


def test_phase_features_and_step_indices():
    u = phase_features(torch.tensor([0, 2]), 2, DT)
    assert u.shape == (2, 4)
    torch.testing.assert_close(u[1], torch.tensor([1.0, math.sin(math.pi / 8), 0.0,
                                                   math.cos(math.pi / 8)], dtype=DT))  # fmt: skip
    ends = torch.zeros(4, 2, dtype=torch.bool)
    ends[1, 0] = True
    starts = torch.zeros(4, 2, dtype=torch.bool)
    starts[3, 1] = True
    times, clock = step_indices(torch.tensor([5, 0]), ends, starts)
    assert times.tolist() == [[5, 0], [6, 1], [0, 2], [1, 0]]
    assert clock.tolist() == [2, 1]


def test_augmented_jacobian_carries_nothing_through_the_phase():
    z, jac, imm = torch.randn(B, H), torch.randn(B, H, H), torch.randn(B, H)
    u = torch.randn(B, 4)
    za, ja, la = augment(z, jac, imm, u)
    assert torch.equal(za, torch.cat([z, u], 1)) and torch.equal(ja[:, :H, :H], jac)
    assert not ja[:, H:].any() and not ja[:, :, H:].any() and not la[:, H:].any()


@pytest.mark.parametrize("k", [1, 3])
def test_learner_critic_learns_bp_lambda_on_the_augmented_state(k):
    """The critic's gradient is BP(λ) over z̃_t = [z_t; u_t] with J̃, l̃ (bpl.BPLambda run
    by hand on the whole sequence), and ĝ injected is its first |z| outputs."""
    torch.manual_seed(0)
    cell = bpl.make_cell("rnn", I, H, dtype=DT)
    xs, ys = torch.randn(T, B, I, dtype=DT), torch.randn(T, B, 2, dtype=DT)
    critic = bpl.SyntheticGradient(H + 4, dtype=DT)
    with torch.no_grad():
        critic.output.weight.normal_(0, 0.3)
    learner = SequenceLearner(
        cell, 2, credit="bp_lambda", k=k, sg_lambda=0.6, gradient_critic=critic, sg_time_input=2
    )
    learner.train_batch(xs, ys, update=False)
    got = [p.grad.clone() for p in critic.parameters()]
    zs, jacs = rollout(cell, xs)
    with torch.enable_grad():
        zd = zs.clone().requires_grad_(True)
        loss = learner.loss_fn(learner.readout(zd.reshape(T * B, H)), ys.reshape(T * B, 2)).sum()
        (imms,) = torch.autograd.grad(loss, zd)
    times = torch.arange(T)[:, None].expand(T, B)
    za, ja, la = augment(zs, jacs, imms, phase_features(times, 2, DT))
    critic.zero_grad(set_to_none=True)
    ref = bpl.BPLambda(critic, 1.0, 0.6)
    ref.reset(B)
    ends = torch.zeros(T, B, dtype=torch.bool)
    ends[-1] = True
    preds = torch.stack([ref.step(za[t], ja[t], la[t], ends[t]) for t in range(T)])
    for g, w in zip(got, [p.grad for p in critic.parameters()], strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(learner.synthetic_gradient(zs, times), preds[..., :H])
    per_step, overall = learner.alignment(xs, ys)
    assert per_step.shape == (T,) and -1 <= overall <= 1
    with pytest.raises(ValueError, match="step indices"):
        learner.synthetic_gradient(zs)
