"""What the experiment scripts share: named methods, the paper's RNN and a training loop.

A *method* names a credit-assignment mode as the experiments tabulate it:
``"immediate"``, ``"tbptt"``, ``"dni"``, ``"bptt"`` or ``"bp_lambda(λ)"`` (BP(λ) with its
trace decay), optionally followed by ``"+std"``: the gradient critic works in
standardised coordinates (``sg_normalize_input``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..cells import RNNCell
from ..credit import NonFiniteError
from .sequence import SequenceLearner
from .tasks import Batch

#: the methods without a trace decay
BASE_METHODS = ("tbptt", "dni", "immediate", "bptt")
#: the methods whose critic can take standardised input (``+std``)
CRITIC_METHODS = ("dni", "bp_lambda")


def parse_method(text: str) -> tuple[str, bool]:
    """``"bp_lambda(1)+std"`` -> ``("bp_lambda(1)", True)``; checks the name.

    :raises ValueError: not a method, or ``+std`` after a method without a critic.
    """
    std = text.endswith("+std")
    name = text[: -len("+std")] if std else text
    ok = name in BASE_METHODS
    if name.startswith("bp_lambda(") and name.endswith(")"):
        try:
            lam = float(name[len("bp_lambda(") : -1])
            ok = 0.0 <= lam <= 1.0
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(
            f"method must be one of {BASE_METHODS} or bp_lambda(λ) with λ in [0, 1], "
            f"optionally followed by +std; got {text!r}"
        )
    if std and not name.startswith(CRITIC_METHODS):
        raise ValueError(f"{text!r}: +std needs a synthetic-gradient method (dni, bp_lambda)")
    return name, std


def method_kwargs(method: str) -> dict:
    """:class:`SequenceLearner` keyword arguments for a method:
    ``"bp_lambda(0.5)+std"`` -> ``{"credit": "bp_lambda", "sg_lambda": 0.5,
    "sg_normalize_input": True}``."""
    name, std = parse_method(method)
    if name.startswith("bp_lambda"):
        kw: dict = {"credit": "bp_lambda", "sg_lambda": float(name[len("bp_lambda(") : -1])}
    else:
        kw = {"credit": name}
    if std:
        kw["sg_normalize_input"] = True
    return kw


def make_rnn(
    input_size: int,
    hidden_size: int,
    seed: int,
    nonlinearity: str = "linear",
    radius: float = 1.0,
    alpha: float = 0.0,
) -> RNNCell:
    """An RNN cell with W_hh = ``radius`` × a random orthogonal matrix and zero biases
    (and the leak ``alpha``: h_t = α h_{t−1} + φ(…), see :class:`bpl.RNNCell`).

    The paper's toy task uses a linear RNN. torch's default uniform init has spectral
    radius ≈ 0.58, so the cue would be gone after ~20 steps; an orthogonal W_hh keeps it
    (radius 1) or lets it fade at a known rate (radius < 1).
    """
    torch.manual_seed(seed)
    cell = RNNCell(input_size, hidden_size, nonlinearity=nonlinearity, alpha=alpha)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size))
        cell.weight_hh.copy_(radius * q)
        cell.bias_hh.zero_()
        cell.bias_ih.zero_()
    return cell


def train(learner: SequenceLearner, sample: Callable[[], Batch], batches: int) -> bool:
    """Train on ``batches`` batches drawn from ``sample()``; False if training diverged
    (a NaN/inf loss or update), True otherwise."""
    for _ in range(batches):
        try:
            out = learner.train_batch(*sample())
        except NonFiniteError:
            return False
        except ValueError as err:  # a NaN/inf caught by BP(λ)'s input checks
            if "NaN or inf" in str(err):
                return False
            raise
        if not math.isfinite(out["loss"]):
            return False
    return True


def parse_hidden_sizes(text: str, flag: str = "--sg-hidden-sizes") -> tuple[int, ...]:
    """``"64,32"`` -> ``(64, 32)``; ``""`` -> ``()`` (a linear critic).

    :raises ValueError: naming ``flag``, if ``text`` is not comma-separated integers >= 1.
    """
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        sizes = (0,)
    if any(size < 1 for size in sizes):
        raise ValueError(f"{flag} must be comma-separated integers >= 1, got {text!r}")
    return sizes


def check_positive_flags(args: object, names: tuple[str, ...]) -> None:
    """Raise ValueError naming the first command-line flag of ``names`` (attributes of
    ``args``, an argparse namespace) whose value is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")


__all__ = [
    "BASE_METHODS",
    "CRITIC_METHODS",
    "check_positive_flags",
    "make_rnn",
    "method_kwargs",
    "parse_hidden_sizes",
    "parse_method",
    "train",
]
