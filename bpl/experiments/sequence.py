"""Online sequence learning: a recurrent cell, a readout and a per-step loss, trained with
one of the credit-assignment modes of :data:`bpl.CREDIT_MODES` on equal terms
(bp_lambda.md §5).

Layout: time-first. A batch is ``inputs`` (T, B, I), ``targets`` (T, B, O) and ``mask``
(T, B); the state z_t is (B, |z|). Every row of a batch has the same length T; each
batch is a fresh set of sequences (states, traces and pending TD errors reset between
batches and carry across the windows inside one).

What each mode does to a window of states is :class:`bpl.CreditEngine`'s: this module
unrolls the cell, computes l_t through the readout, hands the window to the engine and
backpropagates l_t (plus the engine's β ĝ(z_last) at the window's last state) through
the window. Windows are ``k`` steps (``tbptt``, ``dni``, ``bp_lambda``; k = 1 with
``bp_lambda`` is fully online, no backward pass through time), the whole sequence
(``bptt``) or one step with the graph cut at every step (``immediate``).

Which θ and ĝ are used: the gradient critic learns from a window with the θ in force
since the previous window end; the ĝ(z_last) injected into the network at the window end
is its prediction with that θ (before the critic's update for this window). The
network, readout and critic optimizers then step once, together, at the window end.
Nothing is injected at a sequence's last step (G_T = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..alignment import alignment as _alignment
from ..alignment import exact_state_gradients
from ..bp_lambda import BPLambda
from ..cells import RecurrentCell
from ..checks import check_non_negative, check_positive_int, check_tensor
from ..credit import OPTIMIZERS, CreditEngine
from ..eprop import NetworkTraces, check_network_traces
from ..synthetic_gradient import SyntheticGradient
from ..time_input import augment, phase_features
from .losses import loss_by_name as _loss


def _network_traces(cell, network_traces, credit, k) -> NetworkTraces | None:
    """The cell's e-prop traces for ``network_traces="eprop"`` (None otherwise).

    :raises ValueError: the window is not one step (k > 1 outside ``immediate``, or bptt).
    """
    if network_traces is None:
        return None
    if credit == "bptt" or (k != 1 and credit != "immediate"):
        raise ValueError(
            f"network_traces='eprop' needs a window of one step (k = 1, not bptt), got "
            f"credit={credit!r}, k={k}"
        )
    return NetworkTraces(cell)


def _critic_clip(sg_max_grad_norm: float | None | str, max_grad_norm: float | None):
    """The critic's clip norm: a number, None, or ``"same"`` (the network's)."""
    if not isinstance(sg_max_grad_norm, str):
        return sg_max_grad_norm
    if sg_max_grad_norm != "same":
        raise ValueError(
            f"sg_max_grad_norm must be a number > 0, None or 'same', got {sg_max_grad_norm!r}"
        )
    return max_grad_norm


class SequenceLearner:
    """A recurrent cell + linear readout trained on batches of sequences with a chosen
    credit-assignment mode (see the module docstring).

    The loss of a batch is Σ_t mean_b mask[t, b]·L(readout(h_t), y_t) (summed over time,
    averaged over rows). Per row, l_t = ∂L_t/∂z_t is computed through the readout only;
    the gradient critic sees and predicts per-row (unaveraged) gradients.

    :param cell: the recurrent cell (:class:`bpl.RNNCell`, ``GRUCell`` or ``LSTMCell``).
    :param output_size: O, size of the readout's output.
    :param loss: ``"mse"``, ``"bce"`` or ``"ce"`` (see :data:`LOSSES`), or a callable
        (outputs (B, O), targets (B, O)) -> per-row loss (B,).
    :param credit: one of :data:`bpl.CREDIT_MODES`.
    :param k: window length for ``tbptt``, ``dni`` and ``bp_lambda`` (ignored by ``bptt``;
        ``immediate`` is k = 1).
    :param sg_gamma: discount γ ∈ [0, 1] of the gradient critic's target.
    :param sg_lambda: trace decay λ ∈ [0, 1] of BP(λ) (``bp_lambda`` only).
    :param sg_beta: scale β >= 0 of the synthetic gradient injected at window ends.
    :param learning_rate: learning rate of the cell (0 freezes it).
    :param readout_learning_rate: learning rate of the readout (None: ``learning_rate``;
        0 freezes it).
    :param sg_learning_rate: learning rate of the gradient critic (0 freezes it).
    :param max_grad_norm: clip the gradient norm of the network (cell + readout) at each
        update (None: no clipping).
    :param sg_max_grad_norm: clip the critic's update to this norm (None: no clipping;
        ``"same"``: ``max_grad_norm``). Clipping it at 1 slowed and destabilised the
        critic in the delayed-target probes (docs/results/paper_b_delayed_target.md).
    :param gradient_critic: the critic to use (None: a new :class:`bpl.SyntheticGradient`
        with ``sg_hidden_sizes``); only for ``dni`` and ``bp_lambda``.
    :param sg_hidden_sizes: hidden layers of a new critic (() = linear).
    :param sg_train_output_only: train only the critic's output layer (structured trace).
    :param sg_normalize: the critic predicts G/σ, σ a running RMS of l.
    :param sg_normalize_input: the critic works in standardised coordinates z' = (z − μ)/s
        (:class:`bpl.StateNormalizer`, an exact change of variables; μ and s are running
        statistics, updated with each window's states before the critic learns from them
        and fixed inside a window), so that directions of z that vary little (a fading
        cue) are learned at the same rate as the others. ĝ is mapped back to z's
        coordinates before it is injected.
    :param sg_time_input: n > 0: the critic sees z̃_t = [z_t; u_t], u_t the phase of the
        step index t at n periods (:mod:`bpl.time_input`; the engine's state is |z| + 2n);
        0: ĝ(z_t) alone.
    :param optimizer: ``"adam"`` or ``"sgd"``, used for all three parameter groups.
    :param check_inputs: let :class:`bpl.BPLambda` check its inputs for NaN/inf every step.
    :param network_traces: ``None`` (one-step / TBPTT gradients) or ``"eprop"``: the cell
        (:class:`bpl.RNNCell` or :class:`bpl.LSTMCell`) learns from e-prop eligibility
        traces, Σ_t L_t · ε_t with L_t = l_t + β ĝ_t (:mod:`bpl.eprop`), instead of the
        one-step gradient; needs a window of one step (k = 1, not ``bptt``).
    """

    def __init__(
        self,
        cell: RecurrentCell,
        output_size: int,
        loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "mse",
        credit: str = "bp_lambda",
        k: int = 1,
        sg_gamma: float = 1.0,
        sg_lambda: float = 1.0,
        sg_beta: float = 1.0,
        learning_rate: float = 1e-3,
        readout_learning_rate: float | None = None,
        sg_learning_rate: float = 1e-3,
        max_grad_norm: float | None = None,
        sg_max_grad_norm: float | None | str = "same",
        gradient_critic: SyntheticGradient | None = None,
        sg_hidden_sizes: Sequence[int] = (),
        sg_train_output_only: bool = False,
        sg_normalize: bool = False,
        sg_normalize_input: bool = False,
        optimizer: str = "adam",
        check_inputs: bool = False,
        network_traces: str | None = None,
        sg_time_input: int = 0,
    ) -> None:
        if not isinstance(cell, RecurrentCell):
            raise ValueError(f"cell must be a bpl.RecurrentCell, got {type(cell).__name__}")
        self.loss_name, self.loss_fn = _loss(loss)
        self.cell = cell
        self.k = check_positive_int("k", k)
        self.learning_rate = check_non_negative("learning_rate", learning_rate)
        self.readout_learning_rate = (
            self.learning_rate
            if readout_learning_rate is None
            else check_non_negative("readout_learning_rate", readout_learning_rate)
        )
        if max_grad_norm is not None:
            max_grad_norm = check_non_negative("max_grad_norm", max_grad_norm)
            if max_grad_norm == 0:
                raise ValueError("max_grad_norm must be > 0 or None, got 0")
        self.max_grad_norm = max_grad_norm
        self.network_traces = check_network_traces(network_traces)
        #: the cell's e-prop traces (``network_traces="eprop"``), else None
        self.traces = _network_traces(cell, network_traces, credit, k)
        sg_max_grad_norm = _critic_clip(sg_max_grad_norm, max_grad_norm)
        w = cell.weight_hh
        self.sg_time_input = check_positive_int("sg_time_input", sg_time_input, minimum=0)
        #: what the credit mode does to each window: the critic, BP(λ), DNI, injection
        self.engine = CreditEngine(
            credit,
            cell.state_size + 2 * self.sg_time_input,
            sg_gamma=sg_gamma,
            sg_lambda=sg_lambda,
            sg_beta=sg_beta,
            sg_learning_rate=sg_learning_rate,
            sg_hidden_sizes=sg_hidden_sizes,
            sg_train_output_only=sg_train_output_only,
            sg_max_grad_norm=sg_max_grad_norm,
            sg_normalize=sg_normalize,
            sg_normalize_input=sg_normalize_input,
            optimizer=optimizer,
            gradient_critic=gradient_critic,
            check_inputs=check_inputs,
            dtype=w.dtype,
            device=w.device,
        )
        self.readout = nn.Linear(cell.hidden_size, check_positive_int("output_size", output_size))
        self.readout.to(dtype=w.dtype, device=w.device)
        opt = OPTIMIZERS[optimizer]
        lr, readout_lr = self.learning_rate, self.readout_learning_rate
        self._net_opt = opt(cell.parameters(), lr=lr) if lr > 0 else None
        self._readout_opt = (
            opt(self.readout.parameters(), lr=readout_lr) if readout_lr > 0 else None
        )
        #: DNI only: the k-step bootstrapped targets of the last batch, one (B, |z|) per window
        self.dni_targets: list[torch.Tensor] = []
        #: number of network updates applied so far
        self.updates = 0

    # ------------------------------------------------------------------ helpers
    @property
    def credit(self) -> str:
        """The credit-assignment mode."""
        return self.engine.credit

    @property
    def gradient_critic(self) -> SyntheticGradient | None:
        """The gradient critic ĝ (None for the modes without one)."""
        return self.engine.gradient_critic

    @property
    def bp_lambda(self) -> BPLambda | None:
        """The critic's BP(λ) learner (``bp_lambda`` only)."""
        return self.engine.bp_lambda

    @property
    def window(self) -> int | None:
        """Steps per window: k, 1 for ``immediate``, None (whole sequence) for ``bptt``."""
        return self.engine.window(self.k)

    def synthetic_gradient(
        self, z: torch.Tensor, times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ĝ(z) in z's coordinates, (..., |z|) -> (..., |z|) (no learning); ``times``: the
        states' step indices, needed with ``sg_time_input``."""
        if not self.sg_time_input:
            return self.engine.predict(z)
        if times is None:
            raise ValueError("sg_time_input: synthetic_gradient needs the states' step indices")
        z_aug = self._with_time(z, times.expand(z.shape[:-1]))[0]
        return self.engine.predict(z_aug)[..., : self.cell.state_size]

    def _with_time(self, z, times, jac=None, imm=None):
        """(z̃, J̃, l̃) with the phase u of step ``times`` (:func:`bpl.time_input.augment`)."""
        return augment(z, jac, imm, phase_features(times, self.sg_time_input, z.dtype))

    def network_parameters(self) -> list[nn.Parameter]:
        """Cell then readout parameters."""
        return list(self.cell.parameters()) + list(self.readout.parameters())

    def config(self) -> dict:
        """The learner's hyper-parameters as a JSON-ready dict."""
        return {
            "cell": type(self.cell).__name__,
            "hidden_size": self.cell.hidden_size,
            "loss": self.loss_name,
            "k": self.k,
            "learning_rate": self.learning_rate,
            "readout_learning_rate": self.readout_learning_rate,
            "max_grad_norm": self.max_grad_norm,
            "network_traces": self.network_traces,
            **self.engine.config(),
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
        :param update: step the optimizers at each window end and update the critic's
            coordinate statistics (False: only accumulate every window's gradient into
            ``.grad``, with the parameters fixed — the sum over windows is then the
            mode's gradient for the whole batch).
        :param injected: (T, B, |z|) gradients injected in place of ĝ at window ends (an
            oracle for tests and diagnostics, e.g. the true future gradients G_t); the
            gradient critic is then neither used nor trained.
        :return: ``{"loss": Σ_t mean_b L_t}``, plus ``"sg_error"``, the critic's mean
            error over the windows (‖δ‖ for bp_lambda, ‖ĝ(z_0) − target‖ for dni).
        :raises bpl.NonFiniteError: the critic's update became NaN/inf.
        """
        mask = self._check_batch(inputs, targets, mask)
        T, B, _ = inputs.shape
        if injected is not None:
            check_tensor("injected", injected, (T, B, self.cell.state_size))
        if self.engine.uses_critic and injected is None:
            self.engine.reset(B)
        self._zero_grads()
        if self.traces is not None:
            self.traces.reset(B)
        window = self.window or T
        z = self.cell.initial_state(B)
        total_loss = 0.0
        errors: list[float] = []
        self.dni_targets = []
        for w0 in range(0, T, window):
            w1 = min(T, w0 + window)
            z, loss, error = self._train_window(inputs, targets, mask, injected, z, w0, w1, update)
            total_loss += loss
            if error is not None:
                errors.append(error)
        out = {"loss": total_loss}
        if errors:
            out["sg_error"] = sum(errors) / len(errors)
        return out

    def _train_window(self, inputs, targets, mask, injected, z, w0, w1, update):
        """Unroll steps w0 … w1−1 from z (detached), hand them to the engine, backpropagate
        l_t + β ĝ at the last state through the window, step the optimizers if ``update``.

        :return: the window's last state, its loss Σ_t mean_b L_t and the critic's error.
        """
        T, B = inputs.shape[:2]
        engine = self.engine
        learn_critic = engine.uses_critic and injected is None
        train_net = self._net_opt is not None or not update
        train_readout = self._readout_opt is not None or not update
        z_start = z.detach()
        states, jacs, imms = [], [], []
        loss = 0.0
        with torch.set_grad_enabled(train_net and self.traces is None):
            z = z_start
            for t in range(w0, w1):
                if self.traces is not None:  # a window of one step: ε_t (E1) with z_t
                    z, jac = self.traces.step(inputs[t], z, jacobian=learn_critic)
                    jacs.append(jac)
                elif learn_critic:
                    z, jac = self.cell.jacobian(inputs[t], z)
                    jacs.append(jac)
                else:
                    z = self.cell(inputs[t], z)
                imm, step_loss = self.immediate_gradient(z, targets[t], mask[t], train_readout)
                loss += float(step_loss)
                states.append(z)
                imms.append(imm)
        ends = torch.zeros(w1 - w0, B, dtype=torch.bool, device=inputs.device)
        ends[-1] = w1 == T  # only the sequence's last step ends it
        signals = list(imms)  # s_t = l_t inside the window ...
        error = None
        if learn_critic:
            last, error = self._learn_critic(z_start, states, jacs, imms, ends, w0, update)
            signals[-1] = signals[-1] + engine.injection(last, ends[-1])
        elif injected is not None and engine.uses_critic:
            signals[-1] = signals[-1] + engine.injection(injected[w1 - 1], ends[-1])
        if train_net and self.traces is not None:
            self.traces.accumulate(signals[-1] / B)  # E2: L_t · ε_t, L_t = l_t + β ĝ_t
        elif train_net:
            # TBPTT through the window from the detached z_start, with l_t at every state
            # and β ĝ at the last: Σ_t (∂z_t/∂Ψ)^T (l_t + Σ_{τ>t} … ) / B.
            torch.autograd.backward(states, [s / B for s in signals])
        if update:
            self._step(learn_critic)
        return z, loss, error

    def _learn_critic(self, z_start, states, jacs, imms, ends, w0, update):
        """Hand the window (steps w0, w0 + 1, …) to the engine, with the step phase if
        ``sg_time_input``; return ĝ(z_last) (B, |z|) and the critic's error."""
        zs = torch.stack([s.detach() for s in states])  # n × (B, |z|) -> (n, B, |z|)
        jac, imm = torch.stack(jacs), torch.stack(imms)
        z0 = z_start
        if self.sg_time_input:
            times = torch.arange(w0, w0 + len(states), device=zs.device)[:, None].expand(
                zs.shape[:2]
            )
            zs, jac, imm = self._with_time(zs, times, jac, imm)
            z0 = self._with_time(z_start, times[0] - 1)[0]
        credit = self.engine.learn_window(z0, zs, jac, imm, ends, update_statistics=update)
        size = self.cell.state_size
        if credit.target is not None:
            self.dni_targets.append(credit.target.detach()[..., :size])
        return credit.last[..., :size], credit.error

    def _zero_grads(self) -> None:
        for p in self.network_parameters():
            p.grad = None
        self.engine.zero_grad()

    def _step(self, learn_critic: bool) -> None:
        if self._net_opt is not None or self._readout_opt is not None:
            if self.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.network_parameters(), self.max_grad_norm)
            for opt in (self._net_opt, self._readout_opt):
                if opt is not None:
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            self.updates += 1
        if learn_critic:
            self.engine.step()

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
        :param scale: factor on ĝ (1: the critic's own prediction).
        :return: per-step mean cosine (T,) and the overall mean.
        """
        if self.engine.gradient_critic is None:
            raise ValueError(f"credit={self.credit!r} has no gradient critic to align")
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
        times = torch.arange(T, device=zs.device).unsqueeze(1).expand(T, B)  # (T, B)
        sg = self.synthetic_gradient(zs, times)  # (T, B, |z|)
        keep = exact.norm(dim=-1) > 0  # (T, B)
        per_step, overall = _alignment(imms + scale * sg, exact, keep)
        return per_step, float(overall)
