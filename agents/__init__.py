"""Recurrent RL agents whose core learns online with BP(λ), following SB3's contract.

>>> from agents import RecurrentA2C, RecurrentPPO
>>> model = RecurrentA2C("MlpRecurrentPolicy", "CartPole-v1", n_steps=8)  # doctest: +SKIP
>>> model = RecurrentPPO("MlpRecurrentPolicy", "CartPole-v1", n_epochs=10)  # doctest: +SKIP
"""

from .env_util import make_env, resolve_env_id
from .load import AGENTS, load_agent
from .policy import RecurrentActorCriticPolicy, RecurrentState
from .recurrent_a2c import (
    CREDIT_MODES,
    NonFiniteError,
    RecurrentA2C,
    gae_advantages,
    read_checkpoint,
)
from .recurrent_ppo import RecurrentPPO

__all__ = [
    "AGENTS",
    "CREDIT_MODES",
    "NonFiniteError",
    "RecurrentA2C",
    "RecurrentPPO",
    "RecurrentActorCriticPolicy",
    "RecurrentState",
    "gae_advantages",
    "load_agent",
    "make_env",
    "read_checkpoint",
    "resolve_env_id",
]
