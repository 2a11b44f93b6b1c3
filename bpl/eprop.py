"""Network eligibility traces (e-prop, Bellec et al. 2020) for :class:`bpl.RNNCell` and
:class:`bpl.LSTMCell`: within-unit temporal credit with no backward pass through time.

Notation of docs/bp_lambda.md §9. Layout: batch-first. For a cell with G gate blocks of
H units, every weight into gate row j (j < G·H) sees the *presynaptic input*
p_t = [x_t; h_{t−1}; 1] (size P = I + H + 1: the columns of ``weight_ih``, of
``weight_hh``, and the bias, shared by ``bias_ih`` and ``bias_hh``). A trace ε_t is
(B, G·H, P): the sensitivity of unit j's own state to the weights into row j, carried
along unit j's own past only (no path through the recurrent weights):

    ε_t = d_t ⊙ ε_{t−1} + ψ_t ⊗ p_t                    (eq. E1, :func:`leaky_trace`)

with d_t the unit's own decay and ψ_t the step's immediate derivative:

* leaky RNN h_t = α h_{t−1} + φ(a_t), a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh:
  d_t = α, ψ_t = φ'(a_t) (:func:`rnn_immediate`);
* LSTM (gates i, f, g, o; c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh c_t): for the rows
  of i, f and g, d_t = f_t and ψ_t = ∂c_t/∂a_t = (g·i(1−i), c_{t−1}·f(1−f), i·(1−g²));
  for the rows of o, d_t = 0 and ψ_t = tanh(c_t)·o(1−o) = ∂h_t/∂a^o_t
  (:func:`lstm_immediate`).

Each trace row is paired with the learning signal L_t = l_t + β ĝ_t (B, |z|) seen by the
state it feeds (:func:`rnn_row_signal`, :func:`lstm_row_signal`: for the LSTM the c-rows
get ∂(L_t · z_t)/∂c_t through the same step, L^h ⊙ o ⊙ (1 − tanh² c_t) + L^c), and

    ΔΨ = Σ_t Σ_b L̃_t[b, j] ε_t[b, j, :]                  (eq. E2, :func:`eprop_gradient`)

Known answers (tests/bpl/test_eprop.py): with W_hh = 0 (only element-wise recurrence)
and L_t = l_t, ΔΨ is the exact BPTT/RTRL gradient; with α = 0 (RNN) ΔΨ is the one-step
gradient Σ_t :func:`bpl.one_step_gradients`.

The immediate derivative ψ_t sits inside the recursion (E1): for a unit whose leak acts
on its output, h_t = α h_{t−1} + φ(a_t), that is the exact within-unit sensitivity. The
form f'(a_t) ⊙ (α-filtered p) of e-prop's spiking units (leak on the potential, before
φ) is the same for a linear RNN or α = 0, and differs otherwise.
"""

from __future__ import annotations

import torch

from .cells import LSTMCell, RecurrentCell, RNNCell

#: the cells :class:`NetworkTraces` supports, by class
TRACE_CELLS = (RNNCell, LSTMCell)
#: values of ``network_traces`` (None: one-step or TBPTT gradients, no traces)
NETWORK_TRACES = (None, "eprop")


def check_network_traces(value: object) -> str | None:
    """Return ``value`` if it is one of :data:`NETWORK_TRACES`, else raise ValueError."""
    if value not in NETWORK_TRACES:
        raise ValueError(f"network_traces must be one of {NETWORK_TRACES}, got {value!r}")
    return value  # type: ignore[return-value]


def presynaptic(x: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    """p_t = [x_t; h_{t−1}; 1]: (B, I), (B, H) -> (B, I + H + 1)."""
    return torch.cat([x, h_prev, torch.ones_like(x[:, :1])], dim=1)


def leaky_trace(
    trace: torch.Tensor, decay: torch.Tensor | float, psi: torch.Tensor, pre: torch.Tensor
) -> torch.Tensor:
    """E1: ε_t = d_t ⊙ ε_{t−1} + ψ_t ⊗ p_t.

    :param trace: ε_{t−1}, (B, R, P) (R trace rows).
    :param decay: d_t, a float or (B, R).
    :param psi: ψ_t, (B, R).
    :param pre: p_t, (B, P).
    :return: ε_t, (B, R, P).
    """
    if isinstance(decay, torch.Tensor):
        decay = decay.unsqueeze(-1)
    return decay * trace + psi.unsqueeze(-1) * pre.unsqueeze(1)


def rnn_immediate(cell: RNNCell, act: torch.Tensor) -> torch.Tensor:
    """ψ_t = φ'(a_t) of a leaky RNN from φ(a_t) (B, H): 1 − φ² for tanh, 1 if linear."""
    if cell.nonlinearity == "linear":
        return torch.ones_like(act)
    return 1 - act * act


def lstm_immediate(cache: tuple, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ψ_t and d_t of an LSTM's 4H trace rows (order i, f, g, o), (B, 4H) each.

    ψ = [g·i(1−i), c_{t−1}·f(1−f), i·(1−g²), tanh(c_t)·o(1−o)];
    d = [f, f, f, 0] (the output gate keeps no trace).

    :param cache: (i, f, g, o, tanh c_t) of :class:`bpl.LSTMCell`'s step, (B, H) each.
    :param c_prev: c_{t−1}, (B, H).
    """
    i, f, g, o, tc = cache
    psi = torch.cat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tc * o * (1 - o)], 1)
    decay = torch.cat([f, f, f, torch.zeros_like(f)], 1)
    return psi, decay


def rnn_row_signal(signal: torch.Tensor) -> torch.Tensor:
    """L̃_t of a leaky RNN's H rows: the learning signal itself, (B, H) -> (B, H)."""
    return signal


def lstm_row_signal(signal: torch.Tensor, cache: tuple) -> torch.Tensor:
    """L̃_t of an LSTM's 4H rows: (B, 2H) on z = [h; c] -> (B, 4H).

    Rows i, f, g feed c_t: L^h ⊙ o ⊙ (1 − tanh² c_t) + L^c; rows o feed h_t: L^h.
    """
    _, _, _, o, tc = cache
    H = o.shape[1]
    lh, lc = signal[:, :H], signal[:, H:]
    on_c = lh * o * (1 - tc * tc) + lc
    return torch.cat([on_c, on_c, on_c, lh], 1)


def eprop_gradient(row_signal: torch.Tensor, trace: torch.Tensor) -> torch.Tensor:
    """E2 at one step: Σ_b L̃_t[b, j] ε_t[b, j, :], (B, R), (B, R, P) -> (R, P)."""
    return torch.einsum("br,brp->rp", row_signal, trace)


def split_gradient(cell: RecurrentCell, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(R, P) over p = [x; h; 1] -> gradients of (weight_ih, weight_hh, bias_ih, bias_hh)."""
    I, H = cell.input_size, cell.hidden_size
    bias = grad[:, I + H]
    return grad[:, :I], grad[:, I : I + H], bias, bias.clone()


class NetworkTraces:
    """A cell's e-prop traces over a batch of rows, stepped with the cell.

    Per step: :meth:`step` runs the cell (no autograd graph), updates ε_t (E1) and
    returns z_t (and J_t if asked); :meth:`accumulate` adds E2's Σ_b L̃_t ε_t for a
    learning signal L_t to the cell's ``.grad``.

    :param cell: a :class:`bpl.RNNCell` (any leak α) or :class:`bpl.LSTMCell`.
    """

    def __init__(self, cell: RecurrentCell) -> None:
        if not isinstance(cell, TRACE_CELLS):
            raise ValueError(
                "network_traces='eprop' needs a bpl.RNNCell or bpl.LSTMCell, got "
                f"{type(cell).__name__}"
            )
        self.cell = cell
        self.trace: torch.Tensor | None = None
        self._cache: tuple | None = None

    @property
    def rows(self) -> int:
        """R = G·H trace rows (one per gate unit)."""
        return self.cell.gates * self.cell.hidden_size

    def reset(self, batch_size: int) -> None:
        """ε = 0 for ``batch_size`` fresh rows."""
        w = self.cell.weight_hh
        P = self.cell.input_size + self.cell.hidden_size + 1
        self.trace = torch.zeros(batch_size, self.rows, P, dtype=w.dtype, device=w.device)
        self._cache = None

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, z_prev: torch.Tensor, jacobian: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z_t = f(x_t, z_{t−1}) and ε_t (E1); J_t too if ``jacobian``.

        :param x: x_t, (B, I).
        :param z_prev: z_{t−1}, (B, |z|).
        :return: z_t (B, |z|), detached, and J_t (B, |z|, |z|) or None.
        """
        if self.trace is None or self.trace.shape[0] != x.shape[0]:
            raise ValueError("call reset(batch_size) before step()")
        cell = self.cell
        cell._check(x, z_prev)
        z, cache = cell._forward(x, z_prev)
        pre = presynaptic(x, cell.hidden(z_prev))
        if isinstance(cell, LSTMCell):
            psi, decay = lstm_immediate(cache, cell.cell_state(z_prev))
        else:
            psi, decay = rnn_immediate(cell, cache[0]), cell.alpha
        self.trace = leaky_trace(self.trace, decay, psi, pre)
        self._cache = cache
        jac = cell._jacobian(z_prev, cache) if jacobian else None
        return z.detach(), jac

    def gradients(self, signal: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """E2 at the last step for L_t = ``signal`` (B, |z|): one tensor per cell
        parameter (weight_ih, weight_hh, bias_ih, bias_hh)."""
        if self._cache is None:
            raise ValueError("call step() before gradients()")
        if isinstance(self.cell, LSTMCell):
            rows = lstm_row_signal(signal, self._cache)
        else:
            rows = rnn_row_signal(signal)
        return split_gradient(self.cell, eprop_gradient(rows, self.trace))

    def accumulate(self, signal: torch.Tensor) -> None:
        """Add :meth:`gradients` (``signal``) to the cell parameters' ``.grad``."""
        with torch.no_grad():
            grads = self.gradients(signal.detach())
            for p, g in zip(self.cell.parameters(), grads, strict=True):
                p.grad = g.clone() if p.grad is None else p.grad.add_(g)


__all__ = [
    "NETWORK_TRACES",
    "NetworkTraces",
    "TRACE_CELLS",
    "check_network_traces",
    "eprop_gradient",
    "leaky_trace",
    "lstm_immediate",
    "lstm_row_signal",
    "presynaptic",
    "rnn_immediate",
    "rnn_row_signal",
    "split_gradient",
]
