"""The credit engine against independent computations (float64)."""

from __future__ import annotations

import pytest
import torch

import bpl
from bpl.credit import CREDIT_MODES, CreditEngine, NonFiniteError

from .helpers import random_critic, rollout

T, B, I, H = 6, 3, 4, 5


def _window(seed: int = 0):
    torch.manual_seed(seed)
    cell = bpl.make_cell("gru", I, H, dtype=torch.float64)
    xs = torch.randn(T, B, I, dtype=torch.float64)
    zs, jacs = rollout(cell, xs)
    imms = torch.randn(T, B, H, dtype=torch.float64)
    ends = torch.zeros(T, B, dtype=torch.bool)
    ends[-1, 0] = True
    return zs, jacs, imms, ends


def _engine(credit: str, **kw) -> tuple[CreditEngine, bpl.SyntheticGradient]:
    critic = random_critic(H, seed=3)
    engine = CreditEngine(credit, H, gradient_critic=critic, sg_gamma=0.9, sg_lambda=0.7, **kw)
    engine.reset(B)
    return engine, critic


def test_bp_lambda_window_is_bplambda_steps():
    zs, jacs, imms, ends = _window()
    engine, critic = _engine("bp_lambda")
    out = engine.learn_window(zs[0], zs, jacs, imms, ends)
    got = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    ref = bpl.BPLambda(critic, 0.9, 0.7)
    ref.reset(B)
    preds = torch.stack([ref.step(zs[t], jacs[t], imms[t], ends[t]) for t in range(T)])
    for g, w in zip(got, [p.grad for p in critic.parameters()], strict=True):
        assert torch.allclose(g, w, rtol=0, atol=1e-14)
    assert torch.allclose(out.predictions, preds, rtol=0, atol=1e-14)
    assert torch.equal(out.last, out.predictions[-1])


def test_dni_target_is_bootstrapped_and_regressed():
    zs, jacs, imms, ends = _window(1)
    engine, critic = _engine("dni")
    z0 = torch.randn(B, H, dtype=torch.float64)
    out = engine.learn_window(z0, zs, jacs, imms, ends)
    with torch.no_grad():
        boot = critic(zs[-1]) * (~ends[-1]).unsqueeze(-1)
        l_seq = torch.cat([torch.zeros_like(imms[:1]), imms])
        j_seq = torch.cat([torch.zeros_like(jacs[:1]), jacs])
        want = bpl.bootstrapped_targets(l_seq, j_seq, boot, 0.9)[0]
    assert torch.allclose(out.target, want, rtol=0, atol=1e-13)
    got = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    (0.5 * (critic(z0) - want).pow(2).sum(-1).mean()).backward()
    for g, w in zip(got, [p.grad for p in critic.parameters()], strict=True):
        assert torch.allclose(g, w, rtol=0, atol=1e-13)


def test_injection_is_beta_g_where_the_episode_goes_on():
    engine, _ = _engine("bp_lambda", sg_beta=0.5)
    g = torch.ones(B, H, dtype=torch.float64)
    inj = engine.injection(g, torch.tensor([True, False, False]))
    assert torch.equal(inj[0], torch.zeros(H, dtype=torch.float64))
    assert torch.equal(inj[1:], 0.5 * g[1:])


def test_gradient_scale_is_undone_in_predictions():
    """sg_normalize: the critic learns G/σ and its predictions come back times σ."""
    zs, jacs, imms, ends = _window(2)
    engine, critic = _engine("bp_lambda", sg_normalize=True)
    out = engine.learn_window(zs[0], zs, jacs, imms, ends)
    sigma = imms.pow(2).mean().sqrt()
    with torch.no_grad():
        assert torch.allclose(out.last, sigma * critic(zs[-1]), rtol=1e-12, atol=0)


def test_step_clips_and_refuses_non_finite_updates():
    zs, jacs, imms, ends = _window(3)
    engine, critic = _engine("bp_lambda", optimizer="sgd", sg_learning_rate=1.0,
                             sg_max_grad_norm=1e-3)  # fmt: skip
    before = [p.detach().clone() for p in critic.parameters()]
    engine.learn_window(zs[0], zs, jacs, imms, ends)
    engine.step()
    moved = sum((p.detach() - b).pow(2).sum() for p, b in zip(critic.parameters(), before))
    assert float(moved.sqrt()) <= 1e-3 + 1e-12
    assert all(p.grad is None for p in critic.parameters())
    critic.output.bias.grad = torch.full_like(critic.output.bias, float("nan"))
    with pytest.raises(NonFiniteError):
        engine.step()
    assert all(p.grad is None for p in critic.parameters())


def test_state_dict_round_trip():
    zs, jacs, imms, ends = _window(4)
    engine, _ = _engine("dni", sg_normalize=True, sg_normalize_input=True)
    engine.learn_window(zs[0], zs, jacs, imms, ends)
    engine.step()
    other = CreditEngine("dni", H, sg_normalize=True, sg_normalize_input=True,
                         dtype=torch.float64)  # fmt: skip
    other.load_state_dict(engine.state_dict())
    z = torch.randn(B, H, dtype=torch.float64)
    assert torch.equal(other.predict(z), engine.predict(z))


@pytest.mark.parametrize("credit", ["tbptt", "bptt", "immediate"])
def test_modes_without_a_critic(credit):
    engine = CreditEngine(credit, H)
    assert not engine.uses_critic and not engine.needs_jacobian
    assert engine.state_dict() == {}
    with pytest.raises(ValueError, match="no gradient critic"):
        engine.predict(torch.zeros(1, H))
    with pytest.raises(ValueError, match="need a gradient critic"):
        CreditEngine(credit, H, sg_normalize_input=True)


def test_window_lengths():
    assert [CreditEngine(m, H).window(4) for m in CREDIT_MODES] == [4, 4, 4, None, 1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"credit": "rtrl"}, "credit must be one of"),
        ({"sg_gamma": 1.5}, "sg_gamma"),
        ({"sg_max_grad_norm": 0.0}, "sg_max_grad_norm"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of"),
        ({"sg_normalize": 1}, "sg_normalize must be a bool"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, match):
    kw = {"credit": "bp_lambda", "state_size": H} | kwargs
    with pytest.raises(ValueError, match=match):
        CreditEngine(**kw)


def _future_by_hand(imms, jacs, gamma):
    """G_t = J_{t+1}^T (l_{t+1} + γ G_{t+1}), G_{T−1} = 0, by a plain loop."""
    G = torch.zeros_like(imms)
    for t in range(imms.shape[0] - 2, -1, -1):
        G[t] = torch.einsum("bij,bi->bj", jacs[t + 1], imms[t + 1] + gamma * G[t + 1])
    return G


@pytest.mark.parametrize("c", [1.0, 2.0, -0.5])
def test_probe_scale_is_the_least_squares_factor(c):
    """Predictions c·G give cosine sign(c) and scale 1/c, over the first half of the stretch."""
    from bpl.alignment import AlignmentProbe

    _, jacs, imms, _ = _window(6)
    starts = torch.zeros(T, B)
    G = _future_by_hand(imms, jacs, 0.9)
    res = AlignmentProbe(T, 0.9).add(c * G, jacs, imms, starts)
    assert res.cosine == pytest.approx(1.0 if c > 0 else -1.0)
    assert res.scale == pytest.approx(1.0 / c)
    assert res.steps == (T // 2) * B


def test_reliability_follows_the_probe_from_the_first_measurement():
    from bpl.alignment import RELIABILITY_RATE

    zs, jacs, imms, ends = _window(5)
    ends[:] = False
    engine = CreditEngine("bp_lambda", H, gradient_critic=random_critic(H, seed=3),
                          sg_gamma=0.9, sg_adaptive_beta=True, sg_probe_horizon=T)  # fmt: skip
    engine.reset(B)
    out = engine.learn_window(zs[0], zs, jacs, imms, ends)
    G = _future_by_hand(imms, jacs, 0.9)[: T // 2]
    g = out.predictions[: T // 2]
    want = float((g * G).sum() / (g * g).sum())
    assert engine.meter.value == pytest.approx(want, rel=1e-9)  # the first one is taken whole
    assert engine.meter.alignment == pytest.approx(float(bpl.cosine_similarity(g, G).mean()))
    engine.meter.value = 0.0  # later measurements move it by RATE towards theirs
    engine.learn_window(zs[-1], zs, jacs, imms, ends)  # same critic, same stretch
    assert engine.meter.value == pytest.approx(RELIABILITY_RATE * want, rel=1e-9)


def test_adaptive_beta_scales_the_injection_by_the_clipped_reliability():
    engine, _ = _engine("bp_lambda", sg_beta=2.0, sg_adaptive_beta=True)
    g = torch.ones(B, H, dtype=torch.float64)
    live = torch.zeros(B, dtype=torch.bool)
    assert torch.equal(engine.injection(g, live), torch.zeros_like(g))  # unmeasured: nothing
    engine.meter.value = 0.25
    assert torch.allclose(engine.injection(g, live), 0.5 * g)
    engine.meter.value = -0.3
    assert torch.equal(engine.injection(g, live), torch.zeros_like(g))
    engine.meter.value = 1.7
    assert torch.allclose(engine.injection(g, live), 2.0 * g)
    fixed, _ = _engine("bp_lambda", sg_beta=2.0)
    assert torch.allclose(fixed.injection(g, live), 2.0 * g)
    other = CreditEngine("bp_lambda", H, sg_adaptive_beta=True, dtype=torch.float64)
    other.load_state_dict(engine.state_dict())
    assert other.meter.value == pytest.approx(1.7)


def test_adaptive_beta_is_for_bp_lambda_only():
    with pytest.raises(ValueError, match="sg_adaptive_beta needs credit='bp_lambda'"):
        CreditEngine("dni", H, sg_adaptive_beta=True)


@pytest.mark.parametrize(
    "bad", [torch.tensor([1.0, 2.0]), torch.tensor(-1.0), torch.tensor(float("nan"))]
)
def test_load_state_dict_refuses_a_bad_gradient_scale(bad):
    engine, _ = _engine("bp_lambda", sg_normalize=True)
    state = engine.state_dict() | {"sg_scale_sq": bad}
    with pytest.raises(ValueError, match="sg_scale_sq must be one finite number >= 0"):
        engine.load_state_dict(state)
