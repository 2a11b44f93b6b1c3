"""Recurrent RL agents whose core learns online with BP(λ), following SB3's contract.

>>> from agents import RecurrentA2C, RecurrentPPO
>>> model = RecurrentA2C("MlpRecurrentPolicy", "CartPole-v1", n_steps=8)  # doctest: +SKIP
>>> model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", n_epochs=10)  # doctest: +SKIP

Modules: :mod:`agents.config` (the options), :mod:`agents.on_policy` (the recurrent
on-policy base), :mod:`agents.recurrent_a2c`, :mod:`agents.recurrent_ppo`,
:mod:`agents.update` (passes, windows, the credit engine's use), :mod:`agents.policy`,
:mod:`agents.checkpoint` (the file format; its schema in :mod:`agents.checkpoint_schema`),
:mod:`agents.runs` (what ``scripts/train.py`` does; its flags in :mod:`agents.run_args`,
its guards in :mod:`agents.run_guards`); ``bpl/sg_cosine`` comes from
:class:`bpl.AlignmentProbe`.
"""

from bpl.credit import CREDIT_MODES, NonFiniteError

from .checkpoint import AGENTS, load_agent, read_checkpoint
from .config import AgentConfig, PPOConfig
from .env_util import make_env, resolve_env_id
from .policy import MlpGruPolicy, MlpLstmPolicy, RecurrentActorCriticPolicy, RecurrentState
from .recurrent_a2c import RecurrentA2C
from .recurrent_ppo import RecurrentPPO
from .window import gae_advantages

__all__ = [
    "AGENTS",
    "CREDIT_MODES",
    "AgentConfig",
    "MlpGruPolicy",
    "MlpLstmPolicy",
    "NonFiniteError",
    "PPOConfig",
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
