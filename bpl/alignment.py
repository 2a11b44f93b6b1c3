"""Alignment of a learning signal with the exact BPTT gradient (bp_lambda.md §4).

Layout: time-first, (T, B, H). The quality of online learning is the quality of ĝ,
measured as the cosine between l_t + ĝ_t and dL/dz_t.
"""

from __future__ import annotations

import torch

from ._checks import check_tensor, check_unit_interval
from .targets import future_gradients


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Cosine between ``a`` and ``b`` along the last dimension: (..., H) -> (...).

    A zero vector has cosine 0 with anything (never NaN).
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    dot = (a * b).sum(-1)
    return dot / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps)


def exact_state_gradients(
    imm_grads: torch.Tensor, jacs: torch.Tensor, gamma: float = 1.0
) -> torch.Tensor:
    """dL/dz_t = l_t + G_t, (T, B, H); with γ = 1 this is the BPTT gradient."""
    gamma = check_unit_interval("gamma", gamma)
    return imm_grads + future_gradients(imm_grads, jacs, gamma)


def alignment(
    signals: torch.Tensor, exact: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step and overall mean cosine between ``signals`` and ``exact``.

    :param signals: learning signals, e.g. l_t + ĝ_t, (T, B, H).
    :param exact: the exact gradients dL/dz_t, (T, B, H).
    :param mask: optional (T, B) bool; only True entries count (e.g. steps where the
        exact gradient is non-zero).
    :return: (per-step mean over rows, (T,); overall mean, scalar). A step with no
        counted row gets NaN in the per-step mean.
    """
    check_tensor("signals", signals, (None, None, None))
    check_tensor("exact", exact, tuple(signals.shape))
    cos = cosine_similarity(signals, exact)  # (T, B, H) -> (T, B)
    if mask is None:
        mask = torch.ones_like(cos, dtype=torch.bool)
    if tuple(mask.shape) != tuple(cos.shape):
        raise ValueError(f"mask must have shape {tuple(cos.shape)}, got {tuple(mask.shape)}")
    w = mask.to(cos.dtype)
    per_step = (cos * w).sum(1) / w.sum(1)  # (T,)
    overall = (cos * w).sum() / w.sum().clamp_min(1)
    return per_step, overall
