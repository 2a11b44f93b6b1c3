"""scripts/evaluate.py: loads a checkpoint, runs N episodes, prints the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import evaluate  # noqa: E402

from agents.runs import train  # noqa: E402


def test_evaluate_checkpoint_from_a_run(tmp_path, capsys):
    torch.set_num_threads(1)
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 2}', "--n-envs", "2",
        "--n-steps", "4", "--hidden-size", "8", "--total-timesteps", "64",
        "--eval-episodes", "2", "--no-progress", "--runs-dir", str(tmp_path), "--run-name", "r",
    ]  # fmt: skip
    assert train(argv) == 0
    capsys.readouterr()
    out_json = tmp_path / "summary.json"
    ckpt = tmp_path / "r/final.zip"
    assert evaluate.main([str(ckpt), "--episodes", "6", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "return" in out and "over 6 episodes" in out and "success" in out
    summary = json.loads(out_json.read_text())
    assert summary["n_episodes"] == 6 and 0.0 <= summary["success_rate"] <= 1.0
    assert summary["num_timesteps"] == 64
    # a different environment for the same checkpoint is refused with a clear message
    assert evaluate.main([str(ckpt), "--env", "CartPole-v1", "--episodes", "1"]) == 2
    assert "observation space" in capsys.readouterr().err
    (tmp_path / "bad.zip").write_bytes(b"garbage")
    assert evaluate.main([str(tmp_path / "bad.zip"), "--env", "CartPole-v1"]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_evaluate_loads_a_ppo_checkpoint_with_its_class(tmp_path, capsys):
    torch.set_num_threads(1)
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 2}', "--n-envs", "2",
        "--n-steps", "4", "--hidden-size", "8", "--total-timesteps", "32", "--algo", "ppo",
        "--n-epochs", "2", "--eval-episodes", "2", "--no-progress", "--runs-dir",
        str(tmp_path), "--run-name", "r",
    ]  # fmt: skip
    assert train(argv) == 0
    capsys.readouterr()
    assert evaluate.main([str(tmp_path / "r/final.zip"), "--episodes", "2"]) == 0
    assert "RecurrentPPO bp_lambda" in capsys.readouterr().out
