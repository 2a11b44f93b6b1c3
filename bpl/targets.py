"""Offline (forward-view) targets for the gradient critic.

Layout: time-first. ``imm_grads`` l and ``sg`` ĝ are (T, B, H); ``jacs`` is
(T, B, H, H) with ``jacs[t]`` = J_t = ∂z_t/∂z_{t-1} (``jacs[0]`` is never used). Each
function treats its input as one sequence per row that ends at step T−1, so nothing
flows back past it. Equations from docs/bp_lambda.md §2–3.
"""

from __future__ import annotations

import torch

from .checks import check_finite, check_tensor, check_unit_interval


def vjp_jacobian(jac: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """J^T v per row: (B, H, H), (B, H) -> (B, H)."""
    return torch.einsum("bij,bi->bj", jac, v)


def _check_sequence(imm_grads: torch.Tensor, jacs: torch.Tensor) -> tuple[int, int, int]:
    check_tensor("imm_grads", imm_grads, (None, None, None))
    T, B, H = imm_grads.shape
    check_tensor("jacs", jacs, (T, B, H, H))
    check_finite("imm_grads", imm_grads)
    check_finite("jacs", jacs[1:])
    return T, B, H


def future_gradients(imm_grads: torch.Tensor, jacs: torch.Tensor, gamma: float) -> torch.Tensor:
    """True discounted future gradient G_t (bp_lambda.md §2).

    G_t = J_{t+1}^T (l_{t+1} + γ G_{t+1}),   G_{T−1} = 0.

    With γ = 1, l_t + G_t is exactly the BPTT gradient dL/dz_t.

    :param imm_grads: l, (T, B, H).
    :param jacs: J, (T, B, H, H).
    :param gamma: discount γ ∈ [0, 1].
    :return: G, (T, B, H).
    """
    gamma = check_unit_interval("gamma", gamma)
    T, _, _ = _check_sequence(imm_grads, jacs)
    out = torch.zeros_like(imm_grads)
    for t in range(T - 2, -1, -1):
        out[t] = vjp_jacobian(jacs[t + 1], imm_grads[t + 1] + gamma * out[t + 1])
    return out


def lambda_targets(
    imm_grads: torch.Tensor, jacs: torch.Tensor, sg: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """λ-targets G^λ_t for the gradient critic (bp_lambda.md §3).

    G^λ_t = J_{t+1}^T ( l_{t+1} + γ[(1−λ) ĝ_{t+1} + λ G^λ_{t+1}] ),   G^λ_{T−1} = 0.

    λ = 1 gives :func:`future_gradients`; λ = 0 gives the one-step bootstrapped target
    of Jaderberg et al.

    :param imm_grads: l, (T, B, H).
    :param jacs: J, (T, B, H, H).
    :param sg: the critic's predictions ĝ_t, (T, B, H).
    :param gamma: discount γ ∈ [0, 1].
    :param lam: trace decay λ ∈ [0, 1].
    :return: G^λ, (T, B, H).
    """
    gamma = check_unit_interval("gamma", gamma)
    lam = check_unit_interval("lam", lam)
    T, B, H = _check_sequence(imm_grads, jacs)
    check_tensor("sg", sg, (T, B, H))
    check_finite("sg", sg)
    out = torch.zeros_like(imm_grads)
    for t in range(T - 2, -1, -1):
        mix = (1.0 - lam) * sg[t + 1] + lam * out[t + 1]  # (B, H)
        out[t] = vjp_jacobian(jacs[t + 1], imm_grads[t + 1] + gamma * mix)
    return out


def bootstrapped_targets(
    imm_grads: torch.Tensor, jacs: torch.Tensor, bootstrap: torch.Tensor, gamma: float
) -> torch.Tensor:
    """k-step bootstrapped targets inside one window of k = T−1 transitions (DNI).

    The window holds states z_0 … z_{T−1}; the last one is bootstrapped with
    ``bootstrap`` = ĝ(z_{T−1}) (zero where the sequence really ends there):

    target_t = J_{t+1}^T (l_{t+1} + γ target_{t+1}),   target_{T−1} = bootstrap.

    target_0 is the k-step target Jaderberg et al. train the gradient critic on at a
    window's first state.

    :param imm_grads: l, (T, B, H).
    :param jacs: J, (T, B, H, H).
    :param bootstrap: ĝ at the last state of the window, (B, H).
    :param gamma: discount γ ∈ [0, 1].
    :return: targets, (T, B, H); ``out[-1]`` equals ``bootstrap``.
    """
    gamma = check_unit_interval("gamma", gamma)
    T, B, H = _check_sequence(imm_grads, jacs)
    check_tensor("bootstrap", bootstrap, (B, H))
    out = torch.empty_like(imm_grads)
    out[T - 1] = bootstrap
    for t in range(T - 2, -1, -1):
        out[t] = vjp_jacobian(jacs[t + 1], imm_grads[t + 1] + gamma * out[t + 1])
    return out
