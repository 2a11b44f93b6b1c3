"""scripts/train.py (agents.runs.train): run folder, checkpoints, evaluation, resume, bad
input, faults, and flags generated from the agents' options."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from agents import NonFiniteError, PPOConfig, RecurrentA2C, RecurrentPPO
from agents import runs as train

ROOT = Path(__file__).resolve().parents[2]

TINY = [
    "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 3}',
    "--n-envs", "2", "--n-steps", "4", "--hidden-size", "8",
    "--eval-episodes", "4", "--no-progress", "--checkpoint-freq", "96",
    "--log-interval", "4",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _scalars(run_dir: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}, acc


def test_train_writes_run_folder_and_resume_continues(tmp_path, capsys):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "200", "--seed", "3"]
    assert train.train(argv) == 0
    (run_dir,) = list(tmp_path.iterdir())
    assert run_dir.name.startswith("bpl-TMaze-v0__RecurrentA2C-bp_lambda__3__")
    for name in ["config.json", "final.zip", "eval.json", "checkpoints/latest.zip"]:
        assert (run_dir / name).exists(), name
    assert (run_dir / "checkpoints/step_000000096.zip").exists()
    summary = json.loads((run_dir / "eval.json").read_text())
    assert summary["n_episodes"] == 4 and summary["success_rate"] is not None
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["hidden_size"] == 8 and config["args"]["seed"] == 3
    assert config["model"]["sg_trace"] == "auto" and config["sg_trace_used"] == "exact"
    out = capsys.readouterr().out
    assert "tensorboard --logdir" in out and "success" in out
    assert "gradient critic's trace: exact (sg_trace='auto')" in out
    scalars, acc = _scalars(run_dir)
    assert "rollout/ep_rew_mean" in scalars and "time/fps" in scalars
    assert "bpl/td_error" in scalars and "train/policy_loss" in scalars
    assert any(t.startswith("config") for t in acc.Tags()["tensors"]), "config text missing"
    first_max = max(scalars["time/fps"])

    # resume: same run folder, the step count continues
    latest = run_dir / "checkpoints/latest.zip"
    assert RecurrentA2C.load(latest).num_timesteps == 200
    assert train.train(["--resume", str(latest), "--total-timesteps", "400", "--no-progress"]) == 0
    assert list(tmp_path.iterdir()) == [run_dir]
    assert json.loads((run_dir / "eval.json").read_text())["num_timesteps"] == 400
    assert RecurrentA2C.load(run_dir / "final.zip").num_timesteps == 400
    scalars, _ = _scalars(run_dir)
    assert max(scalars["time/fps"]) > first_max >= 100


def test_lr_schedule_and_reward_normalisation_flags_survive_resume(tmp_path):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "128", "--run-name", "r"]
    argv += ["--learning-rate", "2e-3", "--learning-rate-schedule", "linear"]
    argv += ["--normalize-reward"]
    assert train.train(argv) == 0
    model_cfg = json.loads((tmp_path / "r/config.json").read_text())["model"]
    assert model_cfg["learning_rate"] == {
        "schedule": "linear",
        "start": 2e-3,
        "end": 0.0,
        "end_fraction": 1.0,
    }
    assert model_cfg["normalize_reward"] is True
    # an interrupted run resumed from its step-96 checkpoint: the decay continues
    ckpt = tmp_path / "r/checkpoints/step_000000096.zip"
    assert train.train(["--resume", str(ckpt), "--total-timesteps", "128", "--no-progress"]) == 0
    final = RecurrentA2C.load(tmp_path / "r/final.zip")
    assert final.normalize_reward and final.num_timesteps == 128
    assert final.lr_schedule(0.25) == pytest.approx(5e-4)
    _, acc = _scalars(tmp_path / "r")
    logged = sorted((e.step, e.wall_time, e.value) for e in acc.Scalars("train/learning_rate"))
    at_128 = [v for step, _, v in logged if step == 128]
    assert len(at_128) == 2 and at_128[0] == pytest.approx(at_128[1])  # first run, resumed
    assert [v for step, _, v in logged if step < 128] == sorted(
        [v for step, _, v in logged if step < 128], reverse=True
    )


def test_ppo_run_resumes_as_ppo_and_evaluates(tmp_path, capsys):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "128", "--seed", "1"]
    argv += ["--algo", "ppo", "--n-epochs", "3", "--clip-range", "0.1"]
    assert train.train(argv) == 0
    (run_dir,) = list(tmp_path.iterdir())
    assert run_dir.name.startswith("bpl-TMaze-v0__RecurrentPPO-bp_lambda__1__")
    assert "RecurrentPPO" in capsys.readouterr().out
    model_cfg = json.loads((run_dir / "config.json").read_text())["model"]
    assert (model_cfg["n_epochs"], model_cfg["clip_range"]) == (3, 0.1)
    scalars, _ = _scalars(run_dir)
    assert "train/clip_fraction" in scalars and "train/approx_kl" in scalars
    ckpt = run_dir / "checkpoints/step_000000096.zip"
    # the run's algorithm is part of its configuration
    assert train.train(["--resume", str(ckpt), "--algo", "a2c", "--no-progress"]) == 2
    assert "algo" in capsys.readouterr().err
    assert train.train(["--resume", str(ckpt), "--total-timesteps", "192", "--no-progress"]) == 0
    final = RecurrentPPO.load(run_dir / "final.zip")
    assert final.num_timesteps == 192 and final.n_epochs == 3 and final.clip_range == 0.1
    # 2 envs × 4 steps per window: the step-96 checkpoint is written as the 12th window's
    # last step is collected, before its update (11 updates), then 12 windows; 3 passes each
    assert final._n_updates == (11 + 12) * 3


def test_resume_with_another_configuration_fails(tmp_path, capsys):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "32", "--run-name", "r"]
    assert train.train(argv) == 0
    latest = tmp_path / "r/checkpoints/latest.zip"
    assert train.train(["--resume", str(latest), "--hidden-size", "16", "--no-progress"]) == 2
    assert "hidden-size" in capsys.readouterr().err
    assert train.train(["--resume", str(tmp_path / "nope.zip")]) == 2


def test_env_registered_from_a_user_module(tmp_path, monkeypatch):
    (tmp_path / "my_user_envs.py").write_text(
        textwrap.dedent('''
        import gymnasium as gym
        import numpy as np

        class Blink(gym.Env):
            """Reward 1 for repeating the first observation at step 3."""
            observation_space = gym.spaces.Discrete(3)
            action_space = gym.spaces.Discrete(2)
            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.cue, self.t = int(self.np_random.integers(2)), 0
                return self.cue, {}
            def step(self, action):
                self.t += 1
                done = self.t == 3
                ok = done and int(action) == self.cue
                return 2, float(ok), done, False, {"is_success": ok} if done else {}

        gym.register("MyBlink-v0", entry_point=Blink)
    ''')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = [
        "--env", "my_user_envs:MyBlink-v0", "--n-envs", "2", "--n-steps", "3",
        "--hidden-size", "8", "--total-timesteps", "96", "--eval-episodes", "2",
        "--no-progress", "--runs-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    assert train.train(argv) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "eval.json").read_text())["n_episodes"] == 2


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--env", "bpl/TMaz-v0"], ["bpl/TMaz-v0", "bpl/TMaze-v0"]),
        (["--sg-lambda", "1.5"], ["sg_lambda", "[0, 1]"]),
        (["--n-steps", "0"], ["n_steps", ">= 1"]),
        (["--env-kwargs", "not json"], ["--env-kwargs"]),
        (["--env-kwargs", '{"corridor_length": -4}'], ["corridor_length"]),
        (["--n-epochs", "4"], ["--n-epochs", "--algo ppo"]),
        (["--algo", "ppo", "--n-epochs", "0"], ["n_epochs", ">= 1"]),
        (["--algo", "ppo", "--clip-range", "-1"], ["clip_range", "> 0"]),
    ],
)
def test_bad_input_exits_with_a_message(tmp_path, capsys, extra, words):
    assert train.train(TINY + ["--runs-dir", str(tmp_path)] + extra) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not any(tmp_path.iterdir()), "nothing may be written before training"


def test_non_finite_loss_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    original = RecurrentA2C.train

    def flaky(self):
        calls["n"] += 1
        if calls["n"] > 30:
            raise NonFiniteError("non-finite loss (injected by the test)")
        original(self)

    monkeypatch.setattr(RecurrentA2C, "train", flaky)
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "400", "--run-name", "r"]
    assert train.train(argv) == 3
    err = capsys.readouterr().err
    assert "non-finite" in err and "last good checkpoint" in err
    latest = tmp_path / "r/checkpoints/latest.zip"
    assert RecurrentA2C.load(latest).num_timesteps == 192
    assert not (tmp_path / "r/final.zip").exists()


def test_ctrl_c_saves_a_checkpoint(tmp_path, monkeypatch, capsys):
    original = RecurrentA2C.train

    def interrupt(self):
        if self.num_timesteps >= 40:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(RecurrentA2C, "train", interrupt)
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "400", "--run-name", "r"]
    assert train.train(argv) == 130
    assert RecurrentA2C.load(tmp_path / "r/checkpoints/latest.zip").num_timesteps == 40
    assert "--resume" in capsys.readouterr().err


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        train.train(["--help"])
    out = capsys.readouterr().out
    parser = train.build_parser()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:  # renamed flags: an error naming the new one
            continue
        for flag in action.option_strings:
            assert flag in out
        assert action.help, f"{action.option_strings} has no help"


def test_help_lists_every_agent_option():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/train.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    for f in dataclasses.fields(PPOConfig):
        flag = f"--{f.name.replace('_', '-')}"
        assert flag in out, flag
        assert f.metadata["doc"].split()[0] in out, f.name


@pytest.mark.parametrize(
    "old, new",
    [
        (["--lr", "1e-3"], "--learning-rate"),
        (["--lr-schedule", "linear"], "--learning-rate-schedule"),
        (["--sg-lr", "1e-3"], "--sg-learning-rate"),
        (["--sg-hidden", "16"], "--sg-hidden-sizes"),
        (["--sg-train-all"], "--no-sg-train-output-only"),
        (["--sg-raw-input"], "--no-sg-normalize-input"),
    ],
)
def test_renamed_flags_fail_naming_the_new_flag(capsys, old, new):
    with pytest.raises(SystemExit):
        train.train(TINY + old)
    assert f"use {new}" in capsys.readouterr().err


def test_agent_flags_reach_the_agent(tmp_path):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "32", "--run-name", "r"]
    argv += ["--credit", "immediate", "--core", "lstm", "--sg-hidden-sizes", "4"]
    argv += ["--no-sg-normalize", "--gamma", "0.9", "--max-bptt-steps", "64"]
    assert train.train(argv) == 0
    model = json.loads((tmp_path / "r/config.json").read_text())["model"]
    assert (model["credit"], model["core"], model["sg_hidden_sizes"]) == ("immediate", "lstm", [4])
    assert (model["sg_normalize"], model["gamma"], model["max_bptt_steps"]) == (False, 0.9, 64)
    assert model["sg_normalize_input"] is True  # left out: the agent's default


def test_policy_architecture_flags_reach_the_policy(tmp_path):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "32", "--run-name", "r"]
    argv += ["--encoder-size", "0", "--head-size", "5", "--no-normalize-obs"]
    assert train.train(argv) == 0
    policy = RecurrentA2C.load(tmp_path / "r/final.zip").policy
    assert (policy.encoder_size, policy.head_size, policy.normalize_obs) == (0, 5, False)
    assert policy.core.input_size == policy.features_extractor.features_dim  # no encoder
    assert policy.pi_head[0].out_features == 5


@pytest.mark.parametrize("flag, value", [("--encoder-size", "-1"), ("--head-size", "-2")])
def test_bad_policy_sizes_are_refused(tmp_path, flag, value, capsys):
    argv = TINY + ["--runs-dir", str(tmp_path), "--total-timesteps", "32", flag, value]
    assert train.train(argv) == 2
    assert f"must be an integer >= 0, got {value}" in capsys.readouterr().err


# ---- per-environment hyperparameters (agents/hyperparams/<algo>.yml) ---------------


def test_package_entry_applies_and_flags_given_override_it(tmp_path):
    from agents.run_args import prepare

    base = ["--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 100}']
    base += ["--runs-dir", str(tmp_path)]
    args, kwargs, _, _ = prepare(base)
    assert (args.total_timesteps, args.ent_coef, args.chrono_max) == (300_000, 0.003, 200)
    assert kwargs["policy_kwargs"] == {"chrono_max": 200}
    assert kwargs["learning_rate"](0.5) == pytest.approx(0.5e-3)  # linear decay
    assert args._hyperparams["file"] == "agents/hyperparams/a2c.yml"
    assert args._hyperparams["entry"] == "bpl/TMaze-v0 corridor_length=100"
    args, kwargs, _, _ = prepare(base + ["--ent-coef", "0.01", "--chrono-max", "0"])
    assert (args.ent_coef, kwargs["policy_kwargs"]) == (0.01, {"chrono_max": None})
    assert args._hyperparams["overridden"] == ["chrono_max", "ent_coef"]
    args, kwargs, _, _ = prepare(base + ["--hyperparams", "none"])
    assert (args.total_timesteps, args.ent_coef, kwargs["policy_kwargs"]) == (200_000, None, {})
    assert args._hyperparams["entry"] is None


def test_user_hyperparams_file_is_used_recorded_and_kept_on_resume(tmp_path, capsys):
    hp = tmp_path / "mine.yml"
    hp.write_text(
        "bpl/TMaze-v0 corridor_length=3:\n  env_kwargs: {corridor_length: 3}\n"
        "  gamma: 0.9\n  hidden_size: 4\n  total_timesteps: 64\n"
        "  policy_kwargs: {chrono_max: 0, gate_bias: 0.5}\n"
    )
    runs = tmp_path / "runs"
    argv = TINY + ["--runs-dir", str(runs), "--run-name", "r", "--hyperparams", str(hp)]
    assert train.train(argv) == 0
    out = capsys.readouterr().out
    assert f"hyperparameters: {hp} [bpl/TMaze-v0 corridor_length=3]" in out
    assert "overridden by --hidden-size\n" in out
    config = json.loads((runs / "r/config.json").read_text())
    assert (config["model"]["gamma"], config["model"]["hidden_size"]) == (0.9, 8)
    assert config["args"]["gate_bias"] == 0.5 and config["args"]["hyperparams"] == str(hp)
    assert config["hyperparams"]["entry"] == "bpl/TMaze-v0 corridor_length=3"
    assert RecurrentA2C.load(runs / "r/final.zip").num_timesteps == 64
    # resume: the run's saved configuration wins over the (since changed) file
    hp.write_text("bpl/TMaze-v0:\n  gamma: 0.5\n  total_timesteps: 96\n")
    latest = str(runs / "r/checkpoints/latest.zip")
    assert train.train(["--resume", latest, "--total-timesteps", "96", "--no-progress"]) == 0
    assert "resumed run's saved configuration" in capsys.readouterr().out
    config = json.loads((runs / "r/config.json").read_text())
    assert config["model"]["gamma"] == 0.9 and config["args"]["chrono_max"] == 0
    assert config["hyperparams"]["entry"] == "bpl/TMaze-v0 corridor_length=3"


@pytest.mark.parametrize(
    "text, flag, message",
    [
        (None, None, "no such file"),
        ("bpl/CartPoleNoVel-v1:\n  gamma: 0.9\n", None, "has no entry for bpl/TMaze-v0"),
        ("bpl/TMaze-v0:\n  gama: 0.9\n", None, "unknown key 'gama'"),
        ("bpl/TMaze-v0:\n  n_steps: 8\n", ["--algo", "ppo"], None),
    ],
)
def test_bad_hyperparams_files_exit_2(tmp_path, capsys, text, flag, message):
    hp = tmp_path / "hp.yml"
    if text is not None:
        hp.write_text(text)
    argv = TINY + ["--runs-dir", str(tmp_path / "runs"), "--hyperparams", str(hp)]
    argv += ["--total-timesteps", "0"] + (flag or [])
    if message is None:  # a valid file: runs
        assert train.train(argv) == 0
        return
    assert train.train(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
