"""Environment ids and vectorised environments for the agents and scripts.

An id is any Gymnasium id (``CartPole-v1``, ``bpl/TMaze-v0``) or the ``module:EnvId-v0``
form, which imports ``module`` first so that it can register its environments; the
project's :func:`envs.resolve_env_id` resolves it. Unknown ids raise a ``ValueError``
naming the id and the closest registered ones.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from envs import resolve_env_id


def make_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """A ``DummyVecEnv`` of ``n_envs`` Monitor-wrapped copies of ``env_id``.

    :param env_id: a Gymnasium id or ``module:EnvId-v0``.
    :param n_envs: number of copies, >= 1.
    :param seed: seed of the first copy (copy i gets seed + i).
    :param env_kwargs: keyword arguments for ``gymnasium.make``.
    """
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be an integer >= 1, got {n_envs!r}")
    env_id = resolve_env_id(env_id)
    kwargs = dict(env_kwargs or {})

    def build() -> gym.Env:
        # A callable, not the id: SB3's make_vec_env would add render_mode="rgb_array",
        # which environments without an rgb_array mode may refuse.
        return gym.make(env_id, **kwargs)

    return make_vec_env(build, n_envs=n_envs, seed=seed)


__all__ = ["make_env", "resolve_env_id"]
