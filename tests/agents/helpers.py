"""Tiny environments for the agent tests (defined here so that they need no envs/)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv


class CueEnv(gym.Env):
    """Show a cue (0 or 1) at the first step, then blanks; reward 1 for repeating the cue
    at the last step. Fixed length ``length``; a memoryless policy gets 0.5 on average.

    Observation: ``Discrete(3)`` (0/1 cue, 2 blank) or a one-hot ``Box`` if ``box_obs``.
    Action: ``Discrete(2)``, ``MultiDiscrete([2, 3])`` (first component counts) or a
    ``Box(-1, 1, (1,))`` (sign counts).
    """

    def __init__(self, length: int = 4, box_obs: bool = False, action: str = "discrete"):
        self.length = length
        self.box_obs = box_obs
        self.observation_space = (
            spaces.Box(0.0, 1.0, (3,), np.float32) if box_obs else spaces.Discrete(3)
        )
        self.action_space = {
            "discrete": spaces.Discrete(2),
            "multidiscrete": spaces.MultiDiscrete([2, 3]),
            "box": spaces.Box(-1.0, 1.0, (1,), np.float32),
        }[action]

    def _obs(self, k: int):
        if not self.box_obs:
            return k
        o = np.zeros(3, np.float32)
        o[k] = 1.0
        return o

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue = int(self.np_random.integers(2))
        self.t = 0
        return self._obs(self.cue), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        reward = 0.0
        info = {}
        if done:
            a = np.asarray(action).reshape(-1)
            choice = int(a[0] > 0) if isinstance(self.action_space, spaces.Box) else int(a[0])
            reward = float(choice == self.cue)
            info["is_success"] = bool(choice == self.cue)
        return self._obs(2), reward, done, False, info


class NaNEnv(CueEnv):
    """Like CueEnv but the reward is NaN after a few steps."""

    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        return obs, float("nan"), term, trunc, info


def cue_venv(n_envs: int = 2, seed: int = 0, **kw) -> DummyVecEnv:
    """``n_envs`` CueEnvs (keyword arguments go to CueEnv) in a DummyVecEnv."""
    return make_vec_env(lambda: CueEnv(**kw), n_envs=n_envs, seed=seed)


def rollout_actions(model, n_envs: int = 2, steps: int = 12) -> np.ndarray:
    """Deterministic actions over a fixed observation sequence, carrying the state."""
    env = cue_venv(n_envs, seed=123)
    obs = env.reset()
    state, start, out = None, np.ones(n_envs, bool), []
    for _ in range(steps):
        action, state = model.predict(obs, state, start, deterministic=True)
        out.append(action)
        obs, _, start, _ = env.step(action)
    return np.stack(out)
