"""T-maze: the optimal policy gets the documented optimum; rules, ends and arguments."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs import TMazeEnv

CORRIDOR = np.array([0, 0, 1, 0], dtype=np.float32)
JUNCTION = np.array([0, 0, 0, 1], dtype=np.float32)


def _seeds_for_both_goals(env: TMazeEnv) -> dict[int, int]:
    """A seed for goal 0 (up) and one for goal 1 (down)."""
    found: dict[int, int] = {}
    for seed in range(100):
        env.reset(seed=seed)
        found.setdefault(env.goal, seed)
        if len(found) == 2:
            return found
    raise AssertionError("both goals should appear within 100 seeds")


def _play(env: TMazeEnv, seed: int, correct: bool) -> tuple[float, int, bool, dict]:
    """Walk forward to the junction remembering only the first observation, then turn."""
    obs, info = env.reset(seed=seed)
    assert obs[:2].sum() == 1.0 and obs[2:].sum() == 0.0
    cued = int(np.argmax(obs[:2]))  # 0: up, 1: down; the one bit the policy keeps
    assert cued == info["goal"] == env.goal
    total, steps = 0.0, 0
    while True:
        if obs[TMazeEnv.OBS_JUNCTION] == 1.0:
            action = TMazeEnv.UP + (cued if correct else 1 - cued)
        else:
            action = TMazeEnv.FORWARD
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        steps += 1
        if terminated or truncated:
            return total, steps, terminated, info


@pytest.mark.parametrize("length", [5, 50, 1000])
def test_optimal_policy_gets_optimal_return(length: int) -> None:
    env = gym.make("bpl/TMaze-v0", corridor_length=length).unwrapped
    assert env.optimal_return == pytest.approx(env.goal_reward)
    assert env.optimal_return == pytest.approx(1.0)  # forward moves are free, +1 at the goal
    assert env.step_cost == pytest.approx(-1.0 / length)
    for goal, seed in _seeds_for_both_goals(env).items():
        total, steps, terminated, info = _play(env, seed, correct=True)
        assert env.goal == goal
        assert terminated and steps == length + 1
        assert total == pytest.approx(env.optimal_return, abs=1e-9)
        assert info["is_success"] is True


@pytest.mark.parametrize("length", [5, 50])
def test_wrong_turn_gets_penalty_and_no_success(length: int) -> None:
    env = TMazeEnv(corridor_length=length, goal_reward=2.0, wrong_penalty=-3.0, step_cost=-0.1)
    assert env.optimal_return == pytest.approx(2.0)
    for seed in _seeds_for_both_goals(env).values():
        total, steps, terminated, info = _play(env, seed, correct=False)
        assert terminated and steps == length + 1
        assert total == pytest.approx(-3.0)
        assert info["is_success"] is False


def test_observations_hide_the_cue_after_the_first_step() -> None:
    env = TMazeEnv(corridor_length=4, max_steps=20)
    env.reset(seed=0)
    # Staying at the start (a turn action in the corridor) does not show the cue again.
    obs, reward, terminated, truncated, info = env.step(TMazeEnv.DOWN)
    np.testing.assert_array_equal(obs, CORRIDOR)
    assert info["position"] == 0 and reward == env.step_cost
    assert not terminated and not truncated and "is_success" not in info
    for position in range(1, 4):
        obs, reward, *_, info = env.step(TMazeEnv.FORWARD)
        np.testing.assert_array_equal(obs, CORRIDOR)
        assert info["position"] == position and reward == 0.0  # moving forward is free
    obs, *_ = env.step(TMazeEnv.FORWARD)
    np.testing.assert_array_equal(obs, JUNCTION)
    # Forward at the junction waits there, at the usual cost.
    obs, reward, terminated, _, info = env.step(TMazeEnv.FORWARD)
    np.testing.assert_array_equal(obs, JUNCTION)
    assert info["position"] == 4 and reward == env.step_cost and not terminated


def test_wandering_is_truncated_without_success() -> None:
    env = TMazeEnv(corridor_length=3)
    assert env.max_steps == 2 * (3 + 1)
    env.reset(seed=0)
    total = 0.0
    for step in range(1, env.max_steps + 1):
        _, reward, terminated, truncated, info = env.step(TMazeEnv.UP)  # stays at the start
        total += float(reward)
        assert not terminated
        assert truncated == (step == env.max_steps)
    assert info["is_success"] is False
    assert total == pytest.approx(env.max_steps * env.step_cost)
    with pytest.raises(RuntimeError):
        env.step(TMazeEnv.FORWARD)


def test_choice_on_last_allowed_step_terminates() -> None:
    env = TMazeEnv(corridor_length=1, max_steps=2, step_cost=0.0, wrong_penalty=0.0)
    env.reset(seed=0)
    env.step(TMazeEnv.FORWARD)
    _, reward, terminated, truncated, info = env.step(TMazeEnv.UP + env.goal)
    assert (reward, terminated, truncated, info["is_success"]) == (1.0, True, False, True)


def test_make_passes_kwargs_and_presets_set_lengths() -> None:
    assert gym.make("bpl/TMaze-v0", corridor_length=50).unwrapped.corridor_length == 50
    assert gym.make("bpl/TMaze-v0").unwrapped.corridor_length == 10
    for env_id, length in [
        ("bpl/TMazeEasy-v0", 10),
        ("bpl/TMazeMedium-v0", 100),
        ("bpl/TMazeHard-v0", 1000),
    ]:
        assert gym.make(env_id).unwrapped.corridor_length == length


def test_render_ansi_shows_agent_and_goal() -> None:
    env = TMazeEnv(corridor_length=3, render_mode="ansi")
    env.reset(seed=0)
    env.step(TMazeEnv.FORWARD)
    up, corridor, down = env.render().splitlines()
    assert corridor == ".A.."
    assert (up.strip(), down.strip()) == (("G", "x") if env.goal == 0 else ("x", "G"))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"corridor_length": 0}, ["corridor_length", "[1, 10000]", "0"]),
        ({"corridor_length": 10001}, ["corridor_length", "10001"]),
        ({"corridor_length": 2.5}, ["corridor_length", "2.5"]),
        ({"corridor_length": True}, ["corridor_length", "True"]),
        ({"wrong_penalty": 1.0}, ["wrong_penalty", "< goal_reward", "1.0"]),
        ({"goal_reward": float("nan")}, ["goal_reward", "nan"]),
        ({"step_cost": 0.1}, ["step_cost", "0.1"]),
        ({"corridor_length": 5, "max_steps": 5}, ["max_steps", "[6, inf)", "5"]),
        ({"render_mode": "human"}, ["render_mode", "human"]),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as excinfo:
        TMazeEnv(**kwargs)
    for word in words:
        assert word in str(excinfo.value)


def test_invalid_action_and_step_before_reset() -> None:
    env = TMazeEnv()
    with pytest.raises(RuntimeError):
        env.step(TMazeEnv.FORWARD)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(3)


def test_memoryless_policy_expects_zero() -> None:
    """Walking forward and always turning up wins half the episodes: mean return 0."""
    env = TMazeEnv(corridor_length=8)
    returns = []
    for seed in range(200):
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = TMazeEnv.UP if env.position == env.corridor_length else TMazeEnv.FORWARD
            _, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    assert set(returns) == {1.0, -1.0}
    assert abs(np.mean(returns)) < 0.15
