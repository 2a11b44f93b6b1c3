"""Cheaper approximations of BP(λ)'s eligibility trace, selected by ``BPLambda(trace=…)``.

The exact trace E_t = γλ J_t E_{t−1} + ∂ĝ_t/∂θ is |z| × |θ| per row; for the linear critic
ĝ = W z + b on |z| = H that is H²(H+1) floats and ≈ 2H⁴ flops a step (bp_lambda.md §6).
The variants here keep the same critic and the same TD error δ and change only how E is
carried (notation: B rows, K = F+1 critic features incl. the bias, C = H·K trace columns
of the structured critic, P = |θ| for a critic with trainable hidden layers):

* ``"block:n"``: J_t is replaced by its n×n diagonal blocks (groups of n consecutive
  units). Exact when J_t is block-diagonal; ``"block:H"`` is the exact trace.
* ``"diagonal"``: ``"block:1"``, J_t replaced by diag(J_t) (element-wise units).
* ``"uoro"`` / ``"uoro:k"``: an unbiased stochastic estimate E ≈ (1/k) Σ_s u_s v_sᵀ of
  rank k per row (Tallec & Ollivier's UORO): u ∈ R^H is carried by J_t, v ∈ R^C
  accumulates; random signs make E[u vᵀ] = E_t exactly.

Every variant yields the update in the trace's column layout ((H, K) for the structured
critic, (P,) otherwise), which :class:`bpl.BPLambda` adds to the parameters' ``.grad``.
"""

from __future__ import annotations

import re

import torch

TRACE_HELP = "'exact', 'diagonal', 'block:<n>' or 'uoro' / 'uoro:<k>' (n, k positive ints)"
_SPEC = re.compile(r"^(exact|diagonal|uoro|block)(?::([0-9]+))?$")


def parse_trace(spec: object) -> tuple[str, int | None]:
    """Split a trace option into (kind, int parameter); raise ValueError if it is not one
    of :data:`TRACE_HELP`. ``"diagonal"`` is returned as ``("block", 1)``, ``"uoro"`` as
    ``("uoro", 1)``."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    param = int(match.group(2)) if match and match.group(2) is not None else None
    kind = match.group(1) if match else None
    ok = match is not None and (
        (kind in ("exact", "diagonal") and param is None)
        or (kind == "uoro" and (param is None or param >= 1))
        or (kind == "block" and param is not None and param >= 1)
    )
    if not ok:
        raise ValueError(f"trace must be one of {TRACE_HELP}, got {spec!r}")
    if kind == "diagonal":
        return "block", 1
    if kind == "uoro":
        return "uoro", param or 1
    return kind, param


def _decayed_jacobian(jac: torch.Tensor, carry: torch.Tensor, decay: float) -> torch.Tensor:
    """γλ J_t per row, 0 on rows that restart (their J is ignored): (B, H, H)."""
    B = jac.shape[0]
    scale = carry.to(jac.dtype) * decay
    return torch.where(carry.view(B, 1, 1), jac, 0.0) * scale.view(B, 1, 1)


class BlockTrace:
    """The trace carried by the n×n diagonal blocks of J_t (``"block:n"``; n = 1 is
    ``"diagonal"``). G = H/n groups; n must divide H.

    Structured critic: only the blocks E[h, i, :] with h, i in the same group are kept,
    ``tensor`` (B, G, n, n, K) with tensor[b, g, a, c] = E[b, gn+a, gn+c]. Off-group blocks
    are exactly zero when J_t is block-diagonal (∂ĝ_h/∂W[i, :] = 1[h = i] f̃), so the
    variant is then exact; otherwise it drops every path that crosses groups.
    Cost per row: B·H·n·K floats stored; a step ≈ 2(n+1)·n·H·K flops (one batched GEMM of
    (n+1)×n by n×nK per group), against H·C floats and ≈ 2H·H·C for the exact trace:
    the diagonal variant (n = 1) stores |θ| floats and costs O(|θ|) flops, like e-prop.

    Critic with trainable hidden layers: ``tensor`` (B, G, n, P) holds all of E (the same
    B·H·P floats as the exact trace), carried in ≈ 2(n+1)·H·P flops instead of 2H·H·P.
    """

    def __init__(self, n: int, state_size: int, structured: bool, cols: int) -> None:
        if state_size % n:
            raise ValueError(
                f"trace='block:{n}' needs n to divide the state size {state_size}, got n={n}"
            )
        self.n, self.groups = n, state_size // n
        self.structured = structured
        self.cols = cols  # K (structured) or P
        self.tensor: torch.Tensor | None = None

    def shape(self, batch_size: int) -> tuple[int, ...]:
        n, G = self.n, self.groups
        if self.structured:
            return (batch_size, G, n, n, self.cols)
        return (batch_size, G, n, self.cols)

    def reset(self, batch_size: int, ref: torch.Tensor) -> None:
        shape = self.shape(batch_size)
        if self.tensor is None or tuple(self.tensor.shape) != shape:
            self.tensor = torch.zeros(shape, dtype=ref.dtype, device=ref.device)
        else:
            self.tensor.zero_()

    def zero(self) -> None:
        self.tensor.zero_()

    def held(self) -> list[torch.Tensor]:
        return [self.tensor]

    def zero_rows(self, keep: torch.Tensor) -> None:
        self.tensor.mul_(keep.view(-1, *([1] * (self.tensor.dim() - 1))))

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint besides ``tensor`` (none)."""
        return {}

    def load(self, state: dict) -> None:
        """Restore :meth:`state` (``tensor`` is restored by the learner)."""

    def _blocks(self, jac: torch.Tensor) -> torch.Tensor:
        """The diagonal blocks of J: (B, H, H) -> (B, G, n, n)."""
        B, n, G = jac.shape[0], self.n, self.groups
        return torch.diagonal(jac.reshape(B, G, n, G, n), dim1=1, dim2=3).permute(0, 3, 1, 2)

    def carry(self, jac: torch.Tensor, carry: torch.Tensor, delta: torch.Tensor, decay: float):
        """E ← γλ blockdiag(J_t) E_{t−1} in place; return Σ_rows E_{t−1}^T δ (trace layout)."""
        E, n, G = self.tensor, self.n, self.groups
        B = E.shape[0]
        flat = E.view(B * G, n, -1)  # (B·G, n, nK or P)
        d = delta.reshape(B * G, 1, n)
        grad = self._sum_rows(torch.bmm(d, flat).view(B, -1))  # δ_gᵀ E_g per group
        if decay == 0.0:
            E.zero_()
            return grad
        blocks = self._blocks(_decayed_jacobian(jac, carry, decay)).reshape(B * G, n, n)
        if n == 1:
            flat.mul_(blocks)  # (B·H, 1, K) * (B·H, 1, 1)
        else:
            flat.copy_(torch.bmm(blocks, flat))
        return grad

    def _sum_rows(self, per_row: torch.Tensor) -> torch.Tensor:
        """(B, G·n·K) or (B, G·P) per-row products -> the (C,) or (P,) update."""
        if self.structured:
            return per_row.sum(0)  # (G, n, K) = (H, K), row i = gn + c
        return per_row.view(per_row.shape[0], self.groups, -1).sum((0, 1))

    def add(self, dg: torch.Tensor) -> None:
        """E += ∂ĝ_t/∂θ (structured: f̃ on the h = i diagonal of every group)."""
        if self.structured:
            diag = torch.diagonal(self.tensor, dim1=2, dim2=3)  # (B, G, K, n)
            diag.add_(dg.view(dg.shape[0], 1, -1, 1))
        else:
            self.tensor.add_(dg.view(self.tensor.shape))

    def grad(self, delta: torch.Tensor) -> torch.Tensor:
        """Σ_rows E^T δ with the current trace."""
        B, n, G = delta.shape[0], self.n, self.groups
        d = delta.reshape(B * G, 1, n)
        return self._sum_rows(torch.bmm(d, self.tensor.view(B * G, n, -1)).view(B, -1))


class UOROTrace:
    """Unbiased rank-k estimate of the trace (``"uoro:k"``): E ≈ (1/k) Σ_s u_s v_sᵀ per row.

    Each step, with ν ∈ {±1}^H fresh random signs per sample, D_t = ∂ĝ_t/∂θ (H × C):
        u ← ρ₀ γλ J_t u + ρ₁ ν,    v ← v/ρ₀ + D_tᵀν / ρ₁,
    ρ₀ = √(‖v‖/‖γλ J_t u‖), ρ₁ = √(‖D_tᵀν‖/‖ν‖) (variance-minimising, sign-symmetric).
    E[ννᵀ] = I and the cross terms are odd in ν, so E[u vᵀ] = γλ J_t E[u vᵀ]_{t−1} + D_t:
    the estimate, and the update v (uᵀδ), are unbiased; each sample adds variance.
    Cost per row: k(H + C) floats stored (C = H(H+1) for the linear critic: O(H²) instead
    of O(H³)); a step ≈ k(2H² + 8C) flops (J u, D_tᵀν = ν ⊗ f̃, the norms, v's update and
    vᵀ(uᵀδ)). With trainable hidden layers C = P, D_tᵀν costs H·P.
    """

    def __init__(self, k: int, state_size: int, structured: bool, cols: int, ref) -> None:
        self.k, self.H, self.structured = k, state_size, structured
        self.cols = state_size * cols if structured else cols  # C
        self.u: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self._ju: torch.Tensor | None = None  # γλ J_t u, between carry and add
        dev = ref.device
        seed = int(torch.randint(0, 2**62, ()).item())  # from the global RNG
        self.generator = None
        if dev.type in ("cpu", "cuda"):
            self.generator = torch.Generator(device=dev).manual_seed(seed)

    @property
    def tensor(self) -> torch.Tensor | None:
        return self.v

    def shape(self, batch_size: int) -> tuple[int, ...]:
        """Shape of v (u is (batch_size, k, H))."""
        return (batch_size, self.k, self.cols)

    def held(self) -> list[torch.Tensor]:
        return [self.u, self.v, self._ju]

    def reset(self, batch_size: int, ref: torch.Tensor) -> None:
        kw = {"dtype": ref.dtype, "device": ref.device}
        self.u = torch.zeros(batch_size, self.k, self.H, **kw)
        self.v = torch.zeros(batch_size, self.k, self.cols, **kw)
        self._ju = torch.zeros_like(self.u)

    def zero(self) -> None:
        for t in (self.u, self.v, self._ju):
            t.zero_()

    def zero_rows(self, keep: torch.Tensor) -> None:
        for t in (self.u, self.v):
            t.mul_(keep.view(-1, 1, 1))

    def state(self) -> dict[str, torch.Tensor]:
        """u and the sign generator's state (v is ``tensor``, checkpointed as "trace")."""
        out = {"trace_u": self.u.clone()}
        if self.generator is not None:
            out["rng_state"] = self.generator.get_state()
        return out

    def load(self, state: dict) -> None:
        """Restore :meth:`state` (v is restored by the learner)."""
        u = state.get("trace_u")
        if not isinstance(u, torch.Tensor) or tuple(u.shape) != tuple(self.u.shape):
            got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
            raise ValueError(f"state['trace_u'] must have shape {tuple(self.u.shape)}, got {got}")
        self.u.copy_(u)
        if self.generator is not None and "rng_state" in state:
            self.generator.set_state(state["rng_state"])

    def carry(self, jac: torch.Tensor, carry: torch.Tensor, delta: torch.Tensor, decay: float):
        """Keep γλ J_t u for :meth:`add`; return Σ_rows E_{t−1}^T δ."""
        grad = self.grad(delta)
        if decay == 0.0:
            self.zero()
            return grad
        jd = _decayed_jacobian(jac, carry, decay)
        torch.bmm(self.u, jd.transpose(1, 2), out=self._ju)  # (B, k, H): (J u_s)ᵀ
        self.v.mul_(carry.to(self.v.dtype).view(-1, 1, 1))  # restarting rows: E_{t−1} = 0
        return grad

    def add(self, dg: torch.Tensor) -> None:
        """Fold D_t = ∂ĝ_t/∂θ into (u, v) with fresh signs ν."""
        B, k, H = self.u.shape
        nu = torch.randint(0, 2, (B, k, H), generator=self.generator, device=self.u.device)
        nu = nu.to(self.u.dtype).mul_(2).sub_(1)
        if self.structured:  # D_tᵀν = ν ⊗ f̃
            dtn = (nu.unsqueeze(-1) * dg.view(B, 1, 1, -1)).view(B, k, -1)
        else:  # (B, H, P)
            dtn = torch.bmm(nu, dg)
        eps = torch.finfo(self.u.dtype).tiny ** 0.5
        rho0 = ((self.v.norm(dim=2) + eps) / (self._ju.norm(dim=2) + eps)).sqrt_()
        rho1 = ((dtn.norm(dim=2) + eps) / (H**0.5 + eps)) ** 0.5
        self.u.copy_(self._ju * rho0.unsqueeze(-1) + nu * rho1.unsqueeze(-1))
        self.v.div_(rho0.unsqueeze(-1)).add_(dtn / rho1.unsqueeze(-1))
        self._ju.zero_()

    def grad(self, delta: torch.Tensor) -> torch.Tensor:
        """Σ_rows (1/k) Σ_s v_s (u_sᵀ δ)."""
        ud = torch.bmm(self.u, delta.unsqueeze(-1))  # (B, k, 1)
        return (self.v * ud).sum((0, 1)).div_(self.k)

    def estimate(self) -> torch.Tensor:
        """The trace this stands for, (1/k) Σ_s u_s v_sᵀ: (B, H, C) (for tests)."""
        return torch.einsum("bsh,bsc->bhc", self.u, self.v) / self.k


def make_trace(spec: str, state_size: int, structured: bool, cols: int, ref: torch.Tensor):
    """The variant object for a parsed non-exact ``spec`` (None for ``"exact"``)."""
    kind, param = parse_trace(spec)
    if kind == "exact":
        return None
    if kind == "block":
        return BlockTrace(param, state_size, structured, cols)
    return UOROTrace(param, state_size, structured, cols, ref)
