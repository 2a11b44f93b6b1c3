"""bpl.StateNormalizer: running statistics and the exact change of variables."""

from __future__ import annotations

import pytest
import torch

import bpl

from .helpers import rollout


def _sequence(T: int = 7, B: int = 3, H: int = 5, seed: int = 0):
    torch.manual_seed(seed)
    cell = bpl.make_cell("gru", 2, H, dtype=torch.float64)
    zs, jacs = rollout(cell, torch.randn(T, B, 2, dtype=torch.float64))
    jacs[0] = 0.0  # the sequence starts at t = 0
    return zs, jacs, torch.randn(T, B, H, dtype=torch.float64)


def _normalizer(H: int, seed: int = 1) -> bpl.StateNormalizer:
    torch.manual_seed(seed)
    norm = bpl.StateNormalizer(H, dtype=torch.float64)
    norm.update(torch.randn(50, H, dtype=torch.float64) * torch.rand(H, dtype=torch.float64) * 3)
    return norm


@pytest.mark.parametrize("gamma, lam", [(1.0, 1.0), (0.9, 0.5), (0.95, 0.0)])
def test_lambda_targets_transform_by_the_scale(gamma, lam):
    """G'^λ computed in z' coordinates with ĝ'(z') equals s ⊙ G^λ computed in z with
    ĝ(z) = ĝ'((z − μ)/s)/s (the module docstring's identity)."""
    zs, jacs, imm = _sequence()
    H = zs.shape[-1]
    norm = _normalizer(H)
    critic = bpl.SyntheticGradient(H, hidden_sizes=(4,), dtype=torch.float64)
    torch.nn.init.normal_(critic.output.weight)
    zn, jn, ln = norm.transform(zs, jacs, imm)
    with torch.no_grad():
        g_n = critic(zn)
    g = norm.to_gradient(g_n)
    s = norm.std
    got = bpl.lambda_targets(ln, jn, g_n, gamma, lam)
    want = s * bpl.lambda_targets(imm, jacs, g, gamma, lam)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        bpl.future_gradients(ln, jn, gamma), s * bpl.future_gradients(imm, jacs, gamma)
    )
    torch.testing.assert_close(zn * s + norm.mean, zs)


def test_jacobian_transform_is_the_jacobian_of_the_new_coordinates():
    torch.manual_seed(3)
    H = 4
    cell = bpl.make_cell("gru", 2, H, dtype=torch.float64)
    norm = _normalizer(H, seed=4)
    x, z_prev = torch.randn(1, 2, dtype=torch.float64), torch.randn(1, H, dtype=torch.float64)
    _, jac = cell.jacobian(x, z_prev)

    def step_n(zp_n):  # z'_{t-1} -> z'_t
        z = cell(x, (zp_n * norm.std + norm.mean).unsqueeze(0))
        return ((z - norm.mean) / norm.std)[0]

    zp_n = norm.transform(z_prev)[0][0]
    want = torch.autograd.functional.jacobian(step_n, zp_n)
    torch.testing.assert_close(norm.transform(z_prev, jac)[1][0], want)


def test_running_statistics_match_the_pooled_batches():
    torch.manual_seed(0)
    a, b = torch.randn(40, 3, dtype=torch.float64), 2 + 3 * torch.randn(40, 3, dtype=torch.float64)
    norm = bpl.StateNormalizer(3, momentum=0.5, dtype=torch.float64)
    norm.update(a)  # the first batch sets the statistics exactly
    torch.testing.assert_close(norm.mean, a.mean(0))
    torch.testing.assert_close(norm.var, a.var(0, unbiased=False))
    norm.update(b)  # momentum ½, equal sizes: the statistics of the two batches pooled
    both = torch.cat([a, b])
    torch.testing.assert_close(norm.mean, both.mean(0))
    torch.testing.assert_close(norm.var, both.var(0, unbiased=False))
    assert float(norm.count) == 80


def test_constant_units_keep_the_minimum_scale_and_state_dict_round_trips():
    norm = bpl.StateNormalizer(2, min_std=1e-2)
    norm.update(torch.tensor([[1.0, 0.0], [3.0, 0.0]]))
    torch.testing.assert_close(norm.std, torch.tensor([1.0, 1e-2]))
    other = bpl.StateNormalizer(2, min_std=1e-2)
    other.load_state_dict(norm.state_dict())
    torch.testing.assert_close(other.std, norm.std)


@pytest.mark.parametrize(
    "build, word",
    [
        (lambda: bpl.StateNormalizer(0), "state_size"),
        (lambda: bpl.StateNormalizer(3, momentum=0.0), "momentum"),
        (lambda: bpl.StateNormalizer(3, momentum=1.5), "momentum"),
        (lambda: bpl.StateNormalizer(3, min_std=0.0), "min_std"),
        (lambda: bpl.StateNormalizer(3).update(torch.zeros(4, 2)), "z must have shape"),
        (lambda: bpl.StateNormalizer(3).transform(torch.zeros(3), torch.zeros(3, 2)), "jac"),
        (lambda: bpl.StateNormalizer(3).transform(torch.zeros(3), None, torch.ones(4)), "imm_grad"),
        (lambda: bpl.StateNormalizer(3).to_gradient([0.0, 1.0, 2.0]), "torch.Tensor"),
    ],
)
def test_bad_input(build, word):
    with pytest.raises(ValueError, match=word):
        build()
