"""CartPoleNoVel and PendulumNoVel: the original envs, observed without velocities."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit


@pytest.mark.parametrize(
    ("env_id", "original_id", "kept", "limit"),
    [
        ("bpl/CartPoleNoVel-v1", "CartPole-v1", [0, 2], 500),
        ("bpl/PendulumNoVel-v1", "Pendulum-v1", [0, 1], 200),
    ],
)
def test_matches_original_without_velocities(
    env_id: str, original_id: str, kept: list[int], limit: int
) -> None:
    env, original = gym.make(env_id), gym.make(original_id)
    assert isinstance(env, TimeLimit) and env.spec.max_episode_steps == limit
    assert env.observation_space.shape == (2,)
    np.testing.assert_array_equal(env.observation_space.low, original.observation_space.low[kept])
    original.action_space.seed(0)
    obs, _ = env.reset(seed=3)
    full, _ = original.reset(seed=3)
    np.testing.assert_array_equal(obs, full[kept])
    for _ in range(30):
        action = original.action_space.sample()
        obs, reward, terminated, truncated, _ = env.step(action)
        full, full_reward, full_terminated, full_truncated, _ = original.step(action)
        np.testing.assert_array_equal(obs, full[kept])
        assert (reward, terminated, truncated) == (full_reward, full_terminated, full_truncated)
        if terminated:
            break


def _cartpole_controller(state: np.ndarray) -> int:
    """Push towards where the pole falls; reads the hidden velocities, so it balances."""
    x, x_dot, theta, theta_dot = state
    return int(theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0)


def test_cartpole_obs_are_positions_and_time_limit_truncates_at_500() -> None:
    env = gym.make("bpl/CartPoleNoVel-v1")
    obs, _ = env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        state = env.unwrapped.state
        np.testing.assert_array_equal(obs, state[[0, 2]].astype(np.float32))
        obs, reward, terminated, truncated, _ = env.step(_cartpole_controller(state))
        total += float(reward)
        steps += 1
        if terminated or truncated:
            break
    assert (steps, total, terminated, truncated) == (500, 500.0, False, True)


def test_cartpole_terminates_when_pushed_one_way() -> None:
    env = gym.make("bpl/CartPoleNoVel-v1")
    obs, _ = env.reset(seed=0)
    terminated = truncated = False
    steps = 0
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(1)
        steps += 1
    assert terminated and not truncated and steps < 30
    assert abs(obs[1]) > env.unwrapped.theta_threshold_radians  # the pole fell


def test_pendulum_obs_are_angle_and_time_limit_truncates_at_200() -> None:
    env = gym.make("bpl/PendulumNoVel-v1")
    obs, _ = env.reset(seed=0)
    truncated = False
    steps = 0
    while not truncated:
        theta = env.unwrapped.state[0]
        np.testing.assert_allclose(obs, [np.cos(theta), np.sin(theta)], rtol=1e-6, atol=1e-7)
        obs, reward, terminated, truncated, _ = env.step(np.array([1.0], dtype=np.float32))
        assert -16.3 < reward <= 0.0 and not terminated
        steps += 1
    assert steps == 200
