"""Known-answer tests of BPLambda's approximate traces (bpl.trace_variants)."""

from __future__ import annotations

import pytest
import torch

import bpl

from .helpers import random_critic, reference_gradient, rollout

F64 = torch.float64


def _sequence(kind="gru", T=7, B=3, H=4, I=3, seed=0):
    torch.manual_seed(seed)
    cell = bpl.make_cell(kind, I, H, dtype=F64)
    zs, jacs = rollout(cell, torch.randn(T, B, I, dtype=F64))
    imm = torch.randn(T, B, cell.state_size, dtype=F64)
    ends = torch.zeros(T, B, dtype=torch.bool)
    ends[-1] = True
    ends[2, min(1, B - 1)] = True  # row 1 starts a second episode at t = 3
    return zs, jacs, imm, ends


def _run(critic, trace, zs, jacs, imm, ends, gamma=0.9, lam=0.8):
    critic.zero_grad(set_to_none=True)
    learner = bpl.BPLambda(critic, gamma, lam, trace=trace)
    learner.reset(zs.shape[1])
    for t in range(zs.shape[0]):
        learner.step(zs[t], jacs[t], imm[t], ends[t])
    return [p.grad.clone() for p in critic.trainable_parameters()], learner


def _block_mask(jacs, n):
    """J with every entry outside its n×n diagonal blocks set to 0."""
    groups = torch.arange(jacs.shape[-1]) // n
    return jacs * (groups[:, None] == groups[None, :]).to(jacs.dtype)


def _rel(got, want):
    return max(float((g - w).norm() / w.norm()) for g, w in zip(got, want))


@pytest.mark.parametrize(
    "value", ["fast", "block", "block:0", "block:x", "uoro:0", "diagonal:2", "exact:1", 3, None]
)
def test_bad_trace_value_names_it_and_the_allowed_ones(value):
    with pytest.raises(ValueError, match=r"trace must be one of 'exact', 'diagonal'") as err:
        bpl.BPLambda(bpl.SyntheticGradient(4), trace=value)
    assert repr(value) in str(err.value)
    with pytest.raises(ValueError, match="trace must be one of"):
        bpl.CreditEngine("bp_lambda", 4, sg_trace=value)


def test_block_size_must_divide_the_state():
    with pytest.raises(ValueError, match="block:3.*divide the state size 4"):
        bpl.BPLambda(bpl.SyntheticGradient(4), trace="block:3")


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("hidden", [(), (5,)], ids=["linear", "hidden"])
def test_one_block_of_the_whole_state_is_the_exact_trace(kind, hidden):
    zs, jacs, imm, ends = _sequence(kind)
    critic = random_critic(zs.shape[-1], hidden)
    exact, _ = _run(critic, "exact", zs, jacs, imm, ends)
    block, _ = _run(critic, f"block:{zs.shape[-1]}", zs, jacs, imm, ends)
    assert _rel(block, exact) < 1e-12


def _oracle(critic, zs, imm, jacs, trace_jacs, gamma, lam, ends):
    """−(1/B) Σ_s (∂ĝ_s/∂θ)^T y_s by autograd, y_s = δ_s + γλ J̃_{s+1}^T y_{s+1} swept
    backward over each episode: the update of a trace carried by J̃ (``trace_jacs``) and
    TD errors δ_s = J_{s+1}^T (l_{s+1} + γ ĝ_{s+1}) − ĝ_s (δ = −ĝ at an episode end)."""
    T, B, H = zs.shape
    params = critic.trainable_parameters()
    total = [torch.zeros_like(p) for p in params]
    for b in range(B):
        start = 0
        for end in [t for t in range(T) if ends[t, b]]:
            sg = critic(zs[start : end + 1, b])  # (T_e, H)
            g = sg.detach()
            y = -g[-1]
            ys = [y]
            for s in range(end - 1, start - 1, -1):
                i = s - start
                delta = jacs[s + 1, b].T @ (imm[s + 1, b] + gamma * g[i + 1]) - g[i]
                y = delta + gamma * lam * trace_jacs[s + 1, b].T @ y
                ys.append(y)
            loss = (sg * torch.stack(ys[::-1])).sum()
            for acc, grad in zip(total, torch.autograd.grad(loss, params)):
                acc -= grad / B
            start = end + 1
    return total


@pytest.mark.parametrize("trace, n", [("diagonal", 1), ("block:1", 1), ("block:2", 2)])
@pytest.mark.parametrize("hidden", [(), (5,)], ids=["linear", "hidden"])
@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_block_trace_against_a_backward_sweep_with_block_diagonal_jacobians(trace, n, hidden, lam):
    """The variant's update equals the backward-view oracle whose trace runs on J_t's
    diagonal blocks (TD errors on the full J_t); with block-diagonal J it is the exact
    trace, with dense J (λ > 0) it is not."""
    zs, jacs, imm, ends = _sequence()
    critic = random_critic(zs.shape[-1], hidden)
    got, _ = _run(critic, trace, zs, jacs, imm, ends, lam=lam)
    masked = _block_mask(jacs, n)
    assert _rel(got, _oracle(critic, zs, imm, jacs, masked, 0.9, lam, ends)) < 1e-11
    exact, _ = _run(critic, "exact", zs, jacs, imm, ends, lam=lam)
    assert _rel(exact, _oracle(critic, zs, imm, jacs, jacs, 0.9, lam, ends)) < 1e-11
    if lam > 0:
        assert _rel(got, exact) > 1e-3
    on_masked, _ = _run(critic, trace, zs, masked, imm, ends, lam=lam)
    exact_masked, _ = _run(critic, "exact", zs, masked, imm, ends, lam=lam)
    assert _rel(on_masked, exact_masked) < 1e-11
    want = reference_gradient(critic, zs, imm, masked, 0.9, lam, ends)
    assert _rel(on_masked, want) < 1e-11


@pytest.mark.parametrize("hidden", [(), (4,)], ids=["linear", "hidden"])
@pytest.mark.parametrize("k", [1, 3])
def test_uoro_is_unbiased(hidden, k):
    """N rows with the same inputs and independent signs: their mean estimate of E_t and
    their mean update approach the exact ones (errors within 4 standard errors)."""
    H, T, N = 3, 5, 6000
    torch.manual_seed(1)
    cell = bpl.make_cell("gru", 2, H, dtype=F64)
    zs, jacs = rollout(cell, torch.randn(T, 1, 2, dtype=F64).expand(T, N, 2))
    imm = torch.randn(T, 1, H, dtype=F64).expand(T, N, H)
    ends = torch.zeros(T, N, dtype=torch.bool)
    ends[1] = True  # the last steps are a second episode: the trace restarted
    critic = random_critic(H, hidden)
    want, exact = _run(critic, "exact", zs[:, :1], jacs[:, :1], imm[:, :1], ends[:, :1])
    got, learner = _run(critic, f"uoro:{k}", zs, jacs, imm, ends)
    est = learner._variant.estimate()  # (N, H, C)
    target = exact.trace.reshape(1, H, -1)
    se = est.std(0) / N**0.5
    assert (est.mean(0) - target[0]).norm() < 4 * se.norm()
    assert se.norm() < 0.05 * target.norm()  # the test has power
    assert _rel(got, want) < 0.05


def test_uoro_variance_falls_with_samples():
    zs, jacs, imm, ends = _sequence(B=1)
    rep = 400
    zs, jacs, imm, ends = (x.expand(x.shape[0], rep, *x.shape[2:]) for x in (zs, jacs, imm, ends))
    critic = random_critic(zs.shape[-1])
    spread = []
    for k in (1, 8):
        torch.manual_seed(0)
        _, learner = _run(critic, f"uoro:{k}", zs[:4], jacs[:4], imm[:4], ends[:4])
        spread.append(float(learner._variant.estimate().var(0).sum()))
    assert spread[1] < spread[0] / 4


@pytest.mark.parametrize("trace", ["diagonal", "block:2", "uoro:2"])
def test_reset_rows_zeroes_only_those_rows(trace):
    zs, jacs, imm, ends = _sequence()
    learner = bpl.BPLambda(random_critic(4), 0.9, 1.0, trace=trace)
    learner.reset(3)
    for t in range(2):
        learner.step(zs[t], jacs[t], imm[t], ends[t])
    held = [t.clone() for t in learner._variant.held()[:2]]
    learner.reset_rows(torch.tensor([False, True, False]))
    for before, now in zip(held, learner._variant.held()):
        assert now[1].abs().sum() == 0 and before[1].abs().sum() > 0
        torch.testing.assert_close(now[[0, 2]], before[[0, 2]], rtol=0, atol=0)


@pytest.mark.parametrize("trace", ["diagonal", "block:2", "uoro:2"])
def test_state_dict_roundtrip_continues_identically(trace):
    zs, jacs, imm, ends = _sequence(T=8)
    critic = random_critic(4)
    torch.manual_seed(5)
    a = bpl.BPLambda(critic, 0.9, 0.8, trace=trace)
    a.reset(3)
    for t in range(4):
        a.step(zs[t], jacs[t], imm[t], ends[t])
    state = a.state_dict()
    assert state["trace_kind"] == trace
    b = bpl.BPLambda(critic, 0.9, 0.8, trace=trace)
    b.load_state_dict(state)
    grads = []
    for learner in (a, b):
        critic.zero_grad(set_to_none=True)
        for t in range(4, 8):
            learner.step(zs[t], jacs[t], imm[t], ends[t])
        grads.append([p.grad.clone() for p in critic.parameters()])
    for x, y in zip(*grads):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    with pytest.raises(ValueError, match=f"trace={trace!r} trace but this BPLambda has"):
        bpl.BPLambda(critic, 0.9, 0.8).load_state_dict(state)


def test_exact_state_dict_keeps_its_keys_and_loads_without_trace_kind():
    learner = bpl.BPLambda(random_critic(4))
    learner.reset(2)
    state = learner.state_dict()
    assert set(state) == {"batch_size", "trace", "pending", "sg_prev"}
    bpl.BPLambda(random_critic(4)).load_state_dict(state)
    with pytest.raises(ValueError, match="trace='exact' trace but this BPLambda has"):
        bpl.BPLambda(random_critic(4), trace="diagonal").load_state_dict(state)


@pytest.mark.parametrize("trace", ["diagonal", "block:2", "uoro:3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept_and_memory_is_below_the_exact_trace(trace, dtype):
    H, B = 8, 2
    critic = bpl.SyntheticGradient(H, dtype=dtype)
    learner = bpl.BPLambda(critic, trace=trace)
    learner.reset(B)
    z, imm = torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype)
    jac = torch.randn(B, H, H, dtype=dtype) / H**0.5
    for _ in range(3):
        sg = learner.step(z, jac, imm, torch.zeros(B, dtype=torch.bool))
    assert sg.dtype == dtype and all(t.dtype == dtype for t in learner._variant.held())
    assert critic.output.weight.grad.dtype == dtype
    exact = bpl.BPLambda(bpl.SyntheticGradient(H, dtype=dtype))
    exact.reset(B)
    assert learner.memory_bytes < exact.memory_bytes


@pytest.mark.parametrize("trace", ["exact", "diagonal", "block:2", "uoro:2"])
@pytest.mark.parametrize("hidden", [(), (3,)], ids=["linear", "hidden"])
def test_builds_and_carries_on_the_meta_device(trace, hidden):
    """Nothing is moved to the CPU: the traces live on the critic's device."""
    H, B = 4, 2
    critic = bpl.SyntheticGradient(H, hidden, device="meta")
    learner = bpl.BPLambda(critic, trace=trace)
    learner.reset(B)
    assert learner.trace.device.type == "meta"
    assert tuple(learner.trace.shape) == learner.trace_shape(B)
    z = torch.empty(B, H, device="meta")
    _, dg = learner.sensitivities(z)
    jac = torch.empty(B, H, H, device="meta")
    learner.carry_trace(jac, torch.ones(B, dtype=torch.bool, device="meta"), z)
    learner.add_sensitivities(dg)
    learner.accumulate_gradient(z)
    assert all(p.grad.device.type == "meta" for p in critic.trainable_parameters())


@pytest.mark.parametrize("rank", [2, 4])
def test_low_rank_critic_update_is_the_chain_rule_of_the_linear_one(rank):
    """ĝ = U(Vᵀz + c) + b with its exact (flat) trace, against the linear critic
    A = UVᵀ, a = Uc + b: g_U = g_A V + g_a cᵀ, g_Vᵀ = Uᵀ g_A, g_c = Uᵀ g_a, g_b = g_a."""
    zs, jacs, imm, ends = _sequence()
    H = zs.shape[-1]
    low = random_critic(H, (rank,), activation="linear")
    Vt, c = low.features[0].weight.detach(), low.features[0].bias.detach()
    U, b = low.output.weight.detach(), low.output.bias.detach()
    full = bpl.SyntheticGradient(H, dtype=F64)
    with torch.no_grad():
        full.output.weight.copy_(U @ Vt)
        full.output.bias.copy_(U @ c + b)
    torch.testing.assert_close(low(zs), full(zs))
    g_vt, g_c, g_u, g_b = _run(low, "exact", zs, jacs, imm, ends)[0]
    g_a, g_bias = _run(full, "exact", zs, jacs, imm, ends)[0]
    torch.testing.assert_close(g_u, g_a @ Vt.T + torch.outer(g_bias, c), rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(g_vt, U.T @ g_a, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(g_c, U.T @ g_bias, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(g_b, g_bias, rtol=1e-11, atol=1e-13)


def test_credit_engine_passes_the_trace_through():
    engine = bpl.CreditEngine("bp_lambda", 4, sg_trace="uoro:2")
    assert engine.bp_lambda.trace_kind == "uoro:2"
    assert isinstance(engine.bp_lambda._variant, bpl.UOROTrace)
    assert bpl.CreditEngine("bp_lambda", 4).bp_lambda._variant is None
    assert bpl.parse_trace("diagonal") == ("block", 1)
