"""Learning tests a memoryless agent cannot pass (slow; run with ``pytest -m slow``).

T-maze with corridor L = 20: the cue is seen only at the first step, so a memoryless
policy turns correctly half of the time. Measured (seed 0, 150k steps, ~60 s on
the project's 2-core machine): BP(λ) passes; TBPTT(8) with the same seed stayed at 50%.
Outcomes are seed-sensitive; see docs/agents.md.
"""

from __future__ import annotations

import pytest
import torch

import envs  # noqa: F401  (registers bpl/*)
from agents import RecurrentA2C, make_env
from agents.evaluation import evaluate

pytestmark = pytest.mark.slow


def test_bp_lambda_agent_solves_tmaze_l20():
    torch.set_num_threads(1)
    env = make_env("bpl/TMaze-v0", n_envs=8, seed=0, env_kwargs={"corridor_length": 20})
    model = RecurrentA2C("MlpRecurrentPolicy", env, credit="bp_lambda", n_steps=8, seed=0)
    model.learn(150_000)
    eval_env = make_env("bpl/TMaze-v0", n_envs=8, seed=99, env_kwargs={"corridor_length": 20})
    summary = evaluate(model, eval_env, n_episodes=100)
    assert summary["success_rate"] >= 0.9, summary  # memoryless: 0.5 at best
