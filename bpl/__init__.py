"""bpl — online recurrent learning with BP(λ) (Pemberton & Costa, TMLR 2024).

The gradient critic :class:`SyntheticGradient` predicts the future loss gradient at the
recurrent state; :class:`BPLambda` learns it online by accumulate TD(λ) with
eligibility traces carried forward by the recurrent Jacobians; :class:`CreditEngine`
applies one credit-assignment mode of :data:`CREDIT_MODES` to a window of recurrent
states. Equations and notation: ``docs/bp_lambda.md``.

Experiments built on it (the sequence learner, the paper's tasks) live in
:mod:`bpl.experiments`; :class:`SequenceLearner` is re-exported here.
"""

from .alignment import (
    AlignmentProbe,
    ProbeResult,
    Reliability,
    alignment,
    cosine_similarity,
    exact_state_gradients,
)
from .bp_lambda import BPLambda, td_error
from .cells import CELLS, GRUCell, LSTMCell, RecurrentCell, RNNCell, make_cell, one_step_gradients
from .credit import CREDIT_MODES, CreditEngine, NonFiniteError, WindowCredit
from .experiments import SequenceLearner
from .normalization import StateNormalizer
from .synthetic_gradient import SyntheticGradient
from .targets import bootstrapped_targets, future_gradients, lambda_targets, vjp_jacobian
from .trace_variants import TRACE_HELP, BlockTrace, UOROTrace, parse_trace

__all__ = [
    "AlignmentProbe",
    "ProbeResult",
    "Reliability",
    "BPLambda",
    "BlockTrace",
    "CELLS",
    "CREDIT_MODES",
    "CreditEngine",
    "GRUCell",
    "LSTMCell",
    "NonFiniteError",
    "RNNCell",
    "RecurrentCell",
    "SequenceLearner",
    "StateNormalizer",
    "SyntheticGradient",
    "TRACE_HELP",
    "UOROTrace",
    "WindowCredit",
    "alignment",
    "bootstrapped_targets",
    "cosine_similarity",
    "exact_state_gradients",
    "future_gradients",
    "lambda_targets",
    "make_cell",
    "one_step_gradients",
    "parse_trace",
    "td_error",
    "vjp_jacobian",
]

__version__ = "0.1.0"
