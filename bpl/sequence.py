"""Online sequence learning: a recurrent cell, a readout and a per-step loss, trained with
one of five credit-assignment modes on equal terms (bp_lambda.md §5).

Layout: time-first. A batch is ``inputs`` (T, B, I), ``targets`` (T, B, O) and ``mask``
(T, B); the state z_t is (B, |z|). Every row of a batch has the same length T; each
batch is a fresh set of sequences (states, traces and pending TD errors reset between
batches and carry across the windows inside one).

Modes (``credit``):

* ``"bptt"``: backpropagation through the whole sequence, one update per batch;
* ``"tbptt"``: BPTT inside windows of ``k`` steps, an update at each window end;
* ``"dni"``: TBPTT(k) + β ĝ(z_last) injected at each window end; the synthesiser is
  regressed on the k-step bootstrapped target at the window's start state
  (Jaderberg et al. 2017);
* ``"bp_lambda"``: TBPTT(k) + β ĝ(z_last) at each window end; the synthesiser is
  learned by accumulate BP(λ) (:class:`bpl.BPLambda`) at every step (k = 1: fully online,
  no backward pass through time);
* ``"immediate"``: one-step gradients l_t only (k = 1, no synthetic gradient).

Which θ and ĝ are used: within a window every step calls ``BPLambda.step`` with the θ
in force since the previous window end; the ĝ(z_last) injected into the network at the
window end is the value that call returned (before the synthesiser's update for this
window). The network, readout and synthesiser optimizers then step once, together, at
the window end. Nothing is injected at a sequence's last step (G_T = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._checks import check_non_negative, check_positive_int, check_tensor, check_unit_interval
from .alignment import alignment as _alignment
from .alignment import exact_state_gradients
from .bp_lambda import BPLambda
from .cells import RecurrentCell
from .normalization import StateNormalizer
from .synthetic_gradient import SyntheticGradient
from .targets import bootstrapped_targets

#: the credit-assignment modes accepted by :class:`SequenceLearner`
CREDIT_MODES = ("bptt", "tbptt", "dni", "bp_lambda", "immediate")
_SYNTH_MODES = ("dni", "bp_lambda")


def mse_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """½‖y − ŷ‖² per row: (B, O), (B, O) -> (B,)."""
    return 0.5 * (outputs - targets).pow(2).sum(-1)


def bce_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (nats) summed over output bits, per row; ``outputs`` are
    logits: (B, O), (B, O) -> (B,)."""
    return nn.functional.binary_cross_entropy_with_logits(outputs, targets, reduction="none").sum(
        -1
    )


def ce_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (nats) per row; ``outputs`` are logits, ``targets`` one-hot (or
    class probabilities): (B, O), (B, O) -> (B,)."""
    return -(targets * torch.log_softmax(outputs, dim=-1)).sum(-1)


#: per-row losses by name
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse_loss,
    "bce": bce_loss,
    "ce": ce_loss,
}

_OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


class SequenceLearner:
    """A recurrent cell + linear readout trained on batches of sequences with a chosen
    credit-assignment mode (see the module docstring).

    The loss of a batch is Σ_t mean_b mask[t, b]·L(readout(h_t), y_t) (summed over time,
    averaged over rows). Per row, l_t = ∂L_t/∂z_t is computed through the readout only;
    the synthesiser sees and predicts per-row (unaveraged) gradients.

    :param cell: the recurrent cell (:class:`bpl.RNNCell`, ``GRUCell`` or ``LSTMCell``).
    :param output_size: O, size of the readout's output.
    :param loss: ``"mse"``, ``"bce"`` or ``"ce"`` (see :data:`LOSSES`), or a callable
        (outputs (B, O), targets (B, O)) -> per-row loss (B,).
    :param credit: one of :data:`CREDIT_MODES`.
    :param k: window length for ``tbptt``, ``dni`` and ``bp_lambda`` (ignored by ``bptt``;
        ``immediate`` is k = 1).
    :param gamma: discount γ ∈ [0, 1] of the synthesiser's target.
    :param lam: trace decay λ ∈ [0, 1] of BP(λ) (``bp_lambda`` only).
    :param beta: scale β >= 0 of the synthetic gradient injected at window ends.
    :param lr: learning rate of the cell (0 freezes it).
    :param readout_lr: learning rate of the readout (None: same as ``lr``; 0 freezes it).
    :param synth_lr: learning rate of the synthesiser (0 freezes it).
    :param max_grad_norm: clip the gradient norm of the network (cell + readout) at each
        update (None: no clipping).
    :param synth_max_grad_norm: clip the synthesiser's update to this norm (None: no
        clipping; ``"same"``: ``max_grad_norm``). Clipping it at 1 slowed and destabilised
        the critic in the delayed-target probes (docs/reproducing.md).
    :param synthesiser: the gradient critic to use (None: a new :class:`SyntheticGradient`
        with ``synth_hidden_sizes``); only for ``dni`` and ``bp_lambda``.
    :param synth_hidden_sizes: hidden layers of the new synthesiser (() = linear).
    :param synth_output_only: train only the synthesiser's output layer (structured trace).
    :param optimizer: ``"adam"`` or ``"sgd"``, used for all three parameter groups.
    :param check_inputs: let :class:`BPLambda` check its inputs for NaN/inf every step.
    :param synth_normalize_input: the synthesiser works in standardised coordinates
        z' = (z − μ)/s (:class:`bpl.StateNormalizer`, an exact change of variables; μ and
        s are running statistics updated at each window end, fixed inside a window), so
        that directions of z that vary little (a fading cue) are learned at the same
        rate as the others. ĝ is mapped back to z's coordinates before it is injected.
    """

    def __init__(
        self,
        cell: RecurrentCell,
        output_size: int,
        loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "mse",
        credit: str = "bp_lambda",
        k: int = 1,
        gamma: float = 1.0,
        lam: float = 1.0,
        beta: float = 1.0,
        lr: float = 1e-3,
        readout_lr: float | None = None,
        synth_lr: float = 1e-3,
        max_grad_norm: float | None = None,
        synthesiser: SyntheticGradient | None = None,
        synth_hidden_sizes: Sequence[int] = (),
        synth_output_only: bool = False,
        optimizer: str = "adam",
        check_inputs: bool = False,
        synth_normalize_input: bool = False,
        synth_max_grad_norm: float | None | str = "same",
    ) -> None:
        if not isinstance(cell, RecurrentCell):
            raise ValueError(f"cell must be a bpl.RecurrentCell, got {type(cell).__name__}")
        if credit not in CREDIT_MODES:
            raise ValueError(f"credit must be one of {CREDIT_MODES}, got {credit!r}")
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"loss must be one of {tuple(LOSSES)} or a callable, got {loss!r}")
            self.loss_name, self.loss_fn = loss, LOSSES[loss]
        elif callable(loss):
            self.loss_name, self.loss_fn = getattr(loss, "__name__", "custom"), loss
        else:
            raise ValueError(f"loss must be one of {tuple(LOSSES)} or a callable, got {loss!r}")
        if optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {tuple(_OPTIMIZERS)}, got {optimizer!r}")
        self.cell = cell
        self.credit = credit
        self.k = check_positive_int("k", k)
        self.gamma = check_unit_interval("gamma", gamma)
        self.lam = check_unit_interval("lam", lam)
        self.beta = check_non_negative("beta", beta)
        self.lr = check_non_negative("lr", lr)
        self.readout_lr = (
            self.lr if readout_lr is None else check_non_negative("readout_lr", readout_lr)
        )
        self.synth_lr = check_non_negative("synth_lr", synth_lr)
        if max_grad_norm is not None:
            max_grad_norm = check_non_negative("max_grad_norm", max_grad_norm)
            if max_grad_norm == 0:
                raise ValueError("max_grad_norm must be > 0 or None, got 0")
        self.max_grad_norm = max_grad_norm
        if isinstance(synth_max_grad_norm, str):
            if synth_max_grad_norm != "same":
                raise ValueError(
                    "synth_max_grad_norm must be a number > 0, None or 'same', "
                    f"got {synth_max_grad_norm!r}"
                )
            synth_max_grad_norm = max_grad_norm
        elif synth_max_grad_norm is not None:
            synth_max_grad_norm = check_non_negative("synth_max_grad_norm", synth_max_grad_norm)
            if synth_max_grad_norm == 0:
                raise ValueError("synth_max_grad_norm must be > 0, None or 'same', got 0")
        self.synth_max_grad_norm = synth_max_grad_norm
        self.optimizer_name = optimizer

        w = cell.weight_hh
        self.readout = nn.Linear(cell.hidden_size, check_positive_int("output_size", output_size))
        self.readout.to(dtype=w.dtype, device=w.device)
        opt = _OPTIMIZERS[optimizer]
        self._net_opt = opt(cell.parameters(), lr=self.lr) if self.lr > 0 else None
        self._readout_opt = (
            opt(self.readout.parameters(), lr=self.readout_lr) if self.readout_lr > 0 else None
        )

        self.synthesiser: SyntheticGradient | None = None
        self.bp_lambda: BPLambda | None = None
        self._synth_opt = None
        if credit in _SYNTH_MODES:
            if synthesiser is None:
                synthesiser = SyntheticGradient(
                    cell.state_size,
                    hidden_sizes=synth_hidden_sizes,
                    train_output_only=synth_output_only,
                    dtype=w.dtype,
                    device=w.device,
                )
            elif not isinstance(synthesiser, SyntheticGradient):
                raise ValueError(
                    f"synthesiser must be a bpl.SyntheticGradient, got {type(synthesiser).__name__}"
                )
            if synthesiser.state_size != cell.state_size:
                raise ValueError(
                    f"synthesiser.state_size={synthesiser.state_size} must equal the cell's "
                    f"state size {cell.state_size}"
                )
            self.synthesiser = synthesiser
            if credit == "bp_lambda":
                self.bp_lambda = BPLambda(synthesiser, gamma, lam, check_inputs=check_inputs)
            if self.synth_lr > 0:
                self._synth_opt = opt(synthesiser.trainable_parameters(), lr=self.synth_lr)
        elif synthesiser is not None:
            raise ValueError(f"credit={credit!r} uses no synthesiser, but one was given")
        if not isinstance(synth_normalize_input, bool):
            raise ValueError(f"synth_normalize_input must be a bool, got {synth_normalize_input!r}")
        if synth_normalize_input and credit not in _SYNTH_MODES:
            raise ValueError(
                f"synth_normalize_input=True needs a synthesiser (credit in {_SYNTH_MODES}), "
                f"got credit={credit!r}"
            )
        #: the synthesiser's coordinates (None: z itself)
        self.state_norm: StateNormalizer | None = (
            StateNormalizer(cell.state_size, device=w.device, dtype=w.dtype)
            if synth_normalize_input
            else None
        )
        #: DNI only: the k-step bootstrapped targets of the last batch, one (B, |z|) per window
        self.dni_targets: list[torch.Tensor] = []
        #: number of network updates applied so far
        self.updates = 0

    # ------------------------------------------------------------------ helpers
    @property
    def window(self) -> int | None:
        """Steps per window: k, 1 for ``immediate``, None (whole sequence) for ``bptt``."""
        if self.credit == "bptt":
            return None
        if self.credit == "immediate":
            return 1
        return self.k

    def _to_synth(
        self,
        z: torch.Tensor,
        jac: torch.Tensor | None = None,
        imm: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(z, J, l) in the synthesiser's coordinates (unchanged without normalisation)."""
        if self.state_norm is None:
            return z, jac, imm
        return self.state_norm.transform(z, jac, imm)

    def _from_synth(self, g: torch.Tensor) -> torch.Tensor:
        """A gradient in the synthesiser's coordinates back in z's."""
        return g if self.state_norm is None else self.state_norm.to_gradient(g)

    def synthetic_gradient(self, z: torch.Tensor) -> torch.Tensor:
        """ĝ(z) in z's coordinates, (..., |z|) -> (..., |z|) (no learning)."""
        if self.synthesiser is None:
            raise ValueError(f"credit={self.credit!r} has no synthesiser")
        return self._from_synth(self.synthesiser(self._to_synth(z.detach())[0]))

    def network_parameters(self) -> list[nn.Parameter]:
        """Cell then readout parameters."""
        return list(self.cell.parameters()) + list(self.readout.parameters())

    def config(self) -> dict:
        """The learner's hyper-parameters as a JSON-ready dict."""
        return {
            "cell": type(self.cell).__name__,
            "hidden_size": self.cell.hidden_size,
            "loss": self.loss_name,
            "credit": self.credit,
            "k": self.k,
            "gamma": self.gamma,
            "lam": self.lam,
            "beta": self.beta,
            "lr": self.lr,
            "readout_lr": self.readout_lr,
            "synth_lr": self.synth_lr,
            "max_grad_norm": self.max_grad_norm,
            "synth_max_grad_norm": self.synth_max_grad_norm,
            "optimizer": self.optimizer_name,
            "synth_hidden_sizes": list(self.synthesiser.hidden_sizes) if self.synthesiser else None,
            "synth_normalize_input": self.state_norm is not None,
        }

    def _check_batch(self, inputs, targets, mask) -> torch.Tensor:
        check_tensor("inputs", inputs, (None, None, self.cell.input_size))
        T, B, _ = inputs.shape
        check_tensor("targets", targets, (T, B, self.readout.out_features))
        if mask is None:
            return torch.ones(T, B, dtype=inputs.dtype, device=inputs.device)
        if tuple(mask.shape) != (T, B):
            raise ValueError(f"mask must have shape ({T}, {B}), got {tuple(mask.shape)}")
        return mask.to(inputs.dtype)

    def immediate_gradient(
        self, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, readout_grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """l_t = ∂L_t/∂z_t per row, through the readout only, and the step's mean loss.

        Adds (1/B) ∂(Σ_b L_t)/∂(readout) to the readout's ``.grad`` if ``readout_grad``.

        :param z: z_t, (B, |z|) (detached here).
        :param target: y_t, (B, O).
        :param mask: (B,), 1 where the row has a loss at this step.
        :param readout_grad: also accumulate the readout's gradient.
        :return: l_t (B, |z|) and the scalar mean loss (detached).
        """
        B = z.shape[0]
        if not bool(mask.any()):
            return torch.zeros_like(z.detach()), z.new_zeros(())
        with torch.enable_grad():
            zd = z.detach().requires_grad_(True)
            out = self.readout(self.cell.hidden(zd))  # (B, |z|) -> (B, H) -> (B, O)
            per_row = self.loss_fn(out, target) * mask  # (B,)
            total = per_row.sum()
            wrt = [zd] + (list(self.readout.parameters()) if readout_grad else [])
            grads = torch.autograd.grad(total, wrt)
        if readout_grad:
            for p, g in zip(self.readout.parameters(), grads[1:], strict=True):
                p.grad = g / B if p.grad is None else p.grad.add_(g, alpha=1.0 / B)
        return grads[0], total.detach() / B

    # ------------------------------------------------------------------ training
    def train_batch(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None = None,
        update: bool = True,
        injected: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Learn from one batch of sequences, window by window.

        :param inputs: x, (T, B, I).
        :param targets: y, (T, B, O).
        :param mask: (T, B), 1 where a step carries a loss (None: every step).
        :param update: step the optimizers at each window end (False: only accumulate
            every window's gradient into ``.grad``, with the parameters fixed — the sum
            over windows is then the mode's gradient for the whole batch).
        :param injected: (T, B, |z|) gradients injected in place of ĝ at window ends (an
            oracle for tests and diagnostics, e.g. the true future gradients G_t); the
            synthesiser is then neither used nor trained.
        :return: ``{"loss": Σ_t mean_b L_t, "td_error": mean ‖δ‖ (bp_lambda) or the
            synthesiser's regression loss (dni)}``.
        """
        mask = self._check_batch(inputs, targets, mask)
        T, B, _ = inputs.shape
        S = self.cell.state_size
        if injected is not None:
            check_tensor("injected", injected, (T, B, S))
        uses_synth = self.credit in _SYNTH_MODES and injected is None
        need_jac = uses_synth
        train_net = self._net_opt is not None or not update
        train_readout = self._readout_opt is not None or not update
        if self.bp_lambda is not None and uses_synth:
            self.bp_lambda.reset(B)
        self._zero_grads()
        window = self.window or T
        not_end = torch.ones(B, dtype=torch.bool, device=inputs.device)
        at_end = torch.zeros(B, dtype=torch.bool, device=inputs.device)

        z = self.cell.initial_state(B)
        total_loss = 0.0
        synth_stats: list[float] = []
        self.dni_targets = []
        for w0 in range(0, T, window):
            w1 = min(T, w0 + window)
            z_start = z.detach()
            z = z_start
            states: list[torch.Tensor] = []
            imms: list[torch.Tensor] = []
            jacs: list[torch.Tensor] = []
            sg = None
            with torch.set_grad_enabled(train_net):
                for t in range(w0, w1):
                    if need_jac:
                        z, jac = self.cell.jacobian(inputs[t], z)
                        jacs.append(jac)
                    else:
                        z = self.cell(inputs[t], z)
                    imm, step_loss = self.immediate_gradient(z, targets[t], mask[t], train_readout)
                    total_loss += float(step_loss)
                    if self.bp_lambda is not None and uses_synth:
                        ends = at_end if t < T - 1 else not_end
                        zn, jn, ln = self._to_synth(z.detach(), jac, imm)
                        sg = self._from_synth(self.bp_lambda.step(zn, jn, ln, ends))  # ĝ(z_t)
                    states.append(z)
                    imms.append(imm)
            seq_end = w1 == T
            # ĝ at the window's last state: injected into the network and (DNI) bootstrapped.
            if seq_end or self.credit not in _SYNTH_MODES:
                g_last = None
            elif injected is not None:
                g_last = injected[w1 - 1]
            elif self.credit == "dni":
                with torch.no_grad():
                    g_last = self.synthetic_gradient(z)
            else:
                g_last = sg
            signals = list(imms)  # s_t = l_t inside the window ...
            if g_last is not None and self.beta > 0:
                signals[-1] = signals[-1] + self.beta * g_last  # ... and l_n + β ĝ(z_n) at its end
            if train_net:
                # TBPTT through the window from the detached z_start, with l_t at every
                # state and β ĝ at the last: Σ_t (∂z_t/∂Ψ)^T (l_t + Σ_{τ>t} … ) / B.
                torch.autograd.backward(states, [s / B for s in signals])
            if self.credit == "dni" and uses_synth:
                synth_stats.append(self._dni_regression(z_start, jacs, imms, g_last))
            if update and uses_synth and self.state_norm is not None:
                # the next window's coordinates (fixed while BP(λ)/DNI use them)
                self.state_norm.update(torch.stack(states).detach())  # n × (B, |z|)
            if update:
                self._step(uses_synth)
        if self.bp_lambda is not None and uses_synth and self.bp_lambda.last_td_error is not None:
            synth_stats.append(float(self.bp_lambda.last_td_error))
        out = {"loss": total_loss}
        if synth_stats:
            out["synth_error"] = sum(synth_stats) / len(synth_stats)
        return out

    def _dni_regression(
        self,
        z_start: torch.Tensor,
        jacs: list[torch.Tensor],
        imms: list[torch.Tensor],
        g_last: torch.Tensor | None,
    ) -> float:
        """Regress ĝ(z_start) on the k-step bootstrapped target (Jaderberg et al. 2017).

        target = Σ_{j=1..n} γ^{j−1} (J_1 ⋯ J_j)^T l_j + γ^n (J_1 ⋯ J_n)^T ĝ(z_n), with
        ĝ(z_n) = 0 at a sequence end, computed by :func:`bpl.bootstrapped_targets` over
        the window's states z_start, z_1 … z_n. Loss ½ mean_b ‖ĝ(z_start) − target‖².
        """
        zero = torch.zeros_like(imms[0])
        imm_grads = torch.stack([zero] + imms)  # n × (B, |z|) -> (n+1, B, |z|)
        jac_seq = torch.stack([torch.zeros_like(jacs[0])] + jacs)  # -> (n+1, B, |z|, |z|)
        bootstrap = zero if g_last is None else g_last
        target = bootstrapped_targets(imm_grads, jac_seq, bootstrap, self.gamma)[0]  # (B, |z|)
        self.dni_targets.append(target.detach())
        z_in = z_start.detach()
        if self.state_norm is not None:  # regress in the synthesiser's coordinates: s ⊙ target
            z_in = self._to_synth(z_in)[0]
            target = target * self.state_norm.std.to(target.dtype)
        with torch.enable_grad():
            pred = self.synthesiser(z_in)  # (B, |z|)
            loss = 0.5 * (pred - target.detach()).pow(2).sum(-1).mean()
            loss.backward()
        return float(loss.detach())

    def _zero_grads(self) -> None:
        params = self.network_parameters()
        if self.synthesiser is not None:
            params += list(self.synthesiser.parameters())
        for p in params:
            p.grad = None

    def _step(self, uses_synth: bool) -> None:
        if self._net_opt is not None or self._readout_opt is not None:
            if self.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.network_parameters(), self.max_grad_norm)
            for opt in (self._net_opt, self._readout_opt):
                if opt is not None:
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            self.updates += 1
        if uses_synth and self._synth_opt is not None:
            params = self.synthesiser.trainable_parameters()
            if self.synth_max_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, self.synth_max_grad_norm)
            self._synth_opt.step()
            self._synth_opt.zero_grad(set_to_none=True)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Readout outputs at every step: (T, B, I) -> (T, B, O)."""
        check_tensor("inputs", inputs, (None, None, self.cell.input_size))
        z = self.cell.initial_state(inputs.shape[1])
        outs = []
        for t in range(inputs.shape[0]):
            z = self.cell(inputs[t], z)
            outs.append(self.readout(self.cell.hidden(z)))
        return torch.stack(outs)  # T × (B, O) -> (T, B, O)

    @torch.no_grad()
    def evaluate(
        self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> dict[str, float]:
        """Loss Σ_t mean_b L_t with no learning, and (for ``ce``) the accuracy at masked
        steps."""
        mask = self._check_batch(inputs, targets, mask)
        T, B, _ = inputs.shape
        outs = self.predict(inputs)  # (T, B, O)
        per = self.loss_fn(outs.reshape(T * B, -1), targets.reshape(T * B, -1))  # (T*B,)
        res = {"loss": float((per.view(T, B) * mask).sum() / B)}
        if self.loss_name == "ce":
            hit = (outs.argmax(-1) == targets.argmax(-1)).to(mask.dtype)  # (T, B)
            res["accuracy"] = float((hit * mask).sum() / mask.sum().clamp_min(1))
        return res

    @torch.no_grad()
    def alignment(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None = None,
        scale: float = 1.0,
    ) -> tuple[torch.Tensor, float]:
        """Cosine between l_t + scale·ĝ_t and the BPTT gradient dL/dz_t = l_t + G_t (γ = 1).

        Steps whose exact gradient is zero are left out.

        :param inputs: x, (T, B, I).
        :param targets: y, (T, B, O).
        :param mask: (T, B) loss mask (None: every step).
        :param scale: factor on ĝ (1: the synthesiser's own prediction).
        :return: per-step mean cosine (T,) and the overall mean.
        """
        if self.synthesiser is None:
            raise ValueError(f"credit={self.credit!r} has no synthesiser to align")
        mask = self._check_batch(inputs, targets, mask)
        T, B, _ = inputs.shape
        z = self.cell.initial_state(B)
        zs, jacs, imms = [], [], []
        for t in range(T):
            z, jac = self.cell.jacobian(inputs[t], z)
            imm, _ = self.immediate_gradient(z, targets[t], mask[t], readout_grad=False)
            zs.append(z)
            jacs.append(jac)
            imms.append(imm)
        zs, jacs, imms = torch.stack(zs), torch.stack(jacs), torch.stack(imms)  # (T, B, ...)
        exact = exact_state_gradients(imms, jacs, 1.0)  # (T, B, |z|)
        sg = self.synthetic_gradient(zs.reshape(T * B, -1)).view(T, B, -1)  # -> (T, B, |z|)
        keep = exact.norm(dim=-1) > 0  # (T, B)
        per_step, overall = _alignment(imms + scale * sg, exact, keep)
        return per_step, float(overall)
