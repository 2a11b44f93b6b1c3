"""Experiments built on the algorithm in :mod:`bpl`: the sequence learner, the paper's
tasks, the frozen-RNN critic fit, and what the experiment scripts share.

* :class:`SequenceLearner` — a recurrent cell + readout trained on batches of sequences
  with any credit-assignment mode of :data:`bpl.CREDIT_MODES`;
* tasks — :class:`DelayedTarget`, :class:`CopyRepeat` (+ :class:`CopyRepeatCurriculum`),
  :class:`SequentialDigits`, generated in memory;
* frozen — :func:`delayed_loss_problem`, :func:`rollout_frozen`, :func:`fit_critic`:
  the gradient critic of a fixed RNN, whose exact future gradient is known;
* harness — named methods (:func:`parse_method`, :func:`method_kwargs`),
  :func:`make_rnn`, the training loop :func:`train` and the scripts' flag checks.
"""

from .frozen import FrozenRollout, delayed_loss_problem, fit_critic, rollout_frozen
from .harness import (
    BASE_METHODS,
    CRITIC_METHODS,
    check_positive_flags,
    make_rnn,
    method_kwargs,
    parse_hidden_sizes,
    parse_method,
    train,
)
from .losses import LOSSES, bce_loss, ce_loss, mse_loss
from .sequence import SequenceLearner
from .tasks import (
    TASK_LOSSES,
    Batch,
    CopyRepeat,
    CopyRepeatCurriculum,
    DelayedTarget,
    SequentialDigits,
)

__all__ = [
    "BASE_METHODS",
    "CRITIC_METHODS",
    "LOSSES",
    "TASK_LOSSES",
    "Batch",
    "CopyRepeat",
    "CopyRepeatCurriculum",
    "DelayedTarget",
    "FrozenRollout",
    "SequenceLearner",
    "SequentialDigits",
    "bce_loss",
    "ce_loss",
    "check_positive_flags",
    "delayed_loss_problem",
    "fit_critic",
    "make_rnn",
    "method_kwargs",
    "mse_loss",
    "parse_hidden_sizes",
    "parse_method",
    "rollout_frozen",
    "train",
]
