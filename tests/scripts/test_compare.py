"""scripts/compare.py: modes × seeds, a Markdown table and a PNG from the TensorBoard logs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import compare  # noqa: E402


def test_compare_writes_table_json_and_png(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "cmp"
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 2}',
        "--credits", "bp_lambda", "tbptt", "--seeds", "0", "1", "--total-timesteps", "128",
        "--n-envs", "2", "--hidden-size", "8", "--eval-episodes", "2", "--no-progress",
        "--out", str(out), "--", "--n-steps", "4", "--log-interval", "2",
    ]  # fmt: skip
    assert compare.main(argv) == 0
    table = (out / "results.md").read_text()
    assert "| bp_lambda | 2 |" in table and "| tbptt | 2 |" in table
    data = json.loads((out / "results.json").read_text())
    assert len(data["results"]["tbptt"]) == 2
    assert all(r["fps"] for r in data["results"]["bp_lambda"])
    # 128 steps of 2 envs in windows of 4: 16 A2C updates, 125 per 1000 env steps
    assert [r["n_updates"] for r in data["results"]["tbptt"]] == [16, 16]
    assert "| 125.0 |" in table
    if sys.platform == "linux":
        assert all(r["peak_rss_mb"] > 10 for r in data["results"]["tbptt"])
    if importlib.util.find_spec("matplotlib"):
        assert (out / "curves.png").stat().st_size > 1000
    curves = compare.read_curves(out / "runs" / "tbptt__0")
    steps, values = curves["rollout/ep_len_mean"]
    assert steps == sorted(steps) and steps[-1] <= 128


def test_compare_runs_recurrent_ppo_agents(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "cmp"
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 2}', "--algo", "ppo",
        "--credits", "bp_lambda", "--total-timesteps", "64", "--n-envs", "2",
        "--hidden-size", "8", "--eval-episodes", "2", "--no-progress", "--out", str(out),
        "--", "--n-steps", "4", "--n-epochs", "2", "--log-interval", "2",
    ]  # fmt: skip
    assert compare.main(argv) == 0
    assert "| ppo:bp_lambda | 1 |" in (out / "results.md").read_text()
    config = json.loads((out / "runs/ppo-bp_lambda__0/config.json").read_text())
    assert config["args"]["algo"] == "ppo" and config["model"]["n_epochs"] == 2


def test_compare_rejects_unknown_mode(tmp_path, capsys):
    assert compare.main(["--credits", "rtrl", "--out", str(tmp_path)]) == 2
    assert "rtrl" in capsys.readouterr().err


def test_compare_refuses_train_flags_it_sets_itself(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--", "--runs-dir", str(tmp_path / "elsewhere")]
    assert compare.main(argv) == 2
    assert "--runs-dir" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(importlib.util.find_spec("sb3_contrib") is None, reason="needs sb3-contrib")
def test_compare_with_recurrent_ppo_baseline(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "cmp"
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 2}', "--credits",
        "tbptt", "--total-timesteps", "256", "--n-envs", "2", "--hidden-size", "8",
        "--eval-episodes", "2", "--no-progress", "--recurrent-ppo", "--out", str(out),
    ]  # fmt: skip
    assert compare.main(argv) == 0
    assert "| recurrent_ppo | 1 |" in (out / "results.md").read_text()
    (run,) = json.loads((out / "results.json").read_text())["results"]["recurrent_ppo"]
    # one rollout of 128 steps × 2 envs, 10 epochs of 2 minibatches of 128
    assert run["n_updates"] == 20


def test_summary_table_marks_numbers_a_trial_did_not_record():
    runs = {"tbptt": [{"mean_return": 1.0, "success_rate": None, "fps": 100.0, "wall_s": 5.0}]}
    row = compare.summary_table(runs, "# t").splitlines()[-1]
    assert row == "| tbptt | 1 | 1.000 ± 0.000 | – | – | 100 | 5 | – | – |"


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS reset is Linux's clear_refs")
def test_peak_rss_restarts_from_the_current_size():
    from agents.grid import peak_rss_mb, reset_peak_rss

    assert reset_peak_rss()
    before = peak_rss_mb()
    block = b"\x01" * (200 * 2**20)  # 200 MB, every page written
    assert peak_rss_mb() > before + 190
    del block
    assert reset_peak_rss()
    assert peak_rss_mb() < before + 50


def test_curve_metric_picks_the_tag_and_rejects_unknown_names():
    from agents.grid import curve_tag

    ever = {
        "a": [{"rollout/success_rate": ([1, 2], [0.0, 0.2]), "rollout/ep_rew_mean": ([1], [0.0])}]
    }
    never = {"a": [{"rollout/success_rate": ([1, 2], [0.0, 0.0])}]}
    assert curve_tag(ever, "auto") == "rollout/success_rate"
    assert curve_tag(never, "auto") == "rollout/ep_rew_mean"
    assert curve_tag(ever, "return") == "rollout/ep_rew_mean"
    assert curve_tag(never, "success") == "rollout/success_rate"
    with pytest.raises(ValueError, match="'reward'"):
        curve_tag(ever, "reward")


def test_compare_rejects_unknown_curve_metric(capsys):
    with pytest.raises(SystemExit):
        compare.main(["--curve", "reward"])
    assert "invalid choice: 'reward'" in capsys.readouterr().err
