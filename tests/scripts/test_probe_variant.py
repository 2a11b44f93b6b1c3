"""scripts/probes/probe_variant.py: one agent variant per seed, trained and evaluated."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "probes"))

import probe_variant  # noqa: E402


def test_prints_one_result_per_seed_and_passes_the_options(capsys, monkeypatch):
    built = []
    real = probe_variant.AGENTS["ppo"]

    def spy(*args, **kwargs):
        model = real(*args, **kwargs)
        built.append(model)
        return model

    monkeypatch.setitem(probe_variant.AGENTS, "ppo", spy)
    argv = ["--algo", "ppo", "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 3}']
    argv += ["--agent-kwargs", '{"credit": "tbptt", "hidden_size": 8, "n_steps": 4}']
    argv += ["--policy-kwargs", '{"value_trains_core": false}', "--steps", "64"]
    argv += ["--seeds", "0", "1", "--n-envs", "2", "--eval-episodes", "2", "--name", "tiny"]
    assert probe_variant.main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("RESULT")]
    assert len(lines) == 2
    assert re.fullmatch(r"RESULT tiny seed=1 ret=-?\d+\.\d{3} succ=\S+ sps=\d+", lines[1])
    assert [m.seed for m in built] == [0, 1]
    assert all(m.credit == "tbptt" and not m.policy.value_trains_core for m in built)


@pytest.mark.parametrize(
    "argv",
    [
        ["--agent-kwargs", "[1]"],
        ["--policy-kwargs", "{not json"],
        ["--algo", "sac"],
        ["--steps", "0"],
    ],
)
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        probe_variant.main(argv)
