"""Standardised coordinates for the gradient critic: an exact change of variables.

A gradient critic with fixed-rate updates (Adam) learns slowly along directions of the
state that vary little: to map a small difference Δz between two states to the large
difference in their future gradients it needs a large weight, reached one bounded step
at a time. A recurrent memory starts exactly like that (the cue a T-maze agent must
carry is a small direction of z at first), so the critic cannot say "keep this" until
the state already holds it well. Standardising each unit of z removes that bottleneck.

With a per-unit scale s > 0 and offset μ (held fixed while they are used), the
coordinates z' = (z − μ) / s give

    J'_t = ∂z'_t/∂z'_{t−1} = diag(1/s) J_t diag(s),      l'_t = ∂L_t/∂z'_t = s ⊙ l_t,

and the future gradient G'_t = s ⊙ G_t. BP(λ) run on (z', J', l') therefore learns a
critic ĝ' of z' whose prediction of the gradient in the original coordinates is
ĝ(z) = ĝ'((z − μ)/s) / s, and its λ-targets are exactly s ⊙ (the original λ-targets)
(``tests/bpl/test_normalization.py`` checks this identity).
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_positive_int


class StateNormalizer(nn.Module):
    """Running per-unit mean and variance of the state, and the change of variables above.

    :param state_size: H, the size of z.
    :param momentum: weight of a new batch in the running statistics, in (0, 1]; the
        first batch sets them exactly.
    :param min_std: lower bound on s (units that never move keep s = ``min_std``).
    """

    def __init__(
        self,
        state_size: int,
        momentum: float = 0.01,
        min_std: float = 1e-3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.state_size = check_positive_int("state_size", state_size)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ValueError(f"momentum must be a number in (0, 1], got {momentum!r}")
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        if isinstance(min_std, bool) or not isinstance(min_std, (int, float)) or not min_std > 0:
            raise ValueError(f"min_std must be a number > 0, got {min_std!r}")
        self.momentum = float(momentum)
        self.min_std = float(min_std)
        kw = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("mean", torch.zeros(state_size, **kw))
        self.register_buffer("var", torch.ones(state_size, **kw))
        self.register_buffer("count", torch.zeros((), **kw))

    @property
    def std(self) -> torch.Tensor:
        """s, (H,)."""
        return self.var.sqrt().clamp_min(self.min_std)

    def _check(self, name: str, x: torch.Tensor, trailing: int) -> None:
        H = self.state_size
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < trailing or any(d != H for d in x.shape[x.dim() - trailing :]):
            want = ", ".join(["H"] * trailing)
            raise ValueError(
                f"{name} must have shape (..., {want}) with H = {H}, got {tuple(x.shape)}"
            )

    @torch.no_grad()
    def update(self, z: torch.Tensor) -> None:
        """Fold states z (..., H) into the running mean and variance."""
        self._check("z", z, 1)
        flat = z.detach().reshape(-1, self.state_size).to(self.mean.dtype)
        mean, var = flat.mean(0), flat.var(0, unbiased=False)
        if float(self.count) == 0.0:
            self.mean.copy_(mean)
            self.var.copy_(var)
        else:
            m = self.momentum
            delta = mean - self.mean
            self.mean.add_(m * delta)
            # variance about the new mean: old spread, new spread, and the shift between them
            self.var.copy_((1 - m) * (self.var + m * delta.pow(2)) + m * var)
        self.count.add_(flat.shape[0])

    def transform(
        self,
        z: torch.Tensor,
        jac: torch.Tensor | None = None,
        imm_grad: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(z', J', l') from z (..., H), J (..., H, H) and l (..., H); None passes through."""
        self._check("z", z, 1)
        s = self.std.to(z.dtype)
        z_n = (z - self.mean.to(z.dtype)) / s
        jac_n = None
        if jac is not None:
            self._check("jac", jac, 2)
            jac_n = jac * (s.unsqueeze(-2) / s.unsqueeze(-1))  # [i, j] · s_j / s_i
        imm_n = None
        if imm_grad is not None:
            self._check("imm_grad", imm_grad, 1)
            imm_n = imm_grad * s
        return z_n, jac_n, imm_n

    def to_gradient(self, g_n: torch.Tensor) -> torch.Tensor:
        """A gradient in z' coordinates, (..., H), back in z coordinates: g'/s."""
        self._check("g_n", g_n, 1)
        return g_n / self.std.to(g_n.dtype)

    def extra_repr(self) -> str:
        return f"state_size={self.state_size}, momentum={self.momentum}, min_std={self.min_std}"
