"""agents.sweep_config / agents.sweep: a sweep's YAML checked whole (errors naming the key),
expanded into trials; none of it needs Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agents.grid import Outcome, RayMissing, run_trials
from agents.sweep import SweepConfigError, check_config, expand, load_config, write_results
from agents.sweep_config import settings

ROOT = Path(__file__).resolve().parents[2]
BASE = {"env": "bpl/TMaze-v0", "env_kwargs": {"corridor_length": 2}, "seeds": [0]}


def _config(**changes):
    return {**BASE, **changes}


BAD = [
    ({"bogus": 1}, ["bogus", "allowed"]),
    ({"algo": "sac"}, ["algo", "a2c"]),
    ({"env": "bpl/NoSuchEnv-v0"}, ["env", "NoSuchEnv"]),
    ({"env_kwargs": {"no_such_kwarg": 1}}, ["env_kwargs", "no_such_kwarg"]),
    ({"seeds": []}, ["seeds", "non-empty"]),
    ({"seeds": [0, 0]}, ["seeds", "repeat"]),
    ({"total_timesteps": 0}, ["total_timesteps", ">= 1"]),
    ({"search": {"credit": ["bp_lambda", "rtrl"]}}, ["search.credit", "rtrl", "tbptt"]),
    ({"search": {"learning_rate": []}}, ["search.learning_rate", "empty"]),
    ({"search": {"n_layers": [1, 2]}}, ["n_layers", "AgentConfig", "hidden_size"]),
    ({"search": {"n_epochs": [2]}}, ["n_epochs", "ppo"]),
    ({"search": {"seed": [1, 2]}}, ["seed", "seeds"]),
    ({"search": {"gamma": 0.9}}, ["search.gamma", "list"]),
    ({"search": {"gamma": [1.5]}}, ["search.gamma", "[0, 1]"]),
    (
        {"search": {"learning_rate": {"dist": "uniform", "low": 1.0e-2, "high": 1.0e-3}}},
        ["search.learning_rate", "low must be <= high"],
    ),
    (
        {"search": {"learning_rate": {"dist": "loguniform", "low": 0.0, "high": 1.0e-3}}},
        ["search.learning_rate", "low > 0"],
    ),
    (
        {"search": {"learning_rate": {"dist": "gaussian", "low": 0.1, "high": 0.2}}},
        ["search.learning_rate", "gaussian", "loguniform"],
    ),
    (
        {"search": {"learning_rate": {"dist": "uniform", "low": 0.1}}},
        ["search.learning_rate", "low, high"],
    ),
    (
        {"search": {"hidden_size": {"dist": "uniform", "low": 8, "high": 64}}},
        ["search.hidden_size", "randint"],
    ),
    (
        {"search": {"hidden_size": {"dist": "randint", "low": 0, "high": 4}}},
        ["search.hidden_size", ">= 1"],
    ),
    ({"search": {"window": [3]}}, ["window", "divide", "n_steps"]),
    ({"search": {"gamma": [0.9]}, "num_samples": 2}, ["num_samples", "dist"]),
    ({"hyperparams": "no/such/file.yml"}, ["hyperparams", "no/such/file.yml", "none"]),
]


@pytest.mark.parametrize(("changes", "words"), BAD, ids=[str(b[0])[:40] for b in BAD])
def test_a_bad_config_is_refused_naming_the_key(changes, words):
    with pytest.raises(SweepConfigError) as info:
        check_config(_config(**changes))
    assert isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_a_file_that_is_not_a_mapping_or_not_yaml_is_refused(tmp_path):
    (tmp_path / "list.yml").write_text("- env\n")
    (tmp_path / "broken.yml").write_text("env: [\n")
    with pytest.raises(SweepConfigError, match="mapping"):
        load_config(tmp_path / "list.yml")
    with pytest.raises(SweepConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yml")
    with pytest.raises(SweepConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")


def test_grid_samples_and_seeds_expand_into_named_trials():
    config = check_config(
        _config(
            seeds=[0, 1],
            search={
                "credit": ["bp_lambda", "tbptt"],
                "normalize_reward": [True, False],
                "learning_rate": {"dist": "loguniform", "low": 1.0e-4, "high": 3.0e-3},
                "hidden_size": {"dist": "lograndint", "low": 8, "high": 65},
            },
            num_samples=3,
        )
    )
    specs = expand(config)
    assert len(specs) == 2 * 2 * 3 * 2  # grid points × samples × seeds
    assert len({s.name for s in specs}) == len(specs)
    assert specs == expand(config), "the same config expands the same way"
    rates = {s.setting["learning_rate"] for s in specs}
    assert len(rates) == 12 and all(1.0e-4 <= r <= 3.0e-3 for r in rates)
    assert all(8 <= s.setting["hidden_size"] < 65 for s in specs)
    # a setting keeps its sampled values across its seeds, so it is summarised over them
    by_label = {}
    for s in specs:
        by_label.setdefault(s.label, []).append(s)
    assert len(by_label) == 12 and all(len(v) == 2 for v in by_label.values())
    assert all(len({json.dumps(s.setting) for s in v}) == 1 for v in by_label.values())
    first = specs[0]
    assert first.seed == 0 and first.setting["credit"] == "bp_lambda"
    args = list(first.train_args)
    assert args[args.index("--env") + 1] == "bpl/TMaze-v0" and "--normalize-reward" in args
    assert "--no-normalize-reward" in specs[6].train_args
    assert args[args.index("--learning-rate") + 1] == repr(first.setting["learning_rate"])


def test_an_empty_search_runs_the_seeds_of_one_setting_and_none_takes_the_defaults():
    config = check_config(_config(seeds=[3, 4], hyperparams="none", search=None))
    assert settings(config) == [{}]
    specs = expand(config)
    assert [s.seed for s in specs] == [3, 4] and specs[0].label == "a2c"
    assert "--hyperparams" in specs[0].train_args and "none" in specs[0].train_args


def test_results_json_schema(tmp_path):
    config = check_config(_config(seeds=[0, 1], search={"credit": ["tbptt"]}))
    specs = expand(config)
    (tmp_path / "runs").mkdir()
    summary = {"mean_return": 0.5, "success_rate": 1.0, "fps": 900.0, "wall_s": 2.0}
    outcome = Outcome({specs[0].name: summary}, errors={specs[1].name: "boom"})
    write_results(tmp_path, config, specs, outcome)
    data = json.loads((tmp_path / "results.json").read_text())
    (trial,) = data["trials"]
    assert set(trial) == {
        "config",
        "seed",
        "mean_return",
        "success_rate",
        "env_steps_per_s",
        "run_dir",
    }
    assert trial["config"] == {"credit": "tbptt"} and trial["seed"] == 0
    assert trial["env_steps_per_s"] == 900.0
    assert trial["run_dir"] == str(tmp_path / "runs" / specs[0].name)
    assert data["failed"][0]["seed"] == 1 and data["failed"][0]["error"] == "boom"
    assert "| credit=tbptt | 1 |" in (tmp_path / "results.md").read_text()


def test_a_bad_config_is_refused_before_ray_is_imported(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({**BASE, "search": {"credit": ["rtrl"]}}))
    code = (
        "import sys; sys.path.insert(0, 'scripts'); import sweep; "
        f"rc = sweep.main(['--config', {str(bad)!r}, '--out', {str(tmp_path / 'out')!r}]); "
        "print('rc', rc, 'ray' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "rc 2 False" in done.stdout, done.stdout + done.stderr
    assert "search.credit" in done.stderr and "rtrl" in done.stderr
    assert not (tmp_path / "out").exists()


def test_resuming_with_another_config_or_starting_over_an_old_sweep_is_refused(
    tmp_path, capsys, monkeypatch
):
    sys.path.insert(0, str(ROOT / "scripts"))
    import sweep

    cfg = tmp_path / "s.yml"
    cfg.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "out"
    assert sweep.main(["--config", str(cfg), "--out", str(out), "--resume"]) == 2
    assert "no sweep to continue" in capsys.readouterr().err
    (out / "tune").mkdir(parents=True)
    (out / "sweep.json").write_text(json.dumps({"config": {**BASE, "seeds": [7]}}))
    assert sweep.main(["--config", str(cfg), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert sweep.main(["--config", str(cfg), "--out", str(out), "--resume"]) == 2
    assert "differs" in capsys.readouterr().err


def test_parallel_trials_without_ray_name_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    monkeypatch.delitem(sys.modules, "agents.tune_runner", raising=False)
    with pytest.raises(RayMissing, match=r"bplambda\[sweep\]"):
        run_trials([], tmp_path, max_concurrent=2, storage=tmp_path)
    with pytest.raises(ValueError, match="max_concurrent"):
        run_trials([], tmp_path, max_concurrent=0)
