"""λ-targets and future gradients against direct, independent computations."""

from __future__ import annotations

import pytest
import torch

import bpl

from .helpers import rollout


def _data(T=7, B=2, H=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    imm = torch.randn(T, B, H, generator=g, dtype=torch.float64)
    jacs = 0.7 * torch.randn(T, B, H, H, generator=g, dtype=torch.float64)
    sg = torch.randn(T, B, H, generator=g, dtype=torch.float64)
    return imm, jacs, sg


def _products(jacs, t, tau, b):
    """J_{t+1}^T ⋯ J_tau^T for row b, as an explicit matrix product."""
    H = jacs.shape[-1]
    out = torch.eye(H, dtype=jacs.dtype)
    for s in range(t + 1, tau + 1):
        out = out @ jacs[s, b].T
    return out


def test_future_gradients_is_the_explicit_sum():
    """G_t = Σ_{τ>t} γ^{τ−t−1} J_{t+1}^T ⋯ J_τ^T l_τ."""
    imm, jacs, _ = _data()
    gamma = 0.8
    G = bpl.future_gradients(imm, jacs, gamma)
    T, B, H = imm.shape
    for b in range(B):
        for t in range(T):
            want = sum(
                (
                    gamma ** (tau - t - 1) * _products(jacs, t, tau, b) @ imm[tau, b]
                    for tau in range(t + 1, T)
                ),
                torch.zeros(H, dtype=torch.float64),
            )
            torch.testing.assert_close(G[t, b], want)


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_lambda_targets_match_mixture_of_n_step_targets(lam):
    """G^λ_t = (1−λ) Σ_{n=1}^{h} λ^{n−1} G^{(n)}_t + λ^h G^{MC}_t with h = T−1−t: the
    λ-return form, computed without the recursion used by lambda_targets. G^{(n)}_t
    bootstraps with γ^n-discounted ĝ_{t+n} (the last state T−1 has a prediction too);
    G^{MC}_t sums every later loss with no bootstrap (the target at T−1 is 0)."""
    imm, jacs, sg = _data()
    gamma = 0.9
    T, B, H = imm.shape
    got = bpl.lambda_targets(imm, jacs, sg, gamma, lam)

    def n_step(t, n, b, bootstrap=True):
        acc = torch.zeros(H, dtype=torch.float64)
        for tau in range(t + 1, t + n + 1):
            acc += gamma ** (tau - t - 1) * _products(jacs, t, tau, b) @ imm[tau, b]
        if bootstrap:
            acc += gamma**n * _products(jacs, t, t + n, b) @ sg[t + n, b]
        return acc

    for b in range(B):
        for t in range(T - 1):
            h = T - 1 - t
            want = sum(
                ((1 - lam) * lam ** (n - 1) * n_step(t, n, b) for n in range(1, h + 1)),
                torch.zeros(H, dtype=torch.float64),
            ) + lam**h * n_step(t, h, b, bootstrap=False)
            torch.testing.assert_close(got[t, b], want)
        torch.testing.assert_close(got[T - 1, b], torch.zeros(H, dtype=torch.float64))


def test_lambda_one_equals_future_gradients_and_ignores_sg():
    imm, jacs, sg = _data()
    for gamma in (0.9, 1.0):
        torch.testing.assert_close(
            bpl.lambda_targets(imm, jacs, sg, gamma, 1.0), bpl.future_gradients(imm, jacs, gamma)
        )


def test_lambda_zero_is_one_step_bootstrap():
    imm, jacs, sg = _data()
    got = bpl.lambda_targets(imm, jacs, sg, 0.9, 0.0)
    for t in range(imm.shape[0] - 1):
        want = bpl.vjp_jacobian(jacs[t + 1], imm[t + 1] + 0.9 * sg[t + 1])
        torch.testing.assert_close(got[t], want)


def test_bootstrapped_targets_k_step():
    imm, jacs, sg = _data(T=4)
    boot = sg[-1]
    got = bpl.bootstrapped_targets(imm, jacs, boot, 0.9)
    torch.testing.assert_close(got[-1], boot)
    for b in range(imm.shape[1]):
        w = sum(0.9 ** (tau - 1) * _products(jacs, 0, tau, b) @ imm[tau, b] for tau in (1, 2, 3))
        w = w + 0.9**3 * _products(jacs, 0, 3, b) @ boot[b]
        torch.testing.assert_close(got[0, b], w)


def test_exact_state_gradients_equal_autograd_bptt():
    """l_t + G_t with γ = 1 is dL/dz_t for L = Σ_t L_t, computed by autograd."""
    torch.manual_seed(0)
    cell = bpl.GRUCell(2, 4, dtype=torch.float64)
    xs = torch.randn(6, 3, 2, dtype=torch.float64)
    C = torch.randn(4, 4, dtype=torch.float64)
    zs_list, z = [], cell.initial_state(3)
    for t in range(6):
        z = cell(xs[t], z)
        z.retain_grad()
        zs_list.append(z)
    loss = sum(((zs @ C) ** 2).sum() * (t + 1) / 10 for t, zs in enumerate(zs_list))
    loss.backward()
    bptt = torch.stack([zs.grad for zs in zs_list])
    zs, jacs = rollout(cell, xs)
    imm = torch.stack([2 * (zs[t] @ C) @ C.T * (t + 1) / 10 for t in range(6)])
    torch.testing.assert_close(bpl.exact_state_gradients(imm, jacs), bptt)
