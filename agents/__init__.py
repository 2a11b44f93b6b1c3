"""Recurrent RL agents whose core learns online with BP(λ), following SB3's contract.

>>> from agents import RecurrentA2C
>>> model = RecurrentA2C("MlpRecurrentPolicy", "CartPole-v1", n_steps=8)  # doctest: +SKIP
"""

from .env_util import make_env, resolve_env_id
from .policy import RecurrentActorCriticPolicy, RecurrentState
from .recurrent_a2c import (
    CREDIT_MODES,
    NonFiniteError,
    RecurrentA2C,
    gae_advantages,
    read_checkpoint,
)

__all__ = [
    "CREDIT_MODES",
    "NonFiniteError",
    "RecurrentA2C",
    "RecurrentActorCriticPolicy",
    "RecurrentState",
    "gae_advantages",
    "make_env",
    "read_checkpoint",
    "resolve_env_id",
]
