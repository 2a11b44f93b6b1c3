"""scripts/benchmark_agents.py: a throughput table with one row per agent asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchmark_agents  # noqa: E402


def test_benchmark_table_has_a_row_per_agent_asked_for(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "bench.md"
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 3}', "--steps", "64",
        "--n-envs", "2", "--hidden-size", "8", "--n-steps", "4", "--no-ppo", "--only",
        "10 epochs", "--out", str(out),
    ]  # fmt: skip
    assert benchmark_agents.main(argv) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| Recurrent")]
    labels = [row.split("|")[1].strip() for row in rows]
    assert labels == [
        "RecurrentPPO tbptt gru, 10 epochs, value on the actor's core",
        "RecurrentPPO bp_lambda gru, 10 epochs, value on the actor's core",
    ]
    assert all(float(row.split("|")[2]) > 0 for row in rows)
