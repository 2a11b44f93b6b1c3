"""One suite over every registered id: checkers, spaces, seeding (Gymnasium's test_envs.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import BPL_ENV_IDS

# Pendulum-v1's torque range [-2, 2] is kept on purpose; both checkers remark on it.
ALLOWED_WARNINGS = {"bpl/PendulumNoVel-v1": "symmetric and normalized"}
HAS_PYGAME = importlib.util.find_spec("pygame") is not None
MAX_STEPS = 200


def test_ids_are_registered_and_namespaced() -> None:
    assert len(BPL_ENV_IDS) == len(set(BPL_ENV_IDS))
    for env_id in BPL_ENV_IDS:
        assert env_id.startswith("bpl/")
        assert env_id in gym.registry
    for required in (
        "bpl/TMaze-v0",
        "bpl/CartPoleNoVel-v1",
        "bpl/PendulumNoVel-v1",
        "bpl/RepeatPrevious-v0",
        "bpl/MemoryChain-v0",
    ):
        assert required in BPL_ENV_IDS


@pytest.mark.parametrize("env_id", BPL_ENV_IDS)
def test_checkers_pass_without_warnings(env_id: str) -> None:
    env = gym.make(env_id)
    # The pygame renderers of CartPole and Pendulum need the classic-control extra.
    skip_render = "human" in env.metadata["render_modes"] and not HAS_PYGAME
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=skip_render)
        sb3_check_env(env, warn=True)
    allowed = ALLOWED_WARNINGS.get(env_id)
    unexpected = [str(w.message) for w in caught if not (allowed and allowed in str(w.message))]
    assert unexpected == []
    env.close()


def _rollout(env_id: str, seed: int, actions: list[Any]) -> list[tuple[Any, ...]]:
    """Reset with ``seed`` and play ``actions`` until the episode ends; check the API types."""
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    trajectory: list[tuple[Any, ...]] = [(obs, info)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float | np.floating)
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
        trajectory.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    env.close()
    return trajectory


def _actions(env_id: str) -> list[Any]:
    space = gym.make(env_id).action_space
    space.seed(123)
    return [space.sample() for _ in range(MAX_STEPS)]


@pytest.mark.parametrize("env_id", BPL_ENV_IDS)
def test_same_seed_same_trajectory(env_id: str) -> None:
    actions = _actions(env_id)
    first = _rollout(env_id, 7, actions)
    second = _rollout(env_id, 7, actions)
    assert len(first) > 1
    assert data_equivalence(first, second, exact=True)


@pytest.mark.parametrize("env_id", BPL_ENV_IDS)
def test_different_seeds_differ(env_id: str) -> None:
    # Every env draws its hidden state at reset; a binary one (the T-maze goal) can agree
    # for two seeds, so ask that some seed among eight differs from seed 0.
    actions = _actions(env_id)
    reference = _rollout(env_id, 0, actions)
    assert any(
        not data_equivalence(reference, _rollout(env_id, seed, actions)) for seed in range(1, 9)
    )


@pytest.mark.parametrize("env_id", BPL_ENV_IDS)
def test_bad_kwarg_is_rejected(env_id: str) -> None:
    with pytest.raises(TypeError):
        gym.make(env_id, no_such_argument=1)


def test_import_registers_idempotently_and_does_not_import_torch() -> None:
    # A fresh interpreter with warnings as errors: importing, reloading and registering
    # again must not warn ("Overriding environment ...") nor raise; torch stays unloaded.
    code = (
        "import importlib, sys, gymnasium as gym, envs\n"
        "importlib.reload(envs.registry); importlib.reload(envs); envs.register_envs()\n"
        "assert 'torch' not in sys.modules, 'envs imported torch'\n"
        "assert all(i in gym.registry for i in envs.BPL_ENV_IDS)\n"
        "gym.make('bpl/TMaze-v0').reset(seed=0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_reload_in_process_keeps_specs() -> None:
    before = {env_id: gym.registry[env_id] for env_id in BPL_ENV_IDS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(envs)
        envs.register_envs()
    assert {env_id: gym.registry[env_id] for env_id in BPL_ENV_IDS} == before


@pytest.mark.parametrize("env_id", BPL_ENV_IDS)
def test_sb3_make_vec_env_default_render_mode(env_id: str) -> None:
    """SB3's make_vec_env asks for render_mode="rgb_array"; every env must accept it."""
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(env_id, n_envs=2, seed=0)
    venv.reset()
    venv.step(np.array([venv.action_space.sample() for _ in range(2)]))
    if "NoVel" not in env_id or HAS_PYGAME:  # classic control draws with pygame
        frame = venv.render()
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    venv.close()
