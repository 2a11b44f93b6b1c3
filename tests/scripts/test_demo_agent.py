"""scripts/demo_agent.py: the three trainings, what it runs, the TensorBoard command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import demo_agent  # noqa: E402


def test_demo_agent_trains_each_mode_and_prints_the_tensorboard_line(tmp_path, capsys):
    torch.set_num_threads(1)

    argv = ["--task", "tmaze", "--corridor-length", "2", "--total-timesteps", "64"]
    argv += ["--credits", "bp_lambda", "tbptt"]
    argv += ["--runs-dir", str(tmp_path)]
    assert demo_agent.main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    plan = out.splitlines()[0]  # what it runs, before training
    assert "bpl/TMaze-v0" in plan and "bp_lambda, tbptt" in plan and "64 steps each" in plan
    assert "Expect about" in out.splitlines()[1]
    assert "128/128" in captured.err  # one progress bar over both trainings
    assert "bp_lambda: return" in out and "tbptt: return" in out and "correct turns" in out
    assert f"tensorboard --logdir {tmp_path}" in out
    assert len(list(tmp_path.iterdir())) == 2
    for run in tmp_path.iterdir():  # the T-maze runs use chrono initialisation up to 2L
        config = json.loads((run / "config.json").read_text())
        assert config["model"]["policy_kwargs"]["chrono_max"] == 4, config
