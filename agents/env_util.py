"""Environment ids and vectorised environments for the agents and scripts.

An id is any Gymnasium id (``CartPole-v1``, ``bpl/TMaze-v0``) or the ``module:EnvId-v0``
form, which imports ``module`` first so that it can register its environments. Unknown
ids raise a ``ValueError`` naming the id and the closest registered ones.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

try:  # the project's envs package registers bpl/* ids and owns the canonical resolver
    import envs as _envs  # noqa: F401

    _resolve = getattr(_envs, "resolve_env_id", None)
except ImportError:  # pragma: no cover - envs is part of the package
    _resolve = None


def _fallback_resolve(env_id: str) -> str:
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env id must be a non-empty string, got {env_id!r}")
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"cannot import module {module!r} for env id: {err}") from err
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.5)
        hint = f"; closest registered ids: {', '.join(close)}" if close else ""
        raise ValueError(f"unknown environment id {env_id!r}{hint}")
    return env_id


def resolve_env_id(env_id: str) -> str:
    """Return the registered id for ``env_id`` (importing ``module`` for ``module:Id``).

    :param env_id: a Gymnasium id or ``module:EnvId-v0``.
    :raises ValueError: the id is not registered (the message names the closest ones).
    """
    if _resolve is not None:
        try:
            return _resolve(env_id)
        except ValueError:
            raise
        except gym.error.Error as err:  # normalise to ValueError
            raise ValueError(str(err)) from err
    return _fallback_resolve(env_id)


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
