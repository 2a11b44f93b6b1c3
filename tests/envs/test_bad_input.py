"""Bad input to the environments: every constructor argument and every ``step`` action
outside what the space allows raises a ``ValueError`` naming the value and what is
allowed; ``step`` before ``reset`` is a ``RuntimeError``. Nothing is silently clipped to
NaN or taken from a wrong-shaped action."""

from __future__ import annotations

import numpy as np
import pytest

from envs import (
    CartPoleNoVelEnv,
    MemoryChainEnv,
    PendulumNoVelEnv,
    RepeatPreviousEnv,
    TMazeEnv,
    TMazeStreamEnv,
)

DISCRETE_ENVS = [TMazeEnv, TMazeStreamEnv, RepeatPreviousEnv, MemoryChainEnv, CartPoleNoVelEnv]
BAD_DISCRETE_ACTIONS = [
    99,
    -1,
    1.5,
    np.float64(1.0),
    "x",
    None,
    np.array([1, 0]),
    float("nan"),
]


@pytest.mark.parametrize("cls", DISCRETE_ENVS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("action", BAD_DISCRETE_ACTIONS, ids=repr)
def test_discrete_env_refuses_an_action_outside_its_space(cls, action):
    env = cls()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in Discrete\(\d+\), got"):
        env.step(action)


@pytest.mark.parametrize(
    "action",
    [np.array([np.nan]), np.array([np.inf]), np.array([1.0, 2.0]), np.array([[1.0]]), "x", None],
    ids=repr,
)
def test_pendulum_refuses_a_non_finite_or_wrong_shaped_torque(action):
    env = PendulumNoVelEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be one finite torque, shape \(1,\)"):
        env.step(action)


def test_pendulum_nan_torque_used_to_give_nan_observations():
    """The case behind the check: a NaN torque must not become a NaN observation."""
    env = PendulumNoVelEnv()
    env.reset(seed=0)
    obs, *_ = env.step(np.array([1.0], dtype=np.float32))
    assert np.isfinite(obs).all()


@pytest.mark.parametrize("cls", [*DISCRETE_ENVS, PendulumNoVelEnv], ids=lambda c: c.__name__)
def test_step_before_reset_is_a_runtime_error(cls):
    env = cls()
    action = np.zeros(1, np.float32) if cls is PendulumNoVelEnv else 0
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(action)


@pytest.mark.parametrize(
    "cls, kwargs, words",
    [
        (PendulumNoVelEnv, {"g": -1.0}, ["g", "[0.0, inf]", "-1.0"]),
        (PendulumNoVelEnv, {"g": float("nan")}, ["g", "finite", "nan"]),
        (PendulumNoVelEnv, {"g": "x"}, ["g", "'x'"]),
        (PendulumNoVelEnv, {"g": True}, ["g", "True"]),
        (PendulumNoVelEnv, {"render_mode": "bogus"}, ["render_mode", "'bogus'", "rgb_array"]),
        (CartPoleNoVelEnv, {"sutton_barto_reward": "x"}, ["sutton_barto_reward", "bool", "'x'"]),
        (CartPoleNoVelEnv, {"sutton_barto_reward": None}, ["sutton_barto_reward", "None"]),
        (CartPoleNoVelEnv, {"render_mode": "bogus"}, ["render_mode", "'bogus'", "human"]),
        (TMazeEnv, {"render_mode": 1}, ["render_mode", "ansi"]),
        (TMazeEnv, {"corridor_length": 1e9}, ["corridor_length", "[1, 10000]"]),
        (TMazeEnv, {"corridor_length": "5"}, ["corridor_length", "'5'"]),
        (TMazeEnv, {"goal_reward": float("inf")}, ["goal_reward", "finite"]),
        (TMazeEnv, {"step_cost": 0.5}, ["step_cost", "0.0", "0.5"]),
        (TMazeEnv, {"max_steps": 0}, ["max_steps", "[11, inf)", "0"]),
        (TMazeStreamEnv, {"trials": 0}, ["trials", "[1, inf)"]),
        (TMazeStreamEnv, {"trial_max_steps": 1}, ["trial_max_steps", "1"]),
        (RepeatPreviousEnv, {"num_symbols": 1}, ["num_symbols", "[2, 1024]"]),
        (RepeatPreviousEnv, {"delay": 10, "episode_length": 5}, ["episode_length", "[11,"]),
        (MemoryChainEnv, {"num_bits": 9}, ["num_bits", "[1, 8]"]),
        (MemoryChainEnv, {"memory_length": -3}, ["memory_length", "-3"]),
    ],
)
def test_constructor_refuses_bad_arguments_naming_them(cls, kwargs, words):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
