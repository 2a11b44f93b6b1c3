"""Accumulate BP(λ): online TD(λ) learning of the gradient critic (bp_lambda.md §4).

Layout: batch-first, one call per time step. ``z``, ``imm_grad`` are (B, H) and ``jac``
is (B, H, H). The eligibility trace E_t (|z| × |θ| per row) is one tensor:

* structured, when only the critic's output layer learns (the linear critic, or a
  critic with frozen hidden layers): ĝ = W̃ f̃ with f̃ = [features; 1] of size F+1, and
  E is (B, H, H_out, F+1), E[b, h, i, :] = ∂ĝ_h/∂W̃[i, :] carried forward;
* flat, for any other critic: E is (B, H, P) over all P trainable parameters, with
  ∂ĝ_t/∂θ computed analytically layer by layer.

Either way the expensive part of a step, J_t E_{t−1}, is one batched matmul. Cheaper
approximations of E (block-diagonal / diagonal J, a rank-k UORO estimate) are selected
with ``trace=``; see :mod:`bpl.trace_variants`.
"""

from __future__ import annotations

import torch

from .checks import (
    check_finite,
    check_mask,
    check_positive_int,
    check_tensor,
    check_unit_interval,
)
from .synthetic_gradient import SyntheticGradient
from .targets import vjp_jacobian
from .trace_variants import make_trace

#: Default size of the scratch buffer the trace is carried forward through, by device
#: type: on a CPU it should stay in cache (the trace is updated in place, chunk by chunk,
#: never copied whole); on a GPU larger chunks mean fewer kernel launches.
_SCRATCH_BYTES = {"cpu": 4 << 20, "cuda": 64 << 20}
_SCRATCH_BYTES_OTHER = 16 << 20

_ACTIVATION_FNS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "elu": torch.nn.functional.elu,
    "linear": lambda u: u,
}
# φ'(u) written in terms of a = φ(u)
_ACTIVATION_GRADS = {
    "relu": lambda a: (a > 0).to(a.dtype),
    "tanh": lambda a: 1 - a * a,
    "elu": lambda a: torch.where(a > 0, torch.ones_like(a), a + 1),
    "linear": torch.ones_like,
}


def td_error(
    jac_next: torch.Tensor,
    imm_grad_next: torch.Tensor,
    sg_next: torch.Tensor,
    sg: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """TD error δ_t = J_{t+1}^T (l_{t+1} + γ ĝ_{t+1}) − ĝ_t, per row: (B, H)."""
    return vjp_jacobian(jac_next, imm_grad_next + gamma * sg_next) - sg


class BPLambda:
    """Accumulate BP(λ) for a :class:`SyntheticGradient`, with per-row traces.

    Each call to :meth:`step` computes ĝ(z_t), every TD error that has become known,
    and adds ``−mean_over_batch(E^T δ)`` to the critic's ``.grad`` (never zeroing it and
    never touching the parameters): a torch optimizer then applies the update, e.g. SGD
    with rate α gives θ ← θ + α·mean(E^T δ).

    TD error:  δ_t = J_{t+1}^T (l_{t+1} + γ ĝ_{t+1}) − ĝ_t,   δ_T = −ĝ_T at an episode end
    trace:     E_t = γλ J_t E_{t−1} + ∂ĝ_t/∂θ,   E = 0 at an episode start

    :param gradient_critic: the gradient critic ĝ(z; θ).
    :param gamma: discount γ ∈ [0, 1] of distant losses.
    :param lam: trace decay λ ∈ [0, 1] (0: Jaderberg's bootstrapped target; 1: unbiased).
    :param check_inputs: check every input for NaN/inf (one reduction per input per step).
    :param scratch_bytes: size of the buffer the trace is carried forward through, in
        chunks of columns (default: 4 MiB on CPU to stay in cache, 64 MiB on CUDA). Memory
        is the trace, B·H·|θ| floats, plus this.
    :param trace: how E is carried: ``"exact"`` (default: the exact E_t, the only one with
        no bias and no extra variance), or a cheaper approximation of
        :mod:`bpl.trace_variants`: ``"block:n"`` (J_t's n×n diagonal blocks),
        ``"diagonal"`` (= ``"block:1"``), ``"uoro"`` / ``"uoro:k"`` (unbiased rank-k estimate).
    """

    def __init__(
        self,
        gradient_critic: SyntheticGradient,
        gamma: float = 1.0,
        lam: float = 1.0,
        check_inputs: bool = True,
        scratch_bytes: int | None = None,
        trace: str = "exact",
    ) -> None:
        if not isinstance(gradient_critic, SyntheticGradient):
            raise ValueError(
                "gradient_critic must be a bpl.SyntheticGradient, got "
                f"{type(gradient_critic).__name__}"
            )
        self.gradient_critic = gradient_critic
        self.gamma = check_unit_interval("gamma", gamma)
        self.lam = check_unit_interval("lam", lam)
        self.check_inputs = bool(check_inputs)
        if scratch_bytes is not None:
            check_positive_int("scratch_bytes", scratch_bytes)
        self.scratch_bytes = scratch_bytes
        self.params = gradient_critic.trainable_parameters()
        if not self.params:
            raise ValueError("the gradient critic has no trainable parameters")
        self.structured = gradient_critic.output_layer_only
        self.trace_kind = trace
        cols = gradient_critic.feature_size + 1 if self.structured else self.num_trace_params
        self._variant = make_trace(trace, self.state_size, self.structured, cols, self.params[0])
        self.batch_size: int | None = None
        self.trace: torch.Tensor | None = None
        self._scratch: torch.Tensor | None = None
        self._pending: torch.Tensor | None = None  # (B,) bool: row continues from t-1
        self._sg_prev: torch.Tensor | None = None  # (B, H): ĝ_{t-1}
        #: mean over rows of ‖δ‖ for the TD errors applied at the last step (a tensor).
        self.last_td_error: torch.Tensor | None = None

    # ------------------------------------------------------------------ state
    @property
    def state_size(self) -> int:
        return self.gradient_critic.state_size

    @property
    def num_trace_params(self) -> int:
        """|θ| covered by the trace."""
        return sum(p.numel() for p in self.params)

    @property
    def memory_bytes(self) -> int:
        """Bytes held between steps: the trace, its scratch buffer and the pending ĝ_{t−1}
        (0 before :meth:`reset`)."""
        held = [self.trace, self._scratch, self._sg_prev, self._pending]
        if self._variant is not None and self.batch_size is not None:
            held = self._variant.held() + held[2:]
        return sum(t.numel() * t.element_size() for t in held if t is not None)

    def trace_shape(self, batch_size: int) -> tuple[int, ...]:
        """Shape of E for ``batch_size`` rows (for an approximate trace, of :attr:`trace`,
        its main tensor: the kept blocks, or UORO's v)."""
        H = self.state_size
        if self._variant is not None:
            return self._variant.shape(batch_size)
        if self.structured:
            return (batch_size, H, H, self.gradient_critic.feature_size + 1)
        return (batch_size, H, self.num_trace_params)

    def reset(self, batch_size: int) -> None:
        """Zero the traces and forget any pending step, for ``batch_size`` rows."""
        check_positive_int("batch_size", batch_size)
        ref = self.params[0]
        shape = self.trace_shape(batch_size)
        if self._variant is not None:
            self._variant.reset(batch_size, ref)
            self.trace = self._variant.tensor
        elif self.trace is None or tuple(self.trace.shape) != shape:
            self.trace = self._allocate(shape, ref)
            budget = self.scratch_bytes or _SCRATCH_BYTES.get(ref.device.type, _SCRATCH_BYTES_OTHER)
            rows = batch_size * (self.state_size + 1)
            cols = self.trace[0, 0].numel()
            width = max(1, min(cols, budget // (rows * self.trace.element_size())))
            # (B, H+1, width): H rows of the carried trace, 1 row of δ^T E (see carry_trace)
            self._scratch = torch.empty(
                (batch_size, self.state_size + 1, width), dtype=ref.dtype, device=ref.device
            )
        else:
            self.trace.zero_()
        self.batch_size = batch_size
        self._pending = torch.zeros(batch_size, dtype=torch.bool, device=ref.device)
        self._sg_prev = torch.zeros(batch_size, self.state_size, dtype=ref.dtype, device=ref.device)
        self.last_td_error = None

    @staticmethod
    def _allocate(shape: tuple[int, ...], ref: torch.Tensor) -> torch.Tensor:
        """A zero trace of ``shape``, or a MemoryError saying how much it needed."""
        size = ref.element_size()
        for d in shape:
            size *= d
        try:
            return torch.zeros(shape, dtype=ref.dtype, device=ref.device)
        except (RuntimeError, MemoryError) as err:
            raise MemoryError(
                f"the BP(λ) trace of shape {shape} ({ref.dtype}) needs {size / 2**30:.3g} GiB "
                f"on {ref.device}, which could not be allocated; use a smaller batch_size, "
                f"a smaller state or a critic trained output-only ({err})"
            ) from err

    def reset_rows(self, rows: torch.Tensor) -> None:
        """Restart the episodes of the rows where ``rows`` (B,) is True: zero their traces
        and drop their pending step, without applying any TD error."""
        self._require_reset()
        rows = check_mask("rows", rows, self.batch_size).to(self._pending.device)
        keep = (~rows).to(self.params[0].dtype)
        if self._variant is not None:
            self._variant.zero_rows(keep)
        else:
            self.trace.mul_(keep.view(-1, *([1] * (self.trace.dim() - 1))))
        self._pending &= ~rows

    def state_dict(self) -> dict[str, torch.Tensor | int | None]:
        """Traces and pending step, to checkpoint a run in the middle of episodes.

        An approximate trace adds ``trace_kind`` and its other tensors (``"trace"`` is its
        main one); the exact trace's keys are batch_size, trace, pending and sg_prev."""
        self._require_reset()
        state = {
            "batch_size": self.batch_size,
            "trace": self.trace.clone(),
            "pending": self._pending.clone(),
            "sg_prev": self._sg_prev.clone(),
        }
        if self._variant is not None:
            state["trace_kind"] = self.trace_kind
            state.update(self._variant.state())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (shapes are checked)."""
        if not isinstance(state, dict) or not {"batch_size", "trace", "pending", "sg_prev"} <= set(
            state
        ):
            raise ValueError(
                "state must be a dict with batch_size, trace, pending and sg_prev (what "
                f"state_dict() returns), got {type(state).__name__}"
                + (f" with keys {sorted(state)}" if isinstance(state, dict) else "")
            )
        kind = state.get("trace_kind", "exact")
        if kind != self.trace_kind:
            raise ValueError(
                f"state holds a trace={kind!r} trace but this BPLambda has "
                f"trace={self.trace_kind!r}"
            )
        batch_size = state["batch_size"]
        check_tensor("state['trace']", state["trace"], self.trace_shape(batch_size))
        check_tensor("state['sg_prev']", state["sg_prev"], (batch_size, self.state_size))
        pending = check_mask("state['pending']", state["pending"], batch_size)
        self.reset(batch_size)
        self.trace.copy_(state["trace"])
        if self._variant is not None:
            self._variant.load(state)
        self._pending.copy_(pending)
        self._sg_prev.copy_(state["sg_prev"])

    # ------------------------------------------------------------------ math
    def sensitivities(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ĝ(z) (B, H) and ∂ĝ/∂θ per row.

        Structured trace: returns f̃ = [features(z); 1], (B, F+1), which stands for
        ∂ĝ_h/∂W̃[i, :] = 1[h = i] f̃. Flat trace: returns (B, H, P).
        """
        critic = self.gradient_critic
        if self.structured:
            feats = critic.features(z)  # (B, H) -> (B, F)
            sg = critic.output(feats)
            ones = torch.ones_like(feats[:, :1])
            return sg, torch.cat([feats, ones], dim=1)  # (B, F+1)
        return critic(z), self._parameter_jacobian(z)

    def _parameter_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """∂ĝ/∂θ per row for the MLP critic, by backpropagating the identity: (B, H, P).

        With u_l = W_l a_{l−1} + b_l, a_l = φ(u_l), D_l = ∂ĝ/∂u_l is (B, H, n_l):
        D_out = I, D_l = (D_{l+1} W_{l+1}) ⊙ φ'(u_l); then ∂ĝ/∂W_l = D_l ⊗ a_{l−1} and
        ∂ĝ/∂b_l = D_l. Columns follow ``gradient_critic.trainable_parameters()``.
        """
        critic = self.gradient_critic
        linears = [m for m in critic.features if isinstance(m, torch.nn.Linear)] + [critic.output]
        acts = [z]  # a_0 = z, then a_1 … a_L, each (B, n_l)
        for lin in linears[:-1]:
            acts.append(_ACTIVATION_FNS[critic.activation](lin(acts[-1])))
        B, H = z.shape
        D = torch.eye(H, dtype=z.dtype, device=z.device).expand(B, H, H)  # ∂ĝ/∂u_out
        blocks: list[torch.Tensor] = []
        for layer in range(len(linears) - 1, -1, -1):
            lin, a_in = linears[layer], acts[layer]
            if lin.bias.requires_grad:
                blocks.append(D)  # ∂ĝ/∂b_l: (B, H, n_l)
            if lin.weight.requires_grad:
                outer = D.unsqueeze(-1) * a_in.view(B, 1, 1, -1)  # (B, H, n_l, n_{l−1})
                blocks.append(outer.reshape(B, H, -1))
            if layer > 0:
                d_act = _ACTIVATION_GRADS[critic.activation](acts[layer])  # φ'(u_{l−1})
                D = (D @ lin.weight) * d_act.unsqueeze(1)  # (B, H, n_{l−1})
        return torch.cat(blocks[::-1], dim=2)  # (B, H, P), parameter order

    def carry_trace(self, jac: torch.Tensor, carry: torch.Tensor, delta: torch.Tensor) -> None:
        """E ← γλ J_t E_{t−1} in place, and param.grad += −(1/B) Σ_rows E_{t−1}^T δ.

        One GEMM does both: each row's (H+1)×H matrix [γλ J_t; δ^T] multiplies E_{t−1},
        chunk by chunk of columns through the scratch buffer. Rows where ``carry`` is False
        restart from E = 0 (their J is ignored). Call :meth:`add_sensitivities` after.
        """
        decay = self.gamma * self.lam
        if self._variant is not None:
            grad = self._variant.carry(jac, carry, delta, decay)
            self._add_grad(grad.mul_(-1.0 / delta.shape[0]))
            return
        E = self.trace
        B, H = E.shape[0], E.shape[1]
        if decay == 0.0:
            self.accumulate_gradient(delta)
            E.zero_()
            return
        scale = carry.to(E.dtype) * decay  # (B,): γλ where the row carries, else 0
        lhs = torch.cat(
            [torch.where(carry.view(B, 1, 1), jac, 0.0) * scale.view(B, 1, 1), delta.unsqueeze(1)],
            dim=1,
        )  # (B, H+1, H)
        flat = E.view(B, H, -1)  # (B, H, ...) -> (B, H, C)
        cols = flat.shape[2]
        width = self._scratch.shape[2]
        grad = torch.empty(cols, dtype=E.dtype, device=E.device)
        for c0 in range(0, cols, width):  # C / width chunks, one GEMM each
            c1 = min(cols, c0 + width)
            out = self._scratch[:, :, : c1 - c0]
            torch.bmm(lhs, flat[:, :, c0:c1], out=out)  # (B, H+1, H) @ (B, H, w)
            flat[:, :, c0:c1].copy_(out[:, :H])
            torch.sum(out[:, H], dim=0, out=grad[c0:c1])  # Σ_rows δ^T E_{t−1}
        self._add_grad(grad.mul_(-1.0 / B))

    def add_sensitivities(self, dg: torch.Tensor) -> None:
        """E_t = (carried trace) + ∂ĝ_t/∂θ."""
        if self._variant is not None:
            self._variant.add(dg)
            return
        E = self.trace
        if self.structured:
            # ∂ĝ_h/∂W̃[i, :] = 1[h = i] f̃: add f̃ on the (h = i) diagonal blocks.
            E.diagonal(dim1=1, dim2=2).add_(dg.unsqueeze(-1))  # (B, F+1, H) += (B, F+1, 1)
        else:
            E.add_(dg)

    def accumulate_gradient(self, delta: torch.Tensor) -> None:
        """param.grad += −(1/B) Σ_rows E^T δ, with E the current trace; δ is (B, H)."""
        if self._variant is not None:
            self._add_grad(self._variant.grad(delta).mul_(-1.0 / delta.shape[0]))
            return
        E = self.trace
        B = E.shape[0]
        flat = E.view(B * E.shape[1], -1)  # (B, H, ...) -> (B*H, C)
        self._add_grad(torch.mv(flat.t(), delta.reshape(-1)).mul_(-1.0 / B))  # (C,)

    def _add_grad(self, g: torch.Tensor) -> None:
        """Add the flat trace-space vector ``g`` (C,) to the parameters' ``.grad``."""
        if self.structured:
            g = g.view(self.state_size, -1)  # (H_out, F+1) = [W_out | b_out]
            parts = [g[:, :-1], g[:, -1]]
        else:
            parts, i = [], 0
            for p in self.params:
                parts.append(g[i : i + p.numel()].view_as(p))
                i += p.numel()
        for p, part in zip(self.params, parts):
            if p.grad is None:
                p.grad = part.clone()
            else:
                p.grad.add_(part)

    # ------------------------------------------------------------------ step
    def step(
        self,
        z: torch.Tensor,
        jac: torch.Tensor,
        imm_grad: torch.Tensor,
        episode_end: torch.Tensor,
    ) -> torch.Tensor:
        """Advance every row by one step and accumulate the TD errors now known.

        :param z: z_t, (B, H).
        :param jac: J_t = ∂z_t/∂z_{t−1}, (B, H, H); ignored for rows starting an episode.
        :param imm_grad: l_t = ∂L_t/∂z_t, (B, H).
        :param episode_end: (B,) bool; True where no later step belongs to the row's
            episode (its next step starts a new one).
        :return: ĝ(z_t), detached, (B, H).
        """
        self._require_reset()
        B, H = self.batch_size, self.state_size
        check_tensor("z", z, (None, None))
        if z.shape[0] != B:
            raise ValueError(
                f"z has batch size {z.shape[0]} but reset() was called with batch_size={B}"
            )
        check_tensor("z", z, (B, H))
        check_tensor("jac", jac, (B, H, H))
        check_tensor("imm_grad", imm_grad, (B, H))
        episode_end = check_mask("episode_end", episode_end, B)
        ref = self.params[0]
        for name, x in (("z", z), ("jac", jac), ("imm_grad", imm_grad)):
            if x.device != ref.device:
                raise ValueError(
                    f"{name} is on {x.device} but the gradient critic is on {ref.device}"
                )
        z, jac, imm_grad = (x.detach().to(ref.dtype) for x in (z, jac, imm_grad))
        end = episode_end.to(device=ref.device, dtype=torch.bool)
        carry = self._pending
        if self.check_inputs:
            # One reduction and one sync: NaN/inf anywhere makes the sum non-finite; only
            # then (or on a float overflow of the sum) are the inputs checked one by one.
            used_jac = torch.where(carry.view(B, 1, 1), jac, 0.0)
            if not bool(torch.isfinite(z.sum() + imm_grad.sum() + used_jac.sum())):
                check_finite("z", z)
                check_finite("imm_grad", imm_grad)
                check_finite("jac (rows continuing an episode)", used_jac)

        with torch.no_grad():
            sg, dg = self.sensitivities(z)
            norms = []
            if bool(carry.any()):
                # δ_{t−1} = J_t^T (l_t + γ ĝ_t) − ĝ_{t−1}, applied with E_{t−1} while the
                # same GEMM carries the trace forward.
                delta = td_error(jac, imm_grad, sg, self._sg_prev, self.gamma)
                delta = torch.where(carry.view(B, 1), delta, 0.0)
                self.carry_trace(jac, carry, delta)
                norms.append(delta.norm(dim=1)[carry])
            elif self._variant is not None:
                self._variant.zero()
            else:
                self.trace.zero_()
            self.add_sensitivities(dg)
            if bool(end.any()):
                # δ_T = −ĝ_T: nothing flows back past an episode's last step.
                delta_end = torch.where(end.view(B, 1), -sg, 0.0)
                self.accumulate_gradient(delta_end)
                norms.append(delta_end.norm(dim=1)[end])
            if norms:
                self.last_td_error = torch.cat(norms).mean()
            self._sg_prev.copy_(sg)
            self._pending = ~end
        return sg.detach()

    def _require_reset(self) -> None:
        if self.batch_size is None:
            raise RuntimeError("call reset(batch_size) before using BPLambda")
