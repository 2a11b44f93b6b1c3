"""The agents' options, declared once: type, default, one line of documentation, checks.

:class:`AgentConfig` (RecurrentA2C) and :class:`PPOConfig` (RecurrentPPO) feed the
constructor's validation, ``get_config``, the checkpoint and the command line of
``scripts/train.py`` (:mod:`agents.runs` builds its flags and ``--help`` from the
fields' ``doc``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

from bpl.checks import check_non_negative, check_positive_int, check_unit_interval
from bpl.credit import CREDIT_MODES
from bpl.trace_variants import TRACE_HELP, parse_trace

#: Recurrent cells of the policy's core.
CORES = ("rnn", "gru", "lstm")
#: Options that fix the shapes of the saved tensors: a checkpoint only loads into a model
#: that agrees on all of them.
STRUCTURAL_KEYS = (
    "credit",
    "core",
    "hidden_size",
    "sg_hidden_sizes",
    "sg_train_output_only",
    "sg_normalize_input",
    "sg_trace",
)


def option(default: Any, doc: str, **metadata: Any) -> Any:
    """A dataclass field with its one-line documentation (and e.g. ``choices``)."""
    return field(default=default, metadata={"doc": doc, **metadata})


def _number(name: str, value: Any, allowed: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def check_unit(name: str, value: Any) -> float:
    """A number in [0, 1] (bpl's check, refusing bools and strings)."""
    return check_unit_interval(name, _number(name, value, "a number in [0, 1]"))


def check_nonneg(name: str, value: Any) -> float:
    """A finite number >= 0."""
    return check_non_negative(name, _number(name, value, "a finite number >= 0"))


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    v = _number(name, value, "a finite number > 0")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (numpy integers accepted)."""
    if isinstance(value, np.integer):
        value = int(value)
    return check_positive_int(name, value, minimum)


def check_bool(name: str, value: Any) -> bool:
    """A bool (numpy bools accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def learning_rate_to_config(lr: Any) -> float | dict[str, Any]:
    """A learning rate or SB3 schedule as JSON: a float, or ``{"schedule": "linear", ...}``.

    Another callable is saved as its initial value, with a warning."""
    if isinstance(lr, LinearSchedule):
        return {
            "schedule": "linear",
            "start": float(lr.start),
            "end": float(lr.end),
            "end_fraction": float(lr.end_fraction),
        }
    if isinstance(lr, ConstantSchedule):
        return float(lr.val)
    if callable(lr):
        warnings.warn(
            f"learning_rate is a custom schedule ({lr!r}); it is saved as its initial value "
            f"{float(lr(1.0))}, use stable_baselines3's LinearSchedule to save a schedule",
            stacklevel=4,
        )
        return float(lr(1.0))
    return float(lr)


def learning_rate_from_config(lr: Any) -> Any:
    """Inverse of :func:`learning_rate_to_config`; checks a number (schedules pass through)."""
    if callable(lr):
        return lr
    if not isinstance(lr, dict):
        return check_positive("learning_rate", lr)
    if lr.get("schedule") != "linear" or set(lr) != {"schedule", "start", "end", "end_fraction"}:
        raise ValueError(
            "learning_rate as a dict must be {'schedule': 'linear', 'start', 'end', "
            f"'end_fraction'}}, got {lr!r}"
        )
    for key in ("start", "end", "end_fraction"):
        value = lr[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"learning_rate[{key!r}] must be a number >= 0, got {value!r}")
    if not lr["start"] > 0 or not 0 < lr["end_fraction"] <= 1:
        raise ValueError(
            "learning_rate needs start > 0 and end_fraction in (0, 1], got "
            f"start={lr['start']!r}, end_fraction={lr['end_fraction']!r}"
        )
    return LinearSchedule(float(lr["start"]), float(lr["end"]), float(lr["end_fraction"]))


#: ``sg_trace="auto"``: the exact trace up to this many units of the actor's state |z|
#: (its cost, B·|z|²(|z| + 1) floats and ~2·B·|z|⁴ flops a step, is then a few ms), the
#: diagonal trace above: it learned the T-maze L = 50 at H = 64 and H = 128 and L = 100 at
#: H = 64 on 3 of 3 seeds (docs/results/cheap_traces_agents.md)
AUTO_EXACT_MAX_STATE = 64


def resolve_trace(sg_trace: str, state_size: int) -> str:
    """The trace ``sg_trace`` stands for with an actor state of ``state_size`` units:
    itself, or for ``"auto"`` ``"exact"`` up to :data:`AUTO_EXACT_MAX_STATE` units and
    ``"diagonal"`` above."""
    if sg_trace != "auto":
        return sg_trace
    return "exact" if state_size <= AUTO_EXACT_MAX_STATE else "diagonal"


@dataclass
class AgentConfig:
    """RecurrentA2C's options (checked on construction; :meth:`to_dict` is JSON)."""

    credit: str = option(
        "bp_lambda",
        "how the core learns: bp_lambda (window + beta*g_hat, g_hat learned by BP(lambda)), "
        "dni (g_hat regressed on k-step targets), tbptt (window only), bptt (back to the "
        "episode start), immediate (one-step gradients, nothing through time)",
        choices=CREDIT_MODES,
    )
    learning_rate: Any = option(
        1e-3, "learning rate of the policy, or an SB3 schedule of the remaining progress"
    )
    n_steps: int = option(8, "rollout length T per environment between updates (1 = online)")
    window: int | None = option(
        None,
        "truncation window k: each step's gradient reaches back at most k steps, plus "
        "beta*g_hat at the window's end (a divisor of n_steps; None: n_steps)",
    )
    gamma: float = option(0.99, "RL discount in [0, 1]")
    gae_lambda: float = option(0.95, "GAE lambda in [0, 1]")
    ent_coef: float = option(0.01, "entropy bonus coefficient")
    vf_coef: float = option(0.5, "value loss coefficient")
    max_grad_norm: float = option(0.5, "clip the policy's gradient to this norm")
    normalize_advantage: bool = option(False, "standardise the advantages over each window")
    normalize_reward: bool = option(
        False,
        "divide rewards by a running std of the discounted return and clip to +-10 "
        "(as VecNormalize; training only, statistics saved with the agent)",
    )
    core: str = option("gru", "recurrent cell of the policy", choices=CORES)
    hidden_size: int = option(64, "units H in the core")
    sg_gamma: float = option(0.99, "gradient critic's discount in [0, 1] (not gamma)")
    sg_lambda: float = option(1.0, "gradient critic's BP(lambda) trace decay in [0, 1]")
    sg_beta: float = option(1.0, "scale >= 0 of the g_hat injected at a window's last state")
    sg_learning_rate: float = option(3e-3, "gradient critic's learning rate (Adam)")
    sg_hidden_sizes: tuple[int, ...] = option(
        (), "hidden layers of the gradient critic (empty: linear g_hat = A z + b)"
    )
    sg_train_output_only: bool = option(
        True, "with hidden layers: learn only the critic's output layer (cheap traces)"
    )
    sg_max_grad_norm: float = option(10.0, "clip the gradient critic's update to this norm")
    sg_trace: str = option(
        "auto",
        "bp_lambda: the critic's eligibility trace, 'exact' (B*|z|^2*(|z|+1) floats), a "
        "cheaper approximation 'diagonal', 'block:<n>', 'uoro[:<k>]' (docs/bp_lambda.md), "
        f"or 'auto': exact while the actor's state has <= {AUTO_EXACT_MAX_STATE} units, "
        "diagonal above",
    )
    sg_normalize: bool = option(
        True, "the critic predicts G/sigma, sigma a running RMS of the immediate gradients"
    )
    sg_normalize_input: bool = option(
        True, "the critic works in standardised coordinates of the state z"
    )
    sg_adaptive_beta: bool = option(
        False,
        "bp_lambda: inject beta*r*g_hat, r in [0, 1] the critic's measured reliability "
        "(running cosine of g_hat with its k-step bootstrapped targets; 0 until measured)",
    )
    log_sg_cosine: bool = option(
        False, "log bpl/sg_cosine, cosine of g_hat with the exact future gradient (extra sweep)"
    )
    sg_cosine_horizon: int = option(256, "steps stored per bpl/sg_cosine measurement")
    max_bptt_steps: int = option(1000, "bptt only: longest history kept for back-propagation")
    stats_window_size: int = option(100, "episodes averaged for the rollout statistics")

    def __post_init__(self) -> None:
        if self.credit not in CREDIT_MODES:
            raise ValueError(f"credit must be one of {CREDIT_MODES}, got {self.credit!r}")
        if self.core not in CORES:
            raise ValueError(f"core must be one of {CORES}, got {self.core!r}")
        if self.sg_trace != "auto":
            try:
                parse_trace(self.sg_trace)
            except ValueError:
                raise ValueError(
                    f"sg_trace must be 'auto' or one of {TRACE_HELP}, got {self.sg_trace!r}"
                ) from None
        self.learning_rate = learning_rate_from_config(self.learning_rate)
        self.n_steps = check_int("n_steps", self.n_steps)
        if self.window is not None:
            self.window = check_int("window", self.window)
            if self.n_steps % self.window:
                raise ValueError(
                    f"window must divide n_steps = {self.n_steps}, got {self.window!r}"
                )
        for name in ("gamma", "gae_lambda", "sg_gamma", "sg_lambda"):
            setattr(self, name, check_unit(name, getattr(self, name)))
        for name in ("ent_coef", "vf_coef", "sg_beta"):
            setattr(self, name, check_nonneg(name, getattr(self, name)))
        for name in ("max_grad_norm", "sg_learning_rate", "sg_max_grad_norm"):
            setattr(self, name, check_positive(name, getattr(self, name)))
        for name in (
            "normalize_advantage",
            "normalize_reward",
            "sg_train_output_only",
            "sg_normalize",
            "sg_normalize_input",
            "sg_adaptive_beta",
            "log_sg_cosine",
        ):
            setattr(self, name, check_bool(name, getattr(self, name)))
        self.hidden_size = check_int("hidden_size", self.hidden_size)
        self.sg_hidden_sizes = tuple(
            check_int("sg_hidden_sizes[i]", s) for s in self.sg_hidden_sizes
        )
        self.sg_cosine_horizon = check_int("sg_cosine_horizon", self.sg_cosine_horizon, 2)
        self.max_bptt_steps = check_int("max_bptt_steps", self.max_bptt_steps, self.n_steps)
        self.stats_window_size = check_int("stats_window_size", self.stats_window_size)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AgentConfig:
        """The config from a dict holding (at least) its options; other keys are ignored."""
        names = set(cls.names())
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (a schedule as :func:`learning_rate_to_config`)."""
        out = {name: getattr(self, name) for name in self.names()}
        out["learning_rate"] = learning_rate_to_config(self.learning_rate)
        out["sg_hidden_sizes"] = list(self.sg_hidden_sizes)
        return out


@dataclass
class PPOConfig(AgentConfig):
    """RecurrentPPO's options: RecurrentA2C's plus its passes, clipping and KL stop."""

    normalize_advantage: bool = option(True, "standardise the advantages over each window")
    n_epochs: int = option(10, "PPO: clipped-surrogate passes over each rollout (>= 1)")
    batch_size: int | None = option(
        None,
        "PPO: samples per minibatch, whole windows of each rollout (None: the whole rollout "
        "in one batch)",
    )
    clip_range: float = option(0.2, "PPO: clip range epsilon > 0 of the surrogate")
    target_kl: float | None = option(
        None, "PPO: stop a window's passes when the KL estimate exceeds 1.5x this (None: never)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.n_epochs = check_int("n_epochs", self.n_epochs)
        if self.batch_size is not None:
            self.batch_size = check_int("batch_size", self.batch_size)
        self.clip_range = check_positive("clip_range", self.clip_range)
        if self.target_kl is not None:
            self.target_kl = check_positive("target_kl", self.target_kl)


__all__ = [
    "AUTO_EXACT_MAX_STATE",
    "CORES",
    "STRUCTURAL_KEYS",
    "AgentConfig",
    "PPOConfig",
    "learning_rate_from_config",
    "learning_rate_to_config",
    "option",
    "resolve_trace",
]
