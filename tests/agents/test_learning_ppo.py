"""RecurrentPPO's documented results at one seed each (slow; run with ``pytest -m slow``).

Each test trains through ``scripts/train.py``'s code path (:func:`agents.runs.train`,
the env's ``agents/hyperparams/ppo.yml`` entry applied) with the command of a results
page, and reads the run's ``eval.json`` (deterministic evaluation, 50 episodes):

* RepeatPreviousEasy, its ppo.yml entry, 150k steps (docs/results/repeat_previous_easy.md):
  BP(λ) 0.406 on seed 0; sb3-contrib's RecurrentPPO 0.408 ± 0.032 in the same run, so
  par is ≥ 0.376 (about 7 min);
* MemoryChain, RecurrentPPO's defaults, 150k steps (docs/results/credit_safety.md):
  BP(λ) 100 / 100 / 100% where TBPTT(8) answers 60 / 62 / 100% (about 4 min).
"""

from __future__ import annotations

import json

import pytest

from agents.runs import train

pytestmark = pytest.mark.slow


def _eval(tmp_path, env: str) -> dict:
    argv = [
        "--env", env, "--algo", "ppo", "--credit", "bp_lambda",
        "--seed", "0", "--total-timesteps", "150000", "--eval-episodes", "50",
        "--runs-dir", str(tmp_path), "--run-name", "run", "--no-progress", "--threads", "1",
    ]  # fmt: skip
    assert train(argv) == 0
    return json.loads((tmp_path / "run" / "eval.json").read_text())


def test_ppo_bp_lambda_is_at_par_on_repeat_previous_easy(tmp_path):
    summary = _eval(tmp_path, "bpl/RepeatPreviousEasy-v0")  # the ppo.yml entry's settings
    assert summary["mean_return"] >= 0.376, summary  # chance ≈ −0.5


def test_ppo_bp_lambda_answers_memory_chain(tmp_path):
    summary = _eval(tmp_path, "bpl/MemoryChain-v0")
    assert summary["success_rate"] >= 0.95, summary  # chance: 0.5
