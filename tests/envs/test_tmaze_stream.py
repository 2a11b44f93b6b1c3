"""T-maze stream: trials back to back, the optimal policy's return, trial and episode ends."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs import TMazeEnv, TMazeStreamEnv


def _play(env: TMazeStreamEnv, seed: int, policy: str) -> tuple[float, list[dict], dict]:
    """Play one episode remembering only the last cue; ``policy`` is "right", "wrong" or
    "wait" (never turn). Returns the total reward, the infos of trial-ending steps and the
    last info."""
    obs, info = env.reset(seed=seed)
    cue = int(np.argmax(obs[:2]))
    total, ended = 0.0, []
    while True:
        if obs[TMazeEnv.OBS_JUNCTION] == 1.0 and policy != "wait":
            action = TMazeEnv.UP + (cue if policy == "right" else 1 - cue)
        else:
            action = TMazeEnv.FORWARD
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated
        total += float(reward)
        if "trial_success" in info:
            ended.append(info)
            assert obs[:2].sum() == 1.0  # the next trial's cue
            cue = int(np.argmax(obs[:2]))
            assert cue == info["goal"]
        if truncated:
            return total, ended, info


@pytest.mark.parametrize("length", [3, 100])
def test_optimal_policy_gets_optimal_return(length: int) -> None:
    env = gym.make("bpl/TMazeStream-v0", corridor_length=length, trials=20).unwrapped
    total, ended, last = _play(env, seed=0, policy="right")
    assert len(ended) == 20 and all(i["trial_success"] is True for i in ended)
    assert total == pytest.approx(env.optimal_return) == pytest.approx(20.0)
    assert last["is_success"] == 1.0
    assert [i["trial"] for i in ended] == list(range(2, 22))  # the next trial's number


def test_wrong_turns_fail_every_trial() -> None:
    env = TMazeStreamEnv(corridor_length=5, trials=10)
    total, ended, last = _play(env, seed=1, policy="wrong")
    assert len(ended) == 10 and not any(i["trial_success"] for i in ended)
    assert total == pytest.approx(-10.0)
    assert last["is_success"] == 0.0


def test_a_trial_that_never_turns_ends_as_a_failure() -> None:
    env = TMazeStreamEnv(corridor_length=4, trials=4, trial_max_steps=7)
    total, ended, last = _play(env, seed=2, policy="wait")
    assert len(ended) == 20 // 7 and not any(i["trial_success"] for i in ended)
    assert last["is_success"] == 0.0
    # each trial: 4 free moves, then 3 waiting steps at -1/4
    assert total == pytest.approx(-0.25 * (3 * 2 + (20 - 14 - 4)))


def test_goals_are_redrawn_per_trial_and_seeded() -> None:
    env = TMazeStreamEnv(corridor_length=2, trials=200)
    _, ended, _ = _play(env, seed=3, policy="right")
    goals = [i["goal"] for i in ended]
    assert 0.3 < np.mean(goals) < 0.7
    _, again, _ = _play(env, seed=3, policy="right")
    assert goals == [i["goal"] for i in again]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"corridor_length": 0}, "corridor_length"),
        ({"trials": 0}, "trials"),
        ({"trial_max_steps": 3, "corridor_length": 5}, "trial_max_steps"),
        ({"max_steps": 2, "corridor_length": 5}, "max_steps"),
        ({"wrong_penalty": 2.0}, "wrong_penalty"),
        ({"step_cost": 0.1}, "step_cost"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        TMazeStreamEnv(**kwargs)


def test_step_after_the_end_raises() -> None:
    env = TMazeStreamEnv(corridor_length=1, trials=1)
    _play(env, seed=0, policy="right")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(5)


def test_render_counts_trials() -> None:
    env = TMazeStreamEnv(corridor_length=2, trials=3, render_mode="ansi")
    _play(env, seed=0, policy="right")
    assert env.render().startswith("trial 4: 3/3 right")
    rgb = TMazeStreamEnv(corridor_length=2, render_mode="rgb_array")
    rgb.reset(seed=0)
    assert rgb.render().ndim == 3
