"""Bad input to the agents: ``predict``'s observations, state and episode starts, NaN
observations and rewards while learning, ``learn`` without an environment, and options.
Each raises a typed error naming the value and what is allowed; a refused NaN leaves
every running statistic as it was (before, one NaN observation poisoned the normaliser
for good, and the agent then failed on clean input inside torch.distributions)."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env

from agents import NonFiniteError, RecurrentA2C, RecurrentPPO
from agents.policy import NonFiniteInputError

from .helpers import CueEnv, cue_venv


def _model(env=None, **kw):
    env = cue_venv(box_obs=True) if env is None else env
    return RecurrentA2C("MlpRecurrentPolicy", env, n_steps=4, hidden_size=8, seed=0, **kw)


def _stats(model):
    p = model.policy
    return [t.clone() for t in (p.obs_mean, p.obs_var, p.obs_count)]


# ---------------------------------------------------------------- predict
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_predict_refuses_non_finite_observations(value):
    model = _model()
    obs = np.zeros((2, 3), np.float32)
    obs[1, 0] = value
    with pytest.raises(NonFiniteInputError, match=r"non-finite observation.*rows \[1\]"):
        model.predict(obs, episode_start=np.ones(2, bool))


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_predict_refuses_a_non_finite_recurrent_state(value):
    model = _model()
    state = np.zeros((2, 8), np.float32)
    state[0, 3] = value
    with pytest.raises(ValueError, match=r"non-finite recurrent state.*rows \[0\]"):
        model.predict(np.zeros((2, 3), np.float32), state=state)


@pytest.mark.parametrize(
    "state, words",
    [
        (np.zeros((2, 5)), ["state must have shape (2, 8)", "(2, 5)"]),
        (np.zeros((3, 8)), ["state must have shape (2, 8)", "(3, 8)"]),
        (np.full((2, 8), "x"), ["state must be a float array", "<U1"]),
        (np.zeros((2, 8), dtype=object), ["state must be a float array", "object"]),
    ],
    ids=["short-state", "more-rows", "strings", "objects"],
)
def test_predict_refuses_a_malformed_state(state, words):
    model = _model()
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((2, 3), np.float32), state=state)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "start, words",
    [
        (np.ones(3, bool), ["one entry per observation (2)", "(3,)"]),
        (np.ones(1, bool), ["one entry per observation (2)", "(1,)"]),
        (np.ones((2, 2), bool), ["one entry per observation (2)", "(2, 2)"]),
        (np.array([0.5, 1.0]), ["bools (or 0/1)", "0.5"]),
        (np.array([np.nan, 0.0]), ["bools (or 0/1)", "nan"]),
        (np.array([2, 0]), ["bools (or 0/1)", "2"]),
        (np.array(["yes", "no"]), ["bools (or 0/1)", "yes"]),
    ],
    ids=["too-long", "too-short", "2d", "half", "nan", "two", "strings"],
)
def test_predict_refuses_bad_episode_starts(start, words):
    model = _model()
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((2, 3), np.float32), episode_start=start)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_predict_refuses_an_observation_of_the_wrong_shape():
    model = _model()
    with pytest.raises(ValueError, match="observation"):
        model.predict(np.zeros((2, 7), np.float32))


# ---------------------------------------------------------------- learning
class NaNObsEnv(CueEnv):
    """CueEnv (Box observations) whose observation at step ``at`` is NaN."""

    def __init__(self, at: int = 2, value: float = np.nan):
        super().__init__(length=4, box_obs=True)
        self.at, self.value, self.steps = at, value, 0

    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        self.steps += 1
        if self.steps == self.at:
            obs = np.full(3, self.value, np.float32)
        return obs, r, term, trunc, info


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("normalize_obs", [True, False], ids=["normalized", "raw"])
def test_a_nan_observation_is_refused_before_it_touches_any_statistic(value, normalize_obs):
    env = make_vec_env(lambda: NaNObsEnv(at=6, value=value), n_envs=2, seed=0)
    model = _model(env, policy_kwargs={"normalize_obs": normalize_obs})
    with pytest.raises(NonFiniteError, match="non-finite observation") as info:
        model.learn(64)
    assert isinstance(info.value, ValueError)  # NonFiniteInputError: both kinds
    stats = _stats(model)
    assert all(torch.isfinite(t).all() for t in stats)
    params = [p.detach().clone() for p in model.policy.parameters()]
    assert all(torch.isfinite(p).all() for p in params)
    # the agent still works on clean input, and its checkpoint round-trips
    action, _ = model.predict(np.zeros((2, 3), np.float32))
    assert action.shape == (2,)
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = RecurrentA2C.load(buf)
    for a, b in zip(stats, _stats(loaded), strict=True):
        torch.testing.assert_close(a, b)


class NaNRewardEnv(CueEnv):
    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        return obs, float("nan") if term else r, term, trunc, info


@pytest.mark.parametrize("normalize_reward", [True, False], ids=["normalized", "raw"])
def test_a_nan_reward_is_refused_before_the_reward_statistics(normalize_reward):
    env = make_vec_env(lambda: NaNRewardEnv(length=3), n_envs=2, seed=0)
    model = _model(env, normalize_reward=normalize_reward)
    before = (float(model.reward_rms.mean), float(model.reward_rms.var))
    with pytest.raises(NonFiniteError, match="non-finite reward"):
        model.learn(64)
    after = (float(model.reward_rms.mean), float(model.reward_rms.var))
    assert np.isfinite(after).all()
    if not normalize_reward:
        assert after == before


@pytest.mark.parametrize("cls", [RecurrentA2C, RecurrentPPO], ids=lambda c: c.__name__)
def test_learn_without_an_environment_says_so(cls, tmp_path):
    model = cls("MlpRecurrentPolicy", cue_venv(), n_steps=4, hidden_size=8)
    model.save(tmp_path / "m.zip")
    loaded = cls.load(tmp_path / "m.zip")  # no env given
    for m in (
        loaded,
        cls("MlpRecurrentPolicy", None, n_steps=4, hidden_size=8, _init_setup_model=False),
    ):
        with pytest.raises(ValueError, match="no environment to learn from.*set_env"):
            m.learn(16)


@pytest.mark.parametrize("steps", [-1, 1.5, "10", None, True], ids=repr)
def test_learn_refuses_bad_total_timesteps(steps):
    with pytest.raises(ValueError, match="total_timesteps"):
        _model().learn(steps)


# ---------------------------------------------------------------- options, spaces
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"credit": "magic"}, ["credit", "'magic'"]),
        ({"n_steps": 0}, ["n_steps", ">= 1"]),
        ({"gamma": float("nan")}, ["gamma", "[0, 1]"]),
        ({"learning_rate": 0.0}, ["learning_rate", "> 0"]),
        ({"learning_rate": float("inf")}, ["learning_rate", "finite"]),
        ({"ent_coef": -1.0}, ["ent_coef", ">= 0"]),
        ({"max_grad_norm": "x"}, ["max_grad_norm", "'x'"]),
        ({"sg_beta": True}, ["sg_beta", "True"]),
        ({"hidden_size": 0}, ["hidden_size", ">= 1"]),
        ({"sg_hidden_sizes": (0,)}, ["sg_hidden_sizes", ">= 1"]),
        ({"normalize_reward": "yes"}, ["normalize_reward", "bool"]),
        ({"core": "transformer"}, ["core", "'transformer'"]),
        ({"policy_kwargs": {"hidden_size": 4}}, ["hidden_size", "not in policy_kwargs"]),
        ({"policy_kwargs": {"encoder_size": -1}}, ["encoder_size", ">= 0"]),
        ({"policy_kwargs": {"chrono_max": 1}}, ["chrono_max", ">= 2"]),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_bad_options_are_refused_before_anything_is_built(kwargs, words):
    with pytest.raises(ValueError) as info:
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


class _DictEnv(gym.Env):
    observation_space = spaces.Dict({"a": spaces.Discrete(2)})
    action_space = spaces.Discrete(2)


class _UnboundedEnv(gym.Env):
    observation_space = spaces.Discrete(2)
    action_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)


@pytest.mark.parametrize(
    "env, words",
    [
        (_DictEnv(), ["observation space", "not supported", "Box"]),
        (_UnboundedEnv(), ["Box action space must have finite bounds"]),
    ],
    ids=["dict-obs", "unbounded-actions"],
)
def test_unsupported_spaces(env, words):
    with pytest.raises(ValueError) as info:
        RecurrentA2C("MlpRecurrentPolicy", env)
    for word in words:
        assert word in str(info.value)


def test_unknown_policy_name():
    with pytest.raises(ValueError, match="unknown policy 'CnnPolicy'.*MlpRecurrentPolicy"):
        RecurrentA2C("CnnPolicy", cue_venv())
