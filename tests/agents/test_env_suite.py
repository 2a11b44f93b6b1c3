"""The agent on every registered bpl/* environment, and evaluation of scripted policies."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers bpl/*)
from agents import RecurrentA2C, make_env
from agents.evaluation import evaluate

BPL_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("bpl/"))


def test_there_are_registered_envs():
    assert "bpl/TMaze-v0" in BPL_IDS and "bpl/CartPoleNoVel-v1" in BPL_IDS


@pytest.mark.parametrize("env_id", BPL_IDS)
def test_learn_and_predict_on_every_registered_env(env_id):
    env = make_env(env_id, n_envs=2, seed=0)
    model = RecurrentA2C("MlpRecurrentPolicy", env, hidden_size=8, n_steps=4, seed=0)
    model.learn(32)
    assert model.num_timesteps == 32
    obs = env.reset()
    action, state = model.predict(obs, None, np.ones(2, dtype=bool))
    assert all(env.action_space.contains(a) for a in action)
    assert state.shape == (2, model.policy.state_size)
    env.step(action)


class ScriptedTMaze:
    """Optimal T-maze policy with SB3's predict signature: remember the cue in the state,
    walk forward, turn to the cued arm at the junction (observation index 3)."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        obs = np.asarray(obs)
        n = obs.shape[0]
        cue = np.zeros(n, dtype=np.int64) if state is None else np.asarray(state).copy()
        cue_seen = obs[:, 0] + obs[:, 1] > 0
        cue[cue_seen] = np.argmax(obs[cue_seen, :2], axis=1)
        at_junction = obs[:, 3] > 0
        action = np.where(at_junction, 1 + cue, 0)
        return action, cue


class Memoryless:
    """Walk forward and always turn up: right half of the time."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        obs = np.asarray(obs)
        return np.where(obs[:, 3] > 0, 1, 0), state


@pytest.mark.parametrize("length", [5, 50])
def test_scripted_policies_get_their_known_returns(length):
    env = make_env("bpl/TMaze-v0", n_envs=4, seed=1, env_kwargs={"corridor_length": length})
    best = evaluate(ScriptedTMaze(), env, n_episodes=40)
    optimal = gym.make("bpl/TMaze-v0", corridor_length=length).unwrapped.optimal_return
    assert best["success_rate"] == 1.0
    assert best["mean_return"] == pytest.approx(optimal, abs=1e-5)
    assert best["mean_length"] == length + 1
    guess = evaluate(Memoryless(), env, n_episodes=200)
    assert 0.35 < guess["success_rate"] < 0.65
