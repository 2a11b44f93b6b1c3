"""Alignment of a learning signal with the exact BPTT gradient (bp_lambda.md §4).

Layout: time-first, (T, B, H). The quality of online learning is the quality of ĝ,
measured as the cosine between l_t + ĝ_t and dL/dz_t, and online by
:class:`AlignmentProbe`: ĝ_t against the exact future gradient G_t over stored stretches.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .checks import check_tensor, check_unit_interval
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


class ProbeResult(NamedTuple):
    """One :class:`AlignmentProbe` measurement over the steps where G_t is known.

    :param cosine: mean over steps of cos(ĝ_t, G_t).
    :param scale: the least-squares scale c = Σ ĝ_t·G_t / Σ ĝ_t·ĝ_t, which minimises
        Σ ‖c ĝ_t − G_t‖²: 1 for ĝ = G, below 1 for a critic that over-predicts or is
        partly noise, ≤ 0 for one that points the wrong way.
    :param steps: how many (step, row) pairs were measured.
    """

    cosine: float
    scale: float
    steps: int


class AlignmentProbe:
    """ĝ_t against the exact discounted future gradient G_t, measured online.

    It stores the critic's predictions ĝ_t with the Jacobians J_t, immediate gradients
    l_t and episode starts and, every ``horizon`` steps, computes G_t by a backward sweep
    over the stored stretch (:func:`bpl.future_gradients`). Steps count where G_t is exact
    within the stretch: the episode ends inside it, or at least half the stretch
    follows t (then G_t misses only terms discounted by γ^{horizon/2}).

    :param horizon: steps per measurement (>= 2).
    :param gamma: the critic's discount γ_g (G_t is discounted by it).
    """

    def __init__(self, horizon: int, gamma: float) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 2:
            raise ValueError(f"horizon must be an integer >= 2, got {horizon!r}")
        self.horizon, self.gamma = horizon, check_unit_interval("gamma", gamma)
        self._stored: dict[str, list[torch.Tensor]] = {}

    def reset(self) -> None:
        """Forget the stored steps (new episodes in every row)."""
        self._stored = {}

    def add(
        self,
        predictions: torch.Tensor,
        jacs: torch.Tensor,
        imm_grads: torch.Tensor,
        starts: torch.Tensor,
    ) -> ProbeResult | None:
        """Store T steps; return a measurement once ``horizon`` steps are stored, else None.

        :param predictions: ĝ_t, (T, B, H), in z's coordinates.
        :param jacs: J_t, (T, B, H, H).
        :param imm_grads: l_t, (T, B, H).
        :param starts: (T, B), 1 (or True) where step t starts an episode.
        """
        p = self._stored
        for key, val in (("sg", predictions), ("jac", jacs), ("l", imm_grads), ("st", starts)):
            p.setdefault(key, []).append(val.detach())
        if sum(x.shape[0] for x in p["sg"]) < self.horizon:
            return None
        sg, jac, imm, st = (torch.cat(p[k]) for k in ("sg", "jac", "l", "st"))
        self._stored = {}
        st = st.to(sg.dtype)
        jac = jac * (1.0 - st)[..., None, None]  # cut the chain at episode starts
        G = future_gradients(imm, jac, self.gamma)  # (N, B, H)
        N = sg.shape[0]
        ends_after = torch.flip(torch.cummax(torch.flip(st, [0]), 0).values, [0])  # (N, B)
        # a start at s > t means t's episode ended inside the stretch
        later_start = torch.cat([ends_after[1:], torch.zeros_like(ends_after[:1])]) > 0
        early = torch.arange(N, device=sg.device).unsqueeze(1) < N // 2
        mask = (later_start | early) & (G.norm(dim=-1) > 0)
        if not bool(mask.any()):
            return None
        g, target = sg[mask], G[mask]  # (M, H)
        cos = cosine_similarity(g, target).mean().item()
        scale = float((g * target).sum() / (g * g).sum().clamp_min(1e-30))
        return ProbeResult(cos, scale, int(mask.sum()))


#: rate of :class:`Reliability`'s running mean (EMA per measurement)
RELIABILITY_RATE = 0.2


class Reliability:
    """The running least-squares scale c = Σ ĝ_t·G_t / Σ ĝ_t·ĝ_t of a critic's
    predictions against the exact future gradients, from :class:`AlignmentProbe`
    measurements: 1 for a perfect critic, near 0 for a zero, noisy or misaligned one,
    below 1 for one that over-predicts. The first measurement is taken whole, later ones
    move :attr:`value` by ``RELIABILITY_RATE`` towards theirs.

    :param horizon: steps per measurement.
    :param gamma: the critic's discount γ_g.
    """

    def __init__(self, horizon: int, gamma: float) -> None:
        self.probe = AlignmentProbe(horizon, gamma)
        #: the running scale (0 until measured)
        self.value = 0.0
        #: the last measurement's mean cosine (None until measured)
        self.alignment: float | None = None
        self.measurements = 0

    def reset(self) -> None:
        """Forget the stored steps (the running value stays)."""
        self.probe.reset()

    @torch.no_grad()
    def add(
        self,
        predictions: torch.Tensor,
        jacs: torch.Tensor,
        imm_grads: torch.Tensor,
        starts: torch.Tensor | None,
    ) -> None:
        """Store T steps (as :meth:`AlignmentProbe.add`; ``starts`` None: no episode
        starts) and fold a finished measurement into :attr:`value`."""
        if starts is None:
            starts = torch.zeros(predictions.shape[:2], dtype=torch.bool, device=predictions.device)
        dtype = predictions.dtype
        res = self.probe.add(predictions, jacs.to(dtype), imm_grads.to(dtype), starts)
        if res is None:
            return
        self.alignment = res.cosine
        rate = 1.0 if self.measurements == 0 else RELIABILITY_RATE
        self.measurements += 1
        self.value += rate * (res.scale - self.value)
