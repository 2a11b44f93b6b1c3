"""Learning tests a memoryless agent cannot pass (slow; run with ``pytest -m slow``).

T-maze: the cue is seen only at the first step, so a memoryless policy turns correctly
half of the time (50% at best). Measured on the project's 2-core machine with the
defaults (docs/agents.md, T-maze section):

* L = 50, default time limit 102, window 8, 100k steps, seed 0: BP(λ) 100% correct
  turns. Over seeds 0–4 at time limit 204 and 150k steps, BP(λ)
  ended at 100% in all five and TBPTT(8) at 41%, 42%, 100%, 43%, 43%.
* the episode-BPTT reference, L = 50, time limit 204, 150k steps, seed 0: 100%
  (seeds 1, 2: 100%).
* L = 100, time limit 404, chrono gates up to 200 steps, entropy bonus 0.003 and a
  linear learning-rate decay over 300k steps, seed 0: BP(λ) 100% (seeds 1, 2: 100%),
  TBPTT(8) 41%, 42%, 44% (about 4 min).

CartPoleNoVel: RecurrentPPO with BP(λ), the flags in its test, 100k steps (about 6 min).
"""

from __future__ import annotations

import pytest
import torch
from stable_baselines3.common.utils import LinearSchedule

import envs  # noqa: F401  (registers bpl/*)
from agents import RecurrentA2C, RecurrentPPO, make_env
from agents.evaluation import evaluate

pytestmark = pytest.mark.slow


def _success(credit: str, steps: int, env_kwargs: dict, **kwargs) -> dict:
    torch.set_num_threads(1)
    env = make_env("bpl/TMaze-v0", n_envs=8, seed=0, env_kwargs=env_kwargs)
    model = RecurrentA2C("MlpRecurrentPolicy", env, credit=credit, n_steps=8, seed=0, **kwargs)
    model.learn(steps)
    eval_env = make_env("bpl/TMaze-v0", n_envs=8, seed=99, env_kwargs=env_kwargs)
    return evaluate(model, eval_env, n_episodes=100)


def test_bp_lambda_agent_solves_tmaze_l50():
    summary = _success("bp_lambda", 100_000, {"corridor_length": 50})
    assert summary["success_rate"] >= 0.95, summary  # memoryless: 0.5 at best


def test_bptt_reference_solves_tmaze_l50():
    summary = _success("bptt", 150_000, {"corridor_length": 50, "max_steps": 204})
    assert summary["success_rate"] >= 0.95, summary


def test_bp_lambda_agent_solves_tmaze_l100_with_its_flags():
    """train.py --chrono-max 200 --ent-coef 0.003 --learning-rate-schedule linear, 300k steps."""
    summary = _success(
        "bp_lambda",
        300_000,
        {"corridor_length": 100, "max_steps": 404},
        ent_coef=0.003,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        policy_kwargs={"chrono_max": 200},
    )
    assert summary["success_rate"] >= 0.95, summary


def test_bp_lambda_ppo_agent_balances_cartpole_without_velocities():
    """train.py --algo ppo --n-steps 32 --n-epochs 20 --learning-rate 1e-3
    --learning-rate-schedule linear --gamma 0.999 --gae-lambda 0.98 --ent-coef 0
    --normalize-reward, 8 envs, 100k steps: mean return >= 475
    (CartPole's maximum is 500; a memoryless policy cannot see the velocities)."""
    torch.set_num_threads(1)
    env = make_env("bpl/CartPoleNoVel-v1", n_envs=8, seed=0)
    model = RecurrentPPO(
        "MlpRecurrentPolicy",
        env,
        credit="bp_lambda",
        n_steps=32,
        n_epochs=20,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        gamma=0.999,
        gae_lambda=0.98,
        ent_coef=0.0,
        normalize_reward=True,
        seed=0,
    )
    model.learn(100_000)
    eval_env = make_env("bpl/CartPoleNoVel-v1", n_envs=8, seed=10_000)
    summary = evaluate(model, eval_env, n_episodes=20)
    assert summary["mean_return"] >= 475, summary
