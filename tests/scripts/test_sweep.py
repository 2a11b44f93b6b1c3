"""scripts/sweep.py on Ray Tune (local Ray, one session shared by the module's tests):
trials are normal training runs, results.json / results.md, an interrupted sweep resumed,
and compare.py's --max-concurrent 2 on the same engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import compare  # noqa: E402
import sweep  # noqa: E402

from agents import tune_runner  # noqa: E402

TINY = {
    "env": "bpl/TMaze-v0",
    "env_kwargs": {"corridor_length": 2},
    "total_timesteps": 256,
    "n_envs": 2,
    "eval_episodes": 4,
    "search": {"hidden_size": [8], "n_steps": [4]},
}
RECORD_KEYS = {"config", "seed", "mean_return", "success_rate", "env_steps_per_s", "run_dir"}


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for every test here (starting Ray takes seconds)."""
    started = tune_runner.start_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _write(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def test_a_two_trial_sweep_runs_training_runs_and_writes_results(ray_session, tmp_path, capsys):
    cfg = _write(
        tmp_path / "s.yml", seeds=[0], search={**TINY["search"], "credit": ["bp_lambda", "tbptt"]}
    )
    out = tmp_path / "out"
    assert sweep.main(["--config", str(cfg), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "credit=bp_lambda hidden_size=8 n_steps=4 seed 0: return" in printed
    assert "[2/2]" in printed
    data = json.loads((out / "results.json").read_text())
    assert len(data["trials"]) == 2 and data["failed"] == []
    for trial in data["trials"]:
        assert set(trial) == RECORD_KEYS
        assert isinstance(trial["mean_return"], float) and trial["env_steps_per_s"] > 0
        run_dir = Path(trial["run_dir"])
        assert run_dir.parent == out / "runs"
        for name in ("config.json", "eval.json", "final.zip", "checkpoints/latest.zip"):
            assert (run_dir / name).exists(), name
        assert list(run_dir.glob("events.out.tfevents.*"))
        config = json.loads((run_dir / "config.json").read_text())
        assert config["args"]["credit"] == trial["config"]["credit"]
        assert config["args"]["threads"] == 1 and config["model"]["hidden_size"] == 8
    assert [t["config"]["credit"] for t in data["trials"]] == ["bp_lambda", "tbptt"]
    table = (out / "results.md").read_text()
    assert "| credit=bp_lambda hidden_size=8 n_steps=4 | 1 |" in table
    assert (out / "tune").is_dir() and (out / "curves.png").exists()


def test_an_interrupted_sweep_resumes_without_redoing_finished_trials(ray_session, tmp_path):
    cfg = _write(tmp_path / "s.yml", seeds=[0, 1, 2])
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, str(ROOT / "scripts/sweep.py"), "--config", str(cfg), "--out", str(out)]
    proc = subprocess.Popen(
        argv + ["--max-concurrent", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not list(out.glob("runs/*__0/trial.json")) and time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: Tune saves its state and stops
        printed, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, printed
    assert "--resume" in printed
    (first,) = out.glob("runs/*__0")
    stamp = (first / "trial.json").stat().st_mtime
    assert len(list(out.glob("runs/*/trial.json"))) < 3

    assert sweep.main(["--config", str(cfg), "--out", str(out), "--resume"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert sorted(t["seed"] for t in data["trials"]) == [0, 1, 2]
    assert (first / "trial.json").stat().st_mtime == stamp, "a finished trial ran again"
    assert len(list(first.glob("events.out.tfevents.*"))) == 1
    assert "| hidden_size=8 n_steps=4 | 3 |" in (out / "results.md").read_text()


def test_compare_runs_its_grid_on_ray_with_max_concurrent(ray_session, tmp_path):
    out = tmp_path / "cmp"
    argv = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 2}', "--credits",
        "tbptt", "--seeds", "0", "1", "--total-timesteps", "128", "--n-envs", "2",
        "--hidden-size", "8", "--eval-episodes", "2", "--no-progress", "--max-concurrent",
        "2", "--out", str(out), "--", "--n-steps", "4", "--log-interval", "2",
    ]  # fmt: skip
    assert compare.main(argv) == 0
    assert "| tbptt | 2 |" in (out / "results.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert [r["seed"] for r in data["results"]["tbptt"]] == [0, 1]
    assert all(r["fps"] for r in data["results"]["tbptt"])
    assert (out / "runs/tbptt__1/eval.json").exists()
