"""scripts/probes/probe_tmaze_memory.py: cue memory along the T-maze walk, critic share."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "probes"))

import probe_tmaze_memory as probe_script  # noqa: E402

from agents import RecurrentA2C, make_env  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.set_num_threads(1)
    env = make_env("bpl/TMaze-v0", n_envs=2, seed=0, env_kwargs={"corridor_length": 3})
    model = RecurrentA2C("MlpRecurrentPolicy", env, n_steps=4, hidden_size=8, seed=0)
    model.learn(64)
    path = tmp_path_factory.mktemp("probe") / "m.zip"
    model.save(path)
    return path, model


def test_probe_reports_cue_memory_and_critic(checkpoint, tmp_path, capsys):
    path, model = checkpoint
    out = tmp_path / "probe.json"
    assert probe_script.main([str(path), "--corridor-length", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["t"] for r in data["steps"]] == [0, 1, 2, 3]  # the junction is at t = L
    # the walk sees what the env shows on the shortest path: cue, L − 1 corridors, junction
    env = gymnasium.make("bpl/TMaze-v0", corridor_length=3)
    obs, _ = env.reset(seed=0)
    seen = [obs]
    while seen[-1][3] == 0:
        seen.append(env.step(0)[0])
    assert len(seen) == 4
    # |dz| is the distance between the two walks' states, recomputed here independently
    zu = probe_script.walk(model, 0, 3)
    zd = probe_script.walk(model, 1, 3)
    assert len(zu) == len(seen)
    for row in data["steps"]:
        assert row["dz"] == pytest.approx(float((zu[row["t"]] - zd[row["t"]]).detach().norm()))
        assert -1.0 <= row["cos"] <= 1.0 and row["share"] >= 0.0
    assert sum(data["junction_probs"]["up"]) == pytest.approx(1.0, abs=1e-5)
    assert "cos" in capsys.readouterr().out


def test_probe_refuses_a_checkpoint_from_another_env(tmp_path, capsys):
    env = make_env("bpl/CartPoleNoVel-v1", n_envs=1, seed=0)
    model = RecurrentA2C("MlpRecurrentPolicy", env, credit="tbptt", n_steps=2, hidden_size=4)
    model.save(tmp_path / "c.zip")
    assert probe_script.main([str(tmp_path / "c.zip"), "--corridor-length", "3"]) == 2
    assert "bpl/TMaze-v0" in capsys.readouterr().err
