"""The alignment probe behind ``bpl/sg_cosine``: how well ĝ predicts the true future gradient.

It stores the gradient critic's predictions ĝ_t with the window's Jacobians J_t,
immediate gradients l_t and episode starts and, every ``horizon`` steps, computes the
exact discounted future gradient G_t by a backward sweep over the stored stretch
(:func:`bpl.future_gradients`) and returns the mean cosine between ĝ_t and G_t.
"""

from __future__ import annotations

import torch

from bpl import cosine_similarity, future_gradients


class AlignmentProbe:
    """Cosine between ĝ_t and G_t over stretches of ``horizon`` steps.

    :param horizon: steps per measurement (>= 2).
    :param gamma: the critic's discount γ_g (G_t is discounted by it).
    """

    def __init__(self, horizon: int, gamma: float) -> None:
        self.horizon, self.gamma = horizon, gamma
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
    ) -> float | None:
        """Store a window; return the mean cosine when ``horizon`` steps are stored, else None.

        Steps count where G_t is exact within the stored stretch: the episode ends inside
        it, or at least half the stretch follows t.

        :param predictions: ĝ_t, (T, B, |z|), in z's coordinates.
        :param jacs: J_t, (T, B, |z|, |z|).
        :param imm_grads: l_t, (T, B, |z|).
        :param starts: (T, B) float, 1 where step t starts an episode.
        """
        p = self._stored
        for key, val in (("sg", predictions), ("jac", jacs), ("l", imm_grads), ("st", starts)):
            p.setdefault(key, []).append(val.detach())
        if sum(x.shape[0] for x in p["sg"]) < self.horizon:
            return None
        sg, jac, imm, st = (torch.cat(p[k]) for k in ("sg", "jac", "l", "st"))
        self._stored = {}
        jac = jac * (1.0 - st)[..., None, None]  # cut the chain at episode starts
        G = future_gradients(imm, jac, self.gamma)  # (N, B, |z|)
        N = sg.shape[0]
        ends_after = torch.flip(torch.cummax(torch.flip(st, [0]), 0).values, [0])  # (N, B)
        # a start at s > t means t's episode ended inside the stretch
        later_start = torch.cat([ends_after[1:], torch.zeros_like(ends_after[:1])]) > 0
        early = torch.arange(N, device=sg.device).unsqueeze(1) < N // 2
        mask = (later_start | early) & (G.norm(dim=-1) > 0)
        if not bool(mask.any()):
            return None
        return cosine_similarity(sg, G)[mask].mean().item()


__all__ = ["AlignmentProbe"]
