"""The credit engine: what a credit-assignment mode does to a window of recurrent states.

Layout: time-first. A window holds T steps of B rows: states ``zs`` (T, B, |z|),
Jacobians ``jacs`` (T, B, |z|, |z|) with J_t = ∂z_t/∂z_{t−1}, immediate gradients
``imm_grads`` (T, B, |z|) with l_t = ∂L_t/∂z_t per row, and ``ends`` (T, B), True where
step t is the last of its row's episode (or sequence).

Modes (:data:`CREDIT_MODES`), bp_lambda.md §5:

* ``"bp_lambda"``: TBPTT over the window plus β ĝ(z_last) injected at its last state;
  the gradient critic ĝ learns by accumulate BP(λ) at every step, its traces carried
  from one window to the next (:class:`bpl.BPLambda`);
* ``"dni"``: the same injection; ĝ is regressed at the window's start state on the
  window's k-step bootstrapped target (Jaderberg et al., 2017);
* ``"tbptt"``: the window's own gradient only;
* ``"bptt"``: back to the start of the episode (the caller keeps the history);
* ``"immediate"``: one-step gradients l_t only (the graph is cut at every step).

What a caller does per window, the same for the sequence learner and the agents::

    zs, jacs = ...                        # unroll; J_t only if engine.needs_jacobian
    imm = ...                             # l_t, per row
    g = engine.learn_window(z0, zs, jacs, imm, ends)   # critic's .grad; ĝ(z_last)
    imm[-1] += engine.injection(g, ends[-1])           # l_T + β ĝ(z_T), where live
    torch.autograd.backward(zs, imm)      # TBPTT with the injected signal
    engine.step()                         # the critic's optimizer step

Coordinates. With ``sg_normalize_input`` the critic works in standardised coordinates
z' = (z − μ)/s (:class:`bpl.StateNormalizer`, an exact change of variables); with
``sg_normalize`` it predicts G/σ, σ a running RMS of l (BP(λ) is linear in l, so its
targets scale by σ). Both are undone before ĝ leaves the engine: every ĝ the engine
returns is a prediction of G in z's coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from .alignment import Reliability
from .bp_lambda import BPLambda
from .checks import check_non_negative, check_positive_int, check_unit_interval
from .normalization import StateNormalizer
from .synthetic_gradient import SyntheticGradient
from .targets import bootstrapped_targets
from .trace_variants import parse_trace

#: every credit-assignment mode, for the sequence learner and the agents alike
CREDIT_MODES = ("bp_lambda", "dni", "tbptt", "bptt", "immediate")
#: the modes that learn a gradient critic and inject its ĝ
CRITIC_MODES = ("bp_lambda", "dni")
#: the gradient critic's optimizers, by name
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}
#: rate of the running mean of l² behind ``sg_normalize``'s σ (EMA per window)
SCALE_MOMENTUM = 0.01


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN/inf; the update that produced it was not applied."""


class WindowCredit(NamedTuple):
    """What :meth:`CreditEngine.learn_window` learned from a window.

    :param last: ĝ(z_last), (B, |z|), in z's coordinates, with the critic's parameters as
        they were before this window's update.
    :param predictions: ĝ(z_t) for every step, (T, B, |z|), same coordinates.
    :param error: mean ‖δ‖ of the TD errors applied (bp_lambda) or ‖ĝ(z_0) − target‖
        (dni); None when no error was known yet.
    :param target: dni only: the k-step bootstrapped target at the window's start state,
        (B, |z|), in z's coordinates.
    """

    last: torch.Tensor
    predictions: torch.Tensor
    error: float | None
    target: torch.Tensor | None


def check_credit(credit: object) -> str:
    """Return ``credit`` if it names a mode of :data:`CREDIT_MODES`, else raise ValueError."""
    if credit not in CREDIT_MODES:
        raise ValueError(f"credit must be one of {CREDIT_MODES}, got {credit!r}")
    return credit  # type: ignore[return-value]


class CreditEngine:
    """One credit-assignment mode applied to windows of recurrent states.

    Owns the gradient critic, its BP(λ) learner, its coordinates (state normaliser and
    gradient scale) and its optimizer; see the module docstring for the protocol.

    :param credit: one of :data:`CREDIT_MODES`.
    :param state_size: |z|, the size of the recurrent state.
    :param sg_gamma: the critic's discount γ_g ∈ [0, 1] of distant losses.
    :param sg_lambda: BP(λ)'s trace decay λ ∈ [0, 1] (bp_lambda only).
    :param sg_beta: scale β ≥ 0 of the ĝ injected at a window's last state.
    :param sg_learning_rate: the critic's learning rate (0: it is never updated).
    :param sg_hidden_sizes: hidden layers of a new critic (``()``: linear ĝ = A z + b).
    :param sg_train_output_only: learn only the critic's output layer (structured trace).
    :param sg_max_grad_norm: clip the critic's update to this norm (None: no clipping).
    :param sg_adaptive_beta: bp_lambda only: inject β·r ĝ instead of β ĝ, r ∈ [0, 1] the
        critic's measured reliability (:attr:`reliability`, 0 until it has been measured:
        a fresh critic injects nothing).
    :param sg_probe_horizon: steps per reliability measurement (``sg_adaptive_beta``).
    :param sg_trace: BP(λ)'s trace: ``"exact"`` or an approximation (:class:`BPLambda`).
    :param sg_normalize: the critic predicts G/σ, σ a running RMS of l.
    :param sg_normalize_input: the critic works in standardised coordinates of z.
    :param optimizer: ``"adam"`` or ``"sgd"``, the critic's optimizer.
    :param gradient_critic: a critic to use instead of a new one.
    :param check_inputs: let BP(λ) check its inputs for NaN/inf at every step.
    :param dtype: dtype of a new critic.
    :param device: device of a new critic.
    """

    def __init__(
        self,
        credit: str,
        state_size: int,
        sg_gamma: float = 1.0,
        sg_lambda: float = 1.0,
        sg_beta: float = 1.0,
        sg_learning_rate: float = 1e-3,
        sg_hidden_sizes: Sequence[int] = (),
        sg_train_output_only: bool = False,
        sg_max_grad_norm: float | None = None,
        sg_normalize: bool = False,
        sg_normalize_input: bool = False,
        sg_adaptive_beta: bool = False,
        sg_probe_horizon: int = 256,
        sg_trace: str = "exact",
        optimizer: str = "adam",
        gradient_critic: SyntheticGradient | None = None,
        check_inputs: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.credit = check_credit(credit)
        self.state_size = check_positive_int("state_size", state_size)
        self.sg_gamma = check_unit_interval("sg_gamma", sg_gamma)
        self.sg_lambda = check_unit_interval("sg_lambda", sg_lambda)
        self.sg_beta = check_non_negative("sg_beta", sg_beta)
        self.sg_learning_rate = check_non_negative("sg_learning_rate", sg_learning_rate)
        if sg_max_grad_norm is not None:
            sg_max_grad_norm = check_non_negative("sg_max_grad_norm", sg_max_grad_norm)
            if sg_max_grad_norm == 0:
                raise ValueError("sg_max_grad_norm must be a number > 0 or None, got 0")
        self.sg_max_grad_norm = sg_max_grad_norm
        parse_trace(sg_trace)  # ValueError naming the value and the allowed ones
        self.sg_trace = sg_trace
        for name, flag in (
            ("sg_adaptive_beta", sg_adaptive_beta),
            ("sg_normalize", sg_normalize),
            ("sg_normalize_input", sg_normalize_input),
            ("sg_train_output_only", sg_train_output_only),
        ):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be a bool, got {flag!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {optimizer!r}")
        self.optimizer_name = optimizer
        uses = self.credit in CRITIC_MODES
        if not uses and gradient_critic is not None:
            raise ValueError(f"credit={credit!r} uses no gradient critic, but one was given")
        if not uses and (sg_normalize_input or sg_normalize):
            raise ValueError(
                f"sg_normalize / sg_normalize_input need a gradient critic (credit in "
                f"{CRITIC_MODES}), got credit={credit!r}"
            )

        self.gradient_critic: SyntheticGradient | None = None
        self.bp_lambda: BPLambda | None = None
        self.normalizer: StateNormalizer | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        #: running mean of l² (``sg_normalize``); None until the first window
        self.scale_sq: torch.Tensor | None = None
        self.sg_normalize = sg_normalize
        if sg_adaptive_beta and self.credit != "bp_lambda":
            raise ValueError(f"sg_adaptive_beta needs credit='bp_lambda', got credit={credit!r}")
        self.sg_adaptive_beta = sg_adaptive_beta
        #: ĝ's running least-squares scale against G (``sg_adaptive_beta``), else None
        self.meter = Reliability(sg_probe_horizon, self.sg_gamma) if sg_adaptive_beta else None
        if uses:
            self._setup_critic(
                gradient_critic, sg_hidden_sizes, sg_train_output_only, sg_normalize_input,
                check_inputs, dtype, device,
            )  # fmt: skip

    def _setup_critic(
        self, gradient_critic, hidden_sizes, output_only, normalize_input, check_inputs, dtype,
        device,
    ) -> None:  # fmt: skip
        """The critic (new or given, checked), its BP(λ) learner, normaliser, optimizer."""
        state_size = self.state_size
        if gradient_critic is None:
            gradient_critic = SyntheticGradient(
                state_size, hidden_sizes, train_output_only=output_only, dtype=dtype, device=device
            )
        elif not isinstance(gradient_critic, SyntheticGradient):
            raise ValueError(
                "gradient_critic must be a bpl.SyntheticGradient, got "
                f"{type(gradient_critic).__name__}"
            )
        if gradient_critic.state_size != state_size:
            raise ValueError(
                f"gradient_critic.state_size={gradient_critic.state_size} must equal the "
                f"state size {state_size}"
            )
        self.gradient_critic = gradient_critic
        ref = gradient_critic.output.weight
        if self.credit == "bp_lambda":
            self.bp_lambda = BPLambda(
                gradient_critic, self.sg_gamma, self.sg_lambda, check_inputs, trace=self.sg_trace
            )
        if normalize_input:
            self.normalizer = StateNormalizer(state_size, device=ref.device, dtype=ref.dtype)
        if self.sg_learning_rate > 0:
            self.optimizer = OPTIMIZERS[self.optimizer_name](
                gradient_critic.trainable_parameters(), lr=self.sg_learning_rate
            )

    # ------------------------------------------------------------------ what the mode is
    @property
    def uses_critic(self) -> bool:
        """True for the modes that learn a gradient critic and inject ĝ."""
        return self.gradient_critic is not None

    @property
    def needs_jacobian(self) -> bool:
        """True when :meth:`learn_window` needs the window's Jacobians J_t."""
        return self.uses_critic

    @property
    def spans_episode(self) -> bool:
        """True for ``bptt``: the gradient reaches back to the episode's start."""
        return self.credit == "bptt"

    @property
    def cuts_every_step(self) -> bool:
        """True for ``immediate``: no gradient flows from z_t into z_{t−1}."""
        return self.credit == "immediate"

    def window(self, k: int) -> int | None:
        """Steps per window for a truncation length ``k``: None (whole sequence) for
        ``bptt``, 1 for ``immediate``, else k."""
        if self.spans_episode:
            return None
        return 1 if self.cuts_every_step else k

    # ------------------------------------------------------------------ rows
    def reset(self, batch_size: int) -> None:
        """Fresh BP(λ) traces for ``batch_size`` rows (no-op without BP(λ))."""
        if self.meter is not None:
            self.meter.reset()
        if self.bp_lambda is not None:
            self.bp_lambda.reset(batch_size)

    def reset_rows(self, rows: torch.Tensor) -> None:
        """Restart the traces of the rows where ``rows`` (B,) is True."""
        if self.bp_lambda is not None:
            self.bp_lambda.reset_rows(rows)

    # ------------------------------------------------------------------ coordinates
    def _scale(self) -> torch.Tensor | float:
        if not self.sg_normalize or self.scale_sq is None:
            return 1.0
        return self.scale_sq.sqrt().clamp_min(1e-8)

    def _update_scale(self, imm_grads: torch.Tensor) -> None:
        ms = imm_grads.detach().pow(2).mean()
        if self.scale_sq is None or float(self.scale_sq) == 0.0:
            self.scale_sq = ms
        else:
            self.scale_sq = (1 - SCALE_MOMENTUM) * self.scale_sq + SCALE_MOMENTUM * ms

    def _to_critic(self, z, jac=None, imm=None):
        """(z, J, l) in the critic's coordinates."""
        if self.normalizer is None:
            return z, jac, imm
        return self.normalizer.transform(z, jac, imm)

    def _from_critic(self, g: torch.Tensor) -> torch.Tensor:
        """A critic output back as a prediction of G in z's coordinates."""
        if self.normalizer is not None:
            g = self.normalizer.to_gradient(g)
        return g * self._scale()

    @torch.no_grad()
    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """ĝ(z) in z's coordinates, (..., |z|) -> (..., |z|) (no learning)."""
        if self.gradient_critic is None:
            raise ValueError(f"credit={self.credit!r} has no gradient critic")
        return self._from_critic(self.gradient_critic(self._to_critic(z.detach())[0]))

    # ------------------------------------------------------------------ learning
    @property
    def beta(self) -> float:
        """The β injected now: ``sg_beta``, times the reliability clipped to [0, 1] with
        ``sg_adaptive_beta``."""
        if self.meter is None:
            return self.sg_beta
        return self.sg_beta * min(1.0, max(0.0, self.meter.value))

    def learn_window(
        self,
        z0: torch.Tensor,
        zs: torch.Tensor,
        jacs: torch.Tensor,
        imm_grads: torch.Tensor,
        ends: torch.Tensor,
        starts: torch.Tensor | None = None,
        update_statistics: bool = True,
    ) -> WindowCredit:
        """Learn the critic from one window: add its update to the critic's ``.grad``;
        with ``sg_adaptive_beta`` and ``update_statistics``, also measure its reliability.

        The reliability is :class:`bpl.alignment.Reliability`: the running scale c that
        makes c·ĝ the least-squares estimate of the exact future gradient G.

        :param z0: the state before the window, (B, |z|) (DNI regresses ĝ there).
        :param zs: z_t, (T, B, |z|).
        :param jacs: J_t, (T, B, |z|, |z|).
        :param imm_grads: l_t per row, (T, B, |z|).
        :param ends: (T, B) bool, True where step t ends its row's episode.
        :param starts: (T, B) bool, True where step t starts an episode (its J_t carries
            nothing back); None: only the rows' first window starts them.
        :param update_statistics: fold this window into the normaliser and σ first
            (False: use them as they are).
        :return: ĝ at the window's states and the critic's error, see
            :class:`WindowCredit`.
        """
        if self.gradient_critic is None:
            raise ValueError(f"credit={self.credit!r} has no gradient critic to learn")
        zs, jacs, imm = zs.detach(), jacs.detach(), imm_grads.detach()
        ends = ends.to(torch.bool)
        if update_statistics:
            if self.sg_normalize:
                self._update_scale(imm)
            if self.normalizer is not None:
                # the critic's coordinates, fixed within this window
                self.normalizer.update(zs)
        imm = imm / self._scale()
        zc, jc, lc = self._to_critic(zs, jacs, imm)
        if self.bp_lambda is not None:
            credit = self._bp_lambda_window(zc, jc, lc, ends, starts)
        else:
            credit = self._dni_window(self._to_critic(z0.detach())[0], zc, jc, lc, ends, starts)
        if self.meter is not None and update_statistics:
            self.meter.add(credit.predictions, jacs, imm_grads.detach(), starts)
        return credit

    def _bp_lambda_window(self, zc, jc, lc, ends, starts) -> WindowCredit:
        """Accumulate BP(λ) at every step of the window (traces carry across windows)."""
        learner = self.bp_lambda
        if starts is not None:
            learner.reset_rows(starts[0])  # rows reset outside a window restart here
        preds = torch.stack([learner.step(zc[t], jc[t], lc[t], ends[t]) for t in range(len(zc))])
        err = learner.last_td_error
        preds = self._from_critic(preds)  # (T, B, |z|)
        return WindowCredit(preds[-1], preds, None if err is None else float(err), None)

    def _dni_window(self, z0c, zc, jc, lc, ends, starts) -> WindowCredit:
        """Regress ĝ(z_0) on the k-step bootstrapped target (Jaderberg et al., 2017).

        target = Σ_{j=1..n} γ^{j−1} (J_1 ⋯ J_j)^T l_j + γ^n (J_1 ⋯ J_n)^T ĝ(z_n), with
        ĝ(z_n) = 0 where the episode ends at z_n; loss ½ mean_b ‖ĝ(z_0) − target‖².
        """
        critic = self.gradient_critic
        with torch.no_grad():
            preds_c = critic(zc)  # (T, B, |z|), the critic's coordinates
            boot = preds_c[-1] * (~ends[-1]).unsqueeze(-1).to(preds_c.dtype)
            if starts is not None:  # no credit flows back across an episode start
                jc = jc * (1.0 - starts.to(jc.dtype))[..., None, None]
            l_seq = torch.cat([torch.zeros_like(lc[:1]), lc])  # (T+1, B, |z|)
            j_seq = torch.cat([torch.zeros_like(jc[:1]), jc])  # (T+1, B, |z|, |z|)
            target = bootstrapped_targets(l_seq, j_seq, boot, self.sg_gamma)[0]  # (B, |z|)
        with torch.enable_grad():
            pred = critic(z0c)  # (B, |z|)
            loss = 0.5 * (pred - target).pow(2).sum(-1).mean()
            loss.backward()
        err = float((pred.detach() - target).norm(dim=-1).mean())
        target_z = target if self.normalizer is None else self.normalizer.to_gradient(target)
        preds = self._from_critic(preds_c)
        return WindowCredit(preds[-1], preds, err, target_z * self._scale())

    def injection(self, last: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """β ĝ(z_last) where the episode goes on after the window, 0 where it ended there:
        (B, |z|), (B,) -> (B, |z|)."""
        live = (~end.to(torch.bool)).to(last.dtype).unsqueeze(-1)
        return self.beta * last * live

    def zero_grad(self) -> None:
        """Forget the critic's accumulated update."""
        if self.gradient_critic is not None:
            self.gradient_critic.zero_grad(set_to_none=True)

    def step(self) -> float | None:
        """Apply the accumulated update with the critic's optimizer (clipped to
        ``sg_max_grad_norm``), then zero it; return the update's norm before clipping.

        :raises NonFiniteError: the update holds NaN/inf (it is dropped, not applied).
        """
        if self.optimizer is None:
            self.zero_grad()
            return None
        params = self.gradient_critic.trainable_parameters()
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return None
        max_norm = self.sg_max_grad_norm if self.sg_max_grad_norm is not None else float("inf")
        norm = nn.utils.clip_grad_norm_(params, max_norm)
        if not torch.isfinite(norm):
            self.zero_grad()
            raise NonFiniteError("non-finite gradient-critic update; not applied")
        self.optimizer.step()
        self.zero_grad()
        return float(norm)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The critic, its optimizer, normaliser and gradient scale (what a checkpoint
        needs to resume); keys absent for parts the mode does not have."""
        out: dict[str, Any] = {}
        if self.gradient_critic is None:
            return out
        out["gradient_critic"] = self.gradient_critic.state_dict()
        if self.optimizer is not None:
            out["sg_optimizer"] = self.optimizer.state_dict()
        if self.scale_sq is not None:
            out["sg_scale_sq"] = self.scale_sq.detach().cpu()
        if self.normalizer is not None:
            out["sg_input_norm"] = self.normalizer.state_dict()
        if self.meter is not None:
            out["sg_reliability"] = torch.tensor(self.meter.value, dtype=torch.float64)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        :raises ValueError: a part is missing or has the wrong shape.
        """
        if self.gradient_critic is None:
            return
        try:
            self.gradient_critic.load_state_dict(state["gradient_critic"])
            if self.optimizer is not None and "sg_optimizer" in state:
                self.optimizer.load_state_dict(state["sg_optimizer"])
            if "sg_scale_sq" in state:
                ref = self.gradient_critic.output.weight
                scale_sq = torch.as_tensor(state["sg_scale_sq"])
                if scale_sq.dim() != 0 or not bool(torch.isfinite(scale_sq)) or scale_sq < 0:
                    raise ValueError(
                        f"sg_scale_sq must be one finite number >= 0, got {scale_sq.tolist()}"
                    )
                self.scale_sq = scale_sq.to(ref.device)
            if self.normalizer is not None:
                self.normalizer.load_state_dict(state["sg_input_norm"])
            if "sg_reliability" in state and self.meter is not None:
                self.meter.value = float(state["sg_reliability"])
                self.meter.measurements = 1
        except (KeyError, RuntimeError, TypeError) as err:
            raise ValueError(f"gradient critic state does not match: {err!r}") from err

    def config(self) -> dict[str, Any]:
        """The engine's options as a JSON-ready dict."""
        critic = self.gradient_critic
        return {
            "credit": self.credit,
            "sg_gamma": self.sg_gamma,
            "sg_lambda": self.sg_lambda,
            "sg_beta": self.sg_beta,
            "sg_learning_rate": self.sg_learning_rate,
            "sg_hidden_sizes": list(critic.hidden_sizes) if critic is not None else [],
            "sg_train_output_only": critic.train_output_only if critic is not None else False,
            "sg_max_grad_norm": self.sg_max_grad_norm,
            "sg_normalize": self.sg_normalize,
            "sg_normalize_input": self.normalizer is not None,
            "sg_adaptive_beta": self.sg_adaptive_beta,
            "optimizer": self.optimizer_name,
        }


__all__ = [
    "CREDIT_MODES",
    "CRITIC_MODES",
    "CreditEngine",
    "NonFiniteError",
    "WindowCredit",
    "check_credit",
]
