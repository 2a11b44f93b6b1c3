"""Single-step recurrent cells that also return their recurrent Jacobian.

Layout: batch-first. ``x`` is (B, I); the state z is (B, |z|) with |z| = H for the
RNN and GRU and |z| = 2H, z = [h; c], for the LSTM. ``jacobian`` returns
J_t = ∂z_t/∂z_{t−1}, (B, |z|, |z|), computed analytically (tests check it against
autograd). Parameter names and gate order follow ``torch.nn.RNNCell``/``GRUCell``/
``LSTMCell``, so weights can be copied to and from torch's cells.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import nn

from .checks import check_positive_int, check_same_dtype, check_tensor, check_unit_interval


class RecurrentCell(nn.Module, abc.ABC):
    """Base class: z_t = f(x_t, z_{t−1}; Ψ) with its Jacobian ∂z_t/∂z_{t−1}.

    :param input_size: I, size of x_t.
    :param hidden_size: H, number of units.
    :param dtype: parameter dtype.
    :param device: parameter device.
    """

    #: number of gate blocks stacked in weight_ih / weight_hh
    gates: int = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        kw = {"dtype": dtype, "device": device}
        G, H = self.gates, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G * H, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(G * H, H, **kw))
        self.bias_ih = nn.Parameter(torch.empty(G * H, **kw))
        self.bias_hh = nn.Parameter(torch.empty(G * H, **kw))
        bound = 1.0 / math.sqrt(H)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def state_size(self) -> int:
        """|z|, the size of the state the gradient critic sees."""
        return self.hidden_size

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """Zero state z, (B, |z|)."""
        w = self.weight_hh
        return torch.zeros(batch_size, self.state_size, dtype=w.dtype, device=w.device)

    def hidden(self, z: torch.Tensor) -> torch.Tensor:
        """The output h_t carried in z_t (all of z for RNN/GRU, the first half for LSTM)."""
        return z[..., : self.hidden_size]

    def _check(self, x: torch.Tensor, z: torch.Tensor) -> None:
        check_tensor("x", x, (None, self.input_size))
        check_tensor("z", z, (x.shape[0], self.state_size))
        check_same_dtype(("x", "z", "the cell's parameters"), x, z, self.weight_hh)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """z_t = f(x_t, z_{t−1}): (B, I), (B, |z|) -> (B, |z|)."""
        self._check(x, z)
        return self._forward(x, z)[0]

    def jacobian(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z_t and J_t = ∂z_t/∂z_{t−1}: returns (B, |z|) and (B, |z|, |z|).

        z_t is differentiable with respect to the parameters (and to x, z); J_t is
        detached.
        """
        self._check(x, z)
        out, cache = self._forward(x, z)
        with torch.no_grad():
            jac = self._jacobian(z.detach(), cache)
        return out, jac

    @abc.abstractmethod
    def _forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """z_t and a cache of detached intermediates for :meth:`_jacobian`."""

    @abc.abstractmethod
    def _jacobian(self, z: torch.Tensor, cache: tuple) -> torch.Tensor:
        """∂z_t/∂z_{t−1} from z_{t−1} and the cache of :meth:`_forward`."""


def _row_scale(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """diag(d) W per row: (B, H), (H, K) -> (B, H, K)."""
    return d.unsqueeze(-1) * w


class RNNCell(RecurrentCell):
    """Leaky Elman cell h_t = α h_{t−1} + φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),
    φ = tanh or identity.

    :param nonlinearity: ``"tanh"`` or ``"linear"`` (the paper's linear RNN).
    :param alpha: the leak α ∈ [0, 1) (0: torch's Elman cell exactly). A unit keeps α of
        its previous value, so its own past reaches it without the recurrent weights —
        the within-unit path that e-prop's traces follow (:mod:`bpl.eprop`).
    """

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        alpha: float = 0.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "linear"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'linear', got {nonlinearity!r}")
        alpha = check_unit_interval("alpha", alpha)
        if alpha >= 1:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        super().__init__(input_size, hidden_size, dtype=dtype, device=device)
        self.nonlinearity = nonlinearity
        self.alpha = alpha

    def _forward(self, x, z):
        pre = x @ self.weight_ih.t() + self.bias_ih + z @ self.weight_hh.t() + self.bias_hh
        act = torch.tanh(pre) if self.nonlinearity == "tanh" else pre
        h = act + self.alpha * z if self.alpha else act
        return h, (act.detach(),)

    def _jacobian(self, z, cache):
        (act,) = cache
        W = self.weight_hh.detach()
        if self.nonlinearity == "linear":
            jac = W.expand(z.shape[0], -1, -1).clone()
        else:
            jac = _row_scale(1 - act * act, W)  # diag(φ'(a_t)) W_hh
        if self.alpha:
            jac.diagonal(dim1=1, dim2=2).add_(self.alpha)  # + α I
        return jac

    def extra_repr(self) -> str:
        return f"nonlinearity={self.nonlinearity!r}, alpha={self.alpha}"


class GRUCell(RecurrentCell):
    """GRU cell with torch's conventions (gates r, u, n):

    r = σ(W_ir x + b_ir + W_hr h + b_hr),  u = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − u) ⊙ n + u ⊙ h.
    """

    gates = 3

    def _forward(self, x, z):
        gi = x @ self.weight_ih.t() + self.bias_ih  # (B, 3H)
        gh = z @ self.weight_hh.t() + self.bias_hh  # (B, 3H)
        ir, iu, in_ = gi.chunk(3, dim=1)
        hr, hu, hn = gh.chunk(3, dim=1)
        r = torch.sigmoid(ir + hr)
        u = torch.sigmoid(iu + hu)
        n = torch.tanh(in_ + r * hn)
        h = (1 - u) * n + u * z
        return h, (r.detach(), u.detach(), n.detach(), hn.detach())

    def _jacobian(self, z, cache):
        r, u, n, hn = cache
        Wr, Wu, Wn = self.weight_hh.detach().chunk(3, dim=0)
        dr = _row_scale(r * (1 - r), Wr)  # ∂r/∂h
        du = _row_scale(u * (1 - u), Wu)  # ∂u/∂h
        dn = _row_scale(1 - n * n, _row_scale(r, Wn) + hn.unsqueeze(-1) * dr)  # ∂n/∂h
        jac = _row_scale(1 - u, dn) + _row_scale(z - n, du)
        jac.diagonal(dim1=1, dim2=2).add_(u)  # + diag(u)
        return jac


class LSTMCell(RecurrentCell):
    """LSTM cell with torch's gate order (i, f, g, o) and state z = [h; c]:

    c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c').
    """

    gates = 4

    @property
    def state_size(self) -> int:
        return 2 * self.hidden_size

    def cell_state(self, z: torch.Tensor) -> torch.Tensor:
        """c_t, the second half of z_t."""
        return z[..., self.hidden_size :]

    def _forward(self, x, z):
        H = self.hidden_size
        h, c = z[:, :H], z[:, H:]
        gates = x @ self.weight_ih.t() + self.bias_ih + h @ self.weight_hh.t() + self.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_new = f * c + i * g
        tc = torch.tanh(c_new)
        h_new = o * tc
        cache = tuple(t.detach() for t in (i, f, g, o, tc))
        return torch.cat([h_new, c_new], dim=1), cache

    def _jacobian(self, z, cache):
        H = self.hidden_size
        i, f, g, o, tc = cache
        c = z[:, H:]
        Wi, Wf, Wg, Wo = self.weight_hh.detach().chunk(4, dim=0)
        dc_dh = (
            _row_scale(c * f * (1 - f), Wf)
            + _row_scale(g * i * (1 - i), Wi)
            + _row_scale(i * (1 - g * g), Wg)
        )  # ∂c'/∂h
        do = o * (1 - tc * tc)  # ∂h'/∂c' (diagonal)
        dh_dh = _row_scale(tc * o * (1 - o), Wo) + _row_scale(do, dc_dh)
        B = z.shape[0]
        jac = z.new_zeros(B, 2 * H, 2 * H)
        jac[:, :H, :H] = dh_dh
        jac[:, H:, :H] = dc_dh
        jac[:, :H, H:] = torch.diag_embed(do * f)  # ∂h'/∂c
        jac[:, H:, H:] = torch.diag_embed(f)  # ∂c'/∂c
        return jac


CELLS: dict[str, type[RecurrentCell]] = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


def make_cell(
    kind: str,
    input_size: int,
    hidden_size: int,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    **kwargs,
) -> RecurrentCell:
    """Build a cell by name: ``"rnn"``, ``"gru"`` or ``"lstm"``."""
    if kind not in CELLS:
        raise ValueError(f"cell kind must be one of {sorted(CELLS)}, got {kind!r}")
    return CELLS[kind](input_size, hidden_size, dtype=dtype, device=device, **kwargs)


def one_step_gradients(
    cell: RecurrentCell, x: torch.Tensor, z_prev: torch.Tensor, signal: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """ΔΨ-direction of one step: (∂z_t/∂Ψ |_{one step})^T s_t for each cell parameter.

    z_{t−1} is treated as a constant (bp_lambda.md §4, second oracle), so no gradient
    flows to earlier steps. Returns one tensor per ``cell.parameters()``.

    :param x: x_t, (B, I).
    :param z_prev: z_{t−1}, (B, |z|) (detached here).
    :param signal: s_t = l_t + β ĝ_t, (B, |z|).
    """
    check_tensor("signal", signal, (x.shape[0], cell.state_size))
    with torch.enable_grad():
        z = cell(x, z_prev.detach())
        return torch.autograd.grad(z, tuple(cell.parameters()), grad_outputs=signal)
