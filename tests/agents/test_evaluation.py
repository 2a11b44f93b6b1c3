"""agents.evaluation.evaluate: the success rate is the mean of what the env reports."""

from __future__ import annotations

import numpy as np

from agents import make_env
from agents.evaluation import evaluate
from envs import TMazeEnv


class AlwaysUp:
    """SB3's recurrent ``predict`` contract: forward in the corridor, up at every junction."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        at_junction = obs[:, TMazeEnv.OBS_JUNCTION] == 1.0
        return np.where(at_junction, TMazeEnv.UP, TMazeEnv.FORWARD), state


def test_fractional_success_is_averaged_not_rounded_to_a_bool():
    kwargs = {"corridor_length": 3, "trials": 40}
    summary = evaluate(AlwaysUp(), make_env("bpl/TMazeStream-v0", 2, seed=0, env_kwargs=kwargs), 4)
    # the same episodes by hand: each env's share of trials whose goal was up
    fractions = []
    for i in range(2):
        env = make_env("bpl/TMazeStream-v0", 1, seed=i, env_kwargs=kwargs)
        obs, done = env.reset(), False
        for _ in range(2):
            wins = trials = 0
            while True:
                obs, _, done, infos = env.step(AlwaysUp().predict(obs)[0])
                if "trial_success" in infos[0]:
                    trials, wins = trials + 1, wins + infos[0]["trial_success"]
                if done[0]:
                    break
            assert infos[0]["is_success"] == wins / trials
            fractions.append(wins / trials)
    assert 0.2 < summary["success_rate"] < 0.8  # a memoryless policy, not 100%
    assert summary["success_rate"] == np.mean(fractions)


def test_boolean_success_counts_zero_or_one():
    summary = evaluate(AlwaysUp(), make_env("bpl/TMaze-v0", 2, seed=0), 20)
    assert 0.0 < summary["success_rate"] < 1.0
    assert summary["success_rate"] * 20 == round(summary["success_rate"] * 20)
