"""Bad input and faults for scripts/train.py and scripts/evaluate.py.

Bad flags and files exit with code 2 and a message naming the value and what is allowed,
before anything is written. Faults run the real script in a subprocess: interrupts
(SIGINT, any number of times), SIGKILL in the middle of a save, a read-only or full runs
folder, an environment that raises, a diverging learning rate; each ends with a clear
message, an exit code, and no checkpoint lost or half-written."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from agents import RecurrentA2C
from agents.runs import train

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--env", "bpl/TMaze-v0", "--env-kwargs", '{"corridor_length": 3}',
    "--n-envs", "2", "--n-steps", "4", "--hidden-size", "8",
    "--eval-episodes", "4", "--no-progress", "--checkpoint-freq", "64",
    "--log-interval", "4",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _run(tmp_path, *extra, total=128):
    argv = TINY + ["--runs-dir", str(tmp_path), "--run-name", "r"]
    return train(argv + ["--total-timesteps", str(total), *extra])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _policy_norm(path: Path) -> float:
    model = RecurrentA2C.load(path)
    return float(torch.sqrt(sum((p.detach() ** 2).sum() for p in model.policy.parameters())))


def _no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.rglob(".tmp_*")]
    assert not left, f"half-written files left behind: {left}"


# ---------------------------------------------------------------- bad flags (exit 2)
BAD_FLAGS = [
    (["--run-name", "../../x"], ["--run-name", "'../../x'", "single folder name"]),
    (["--run-name", ".."], ["--run-name", "'..'"]),
    (["--run-name", "."], ["--run-name", "'.'"]),
    (["--run-name", "a/b"], ["--run-name", "'a/b'"]),
    (["--run-name", ""], ["--run-name", "''"]),
    (["--run-name", "/abs"], ["--run-name", "'/abs'"]),
    (["--device", "bogus"], ["--device", "'bogus'", "cpu, cuda"]),
    (["--device", "tpu"], ["--device", "'tpu'"]),
    (["--device", "cuda:-1"], ["--device", "'cuda:-1'"]),
    (["--device", ""], ["--device", "''"]),
    (["--n-envs", "0"], ["--n-envs", ">= 1", "0"]),
    (["--total-timesteps", "-5"], ["--total-timesteps", ">= 0", "-5"]),
    (["--checkpoint-freq", "0"], ["--checkpoint-freq", ">= 1"]),
    (["--log-interval", "-1"], ["--log-interval", ">= 1"]),
    (["--eval-episodes", "0"], ["--eval-episodes", ">= 1"]),
    (["--threads", "0"], ["threads", ">= 1"]),
    (["--env-kwargs", "[1, 2]"], ["--env-kwargs", "JSON object", "[1, 2]"]),
    (["--env-kwargs", "null"], ["--env-kwargs", "JSON object"]),
    (["--env-kwargs", "{"], ["--env-kwargs", "JSON object"]),
    (["--env-kwargs", '{"corridor_length": "x"}'], ["corridor_length", "'x'"]),
    # obscure (1 of 2): the text is gymnasium.make's TypeError ("unexpected keyword
    # argument 'nope'"); it names the key, but not the keys the environment takes.
    (["--env-kwargs", '{"nope": 1}'], ["nope"]),
    (["--env", "nosuchmodule_xyz:Foo-v0"], ["nosuchmodule_xyz"]),
    (["--env", "bpl/TMaz-v0"], ["bpl/TMaz-v0", "bpl/TMaze-v0"]),
    (["--learning-rate", "-1"], ["learning_rate", "> 0", "-1"]),
    (["--learning-rate", "nan"], ["learning_rate", "nan"]),
    (["--learning-rate", "inf"], ["learning_rate", "inf"]),
    (["--gamma", "2"], ["gamma", "[0, 1]", "2"]),
    (["--sg-learning-rate", "0"], ["sg_learning_rate", "> 0"]),
    (["--hidden-size", "0"], ["hidden_size", ">= 1"]),
    (["--sg-hidden-sizes", "0"], ["sg_hidden_sizes", ">= 1"]),
    (["--clip-range", "0.1"], ["--clip-range", "--algo ppo"]),
]


@pytest.mark.parametrize("extra, words", BAD_FLAGS, ids=[" ".join(e)[:40] for e, _ in BAD_FLAGS])
def test_bad_flag_exits_2_naming_it_and_writes_nothing(tmp_path, capsys, extra, words):
    runs_dir = tmp_path / "runs"
    argv = TINY + ["--runs-dir", str(runs_dir), "--total-timesteps", "8"]
    if "--run-name" not in extra:
        argv += ["--run-name", "r"]
    assert train(argv + extra) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, (word, err)
    assert not runs_dir.exists(), "nothing may be written on bad input"
    assert not (tmp_path / "x").exists() and not (ROOT.parent / "x").exists()


def test_cuda_without_a_gpu_is_refused_not_run_on_the_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0"):
        assert _run(tmp_path, "--device", device) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_runs_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "runs").write_text("not a folder")
    argv = TINY + ["--runs-dir", str(tmp_path / "runs"), "--total-timesteps", "8"]
    assert train(argv) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_an_environment_whose_constructor_raises(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken_env_mod.py").write_text(
        textwrap.dedent("""
        import gymnasium as gym
        class Broken(gym.Env):
            def __init__(self):
                raise RuntimeError("no licence server")
        gym.register("BrokenCtor-v0", entry_point=Broken)
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["--env", "broken_env_mod:BrokenCtor-v0", "--runs-dir", str(tmp_path / "runs")]
    assert train(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot create environment broken_env_mod:BrokenCtor-v0" in err
    assert "no licence server" in err


# ---------------------------------------------------------------- resume
@pytest.fixture
def finished(tmp_path):
    assert _run(tmp_path, total=128) == 0
    return tmp_path / "r"


def test_resume_below_the_runs_steps_changes_nothing(finished, capsys):
    before = _snapshot(finished)
    latest = finished / "checkpoints/latest.zip"
    assert train(["--resume", str(latest), "--total-timesteps", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--total-timesteps 64 is below the 128 steps" in err
    assert _snapshot(finished) == before  # final.zip, eval.json, config.json untouched


def test_resume_of_a_complete_run_changes_nothing(finished, capsys):
    before = _snapshot(finished)
    assert train(["--resume", str(finished / "final.zip"), "--no-progress"]) == 2
    assert "already complete at 128 steps" in capsys.readouterr().err
    assert _snapshot(finished) == before


@pytest.mark.parametrize(
    "content, words",
    [
        ("not json {", ["not a readable JSON config.json"]),
        ("[]", ["has no 'args' object"]),
        ('{"model": {}}', ["has no 'args' object"]),
        ('{"args": {}, "model": []}', ["'model' that is not an object"]),
        ("OVERRIDE_N_ENVS", ["args.n_envs = 'two'", "--n-envs"]),
        ("OVERRIDE_SEED", ["args.seed = 1.5"]),
        ("OVERRIDE_ALGO", ["args.algo = 'dqn'"]),
    ],
    ids=["not-json", "list", "no-args", "model-list", "n_envs-str", "seed-float", "algo"],
)
def test_resume_with_a_broken_config_json(finished, capsys, content, words):
    path = finished / "config.json"
    saved = json.loads(path.read_text())
    if content.startswith("OVERRIDE_"):
        key, value = {
            "OVERRIDE_N_ENVS": ("n_envs", "two"),
            "OVERRIDE_SEED": ("seed", 1.5),
            "OVERRIDE_ALGO": ("algo", "dqn"),
        }[content]
        saved["args"][key] = value
        content = json.dumps(saved)
    path.write_text(content)
    latest = finished / "checkpoints/latest.zip"
    assert train(["--resume", str(latest), "--total-timesteps", "192", "--no-progress"]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, (word, err)
    assert RecurrentA2C.load(latest).num_timesteps == 128


def test_resume_accepts_the_same_env_kwargs_written_differently(finished):
    latest = finished / "checkpoints/latest.zip"
    argv = ["--resume", str(latest), "--total-timesteps", "192", "--no-progress"]
    assert train(argv + ["--env-kwargs", '{ "corridor_length":3 }']) == 0
    assert RecurrentA2C.load(finished / "final.zip").num_timesteps == 192


def test_resume_refuses_other_env_kwargs(finished, capsys):
    latest = finished / "checkpoints/latest.zip"
    argv = ["--resume", str(latest), "--total-timesteps", "192", "--no-progress"]
    assert train(argv + ["--env-kwargs", '{"corridor_length": 4}']) == 2
    assert "--env-kwargs: run has" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["checkpoints", "missing.zip"], ids=["folder", "missing"])
def test_resume_from_something_that_is_not_a_checkpoint(finished, capsys, target):
    assert train(["--resume", str(finished / target), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_from_a_diverged_checkpoint_is_refused(finished, capsys):
    import io
    import zipfile

    latest = finished / "checkpoints/latest.zip"
    with zipfile.ZipFile(latest) as zf:
        meta, raw = zf.read("meta.json"), zf.read("tensors.pt")
    tensors = torch.load(io.BytesIO(raw), weights_only=True)
    tensors["policy"]["value_net.weight"].fill_(float("inf"))
    buf = io.BytesIO()
    torch.save(tensors, buf)
    with zipfile.ZipFile(latest, "w") as zf:
        zf.writestr("meta.json", meta)
        zf.writestr("tensors.pt", buf.getvalue())
    assert train(["--resume", str(latest), "--total-timesteps", "192", "--no-progress"]) == 2
    assert "value_net.weight holds NaN or inf" in capsys.readouterr().err


# ---------------------------------------------------------------- divergence (exit 3)
@pytest.mark.parametrize("lr", ["1e30", "1e6"])
def test_diverging_learning_rate_stops_and_keeps_good_parameters(tmp_path, capsys, lr):
    code = _run(tmp_path, "--learning-rate", lr, "--checkpoint-freq", "8", total=400)
    assert code == 3
    err = capsys.readouterr().err
    assert "diverged" in err and "last good checkpoint" in err
    latest = tmp_path / "r/checkpoints/latest.zip"
    fresh = RecurrentA2C("MlpRecurrentPolicy", "bpl/TMaze-v0", hidden_size=8, seed=0)
    reference = float(torch.sqrt(sum((p.detach() ** 2).sum() for p in fresh.policy.parameters())))
    assert _policy_norm(latest) < 10 * reference  # pre-divergence, finite parameters
    assert not (tmp_path / "r/final.zip").exists()
    _no_temporaries(tmp_path / "r")


# ---------------------------------------------------------------- evaluate.py
def test_evaluate_reports_the_same_numbers_as_eval_json(finished, capsys):
    eval_json = json.loads((finished / "eval.json").read_text())
    out = finished.parent / "again.json"
    assert evaluate.main([str(finished / "final.zip"), "--episodes", "4", "--json", str(out)]) == 0
    again = json.loads(out.read_text())
    for key in ("mean_return", "std_return", "success_rate", "returns", "mean_length"):
        assert again[key] == eval_json[key], key


@pytest.mark.parametrize(
    "make_args, words",
    [
        (lambda d: [str(d / "missing.zip")], ["no such file", "missing.zip"]),
        (lambda d: [str(d / "checkpoints")], ["is not a file"]),
        (lambda d: [str(d / "final.zip"), "--episodes", "0"], ["--episodes", ">= 1"]),
        (lambda d: [str(d / "final.zip"), "--n-envs", "0"], ["--n-envs", ">= 1"]),
        (lambda d: [str(d / "final.zip"), "--env-kwargs", "[1]"], ["--env-kwargs", "JSON object"]),
        (lambda d: [str(d / "final.zip"), "--env-kwargs", "{x"], ["--env-kwargs", "JSON object"]),
        (lambda d: [str(d / "final.zip"), "--device", "bogus"], ["--device", "'bogus'"]),
        (lambda d: [str(d / "final.zip"), "--threads", "-2"], ["threads", ">= 1"]),
        (lambda d: [str(d / "final.zip"), "--env", "CartPole-v1"], ["observation space"]),
        (
            lambda d: [str(d / "final.zip"), "--json", str(d / "no/such/dir/x.json")],
            ["cannot write --json", "no/such/dir"],
        ),
    ],
    ids=[
        "missing",
        "folder",
        "episodes-0",
        "n-envs-0",
        "kwargs-list",
        "kwargs-not-json",
        "device",
        "threads",
        "other-env",
        "json-unwritable",
    ],
)
def test_evaluate_bad_input_exits_2(finished, capsys, make_args, words):
    assert evaluate.main(make_args(finished)) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize(
    "content, words",
    [("not json", ["not a readable JSON config.json"]), ('{"x": 1}', ["has no 'args' object"])],
    ids=["not-json", "no-args"],
)
def test_evaluate_with_a_broken_config_json(finished, capsys, content, words):
    (finished / "config.json").write_text(content)
    assert evaluate.main([str(finished / "final.zip")]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


# ---------------------------------------------------------------- subprocess faults
def _popen(tmp_path, *extra, preexec=None, pythonpath=None):
    argv = TINY + ["--runs-dir", str(tmp_path), "--run-name", "r", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts/train.py"), *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=preexec,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.02)


def _check_logs_closed(run_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    assert "rollout/ep_rew_mean" in acc.Tags()["scalars"] or acc.Tags()["tensors"]


@pytest.mark.parametrize("gap", [0.01, 0.05], ids=["10ms", "50ms"])
def test_repeated_ctrl_c_ends_with_a_complete_checkpoint(tmp_path, gap):
    proc = _popen(tmp_path, "--total-timesteps", "100000000")
    latest = tmp_path / "r/checkpoints/latest.zip"
    _wait_for(latest, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap)
    for _ in range(4):  # and more, while the save and the shutdown run
        proc.send_signal(signal.SIGINT)
        time.sleep(0.003)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted at step" in err
    model = RecurrentA2C.load(latest)
    assert model.num_timesteps >= 64
    _no_temporaries(tmp_path / "r")
    _check_logs_closed(tmp_path / "r")


SLOW_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from agents import checkpoint
    from agents.runs import train

    original, calls = checkpoint._write_zip, []
    def slow(f, meta, raw):
        calls.append(1)
        if len(calls) > 2:  # after step_64 and latest: hang half-way through a save
            f.write(b"PK-half-written")
            f.flush()
            Path(sys.argv[1]).write_text("saving")
            time.sleep(60)
        original(f, meta, raw)
    checkpoint._write_zip = slow
    sys.exit(train(sys.argv[2:]))
""")


def test_sigkill_in_the_middle_of_a_save_leaves_the_previous_checkpoint(tmp_path):
    marker = tmp_path / "saving"
    argv = TINY + ["--runs-dir", str(tmp_path), "--run-name", "r"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(marker), *argv, "--total-timesteps", "100000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    _wait_for(marker, proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    latest = tmp_path / "r/checkpoints/latest.zip"
    assert RecurrentA2C.load(latest).num_timesteps == 64  # the previous one, whole
    assert RecurrentA2C.load(tmp_path / "r/checkpoints/step_000000064.zip")
    assert not (tmp_path / "r/checkpoints/step_000000128.zip").exists()


def test_a_read_only_runs_dir_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/train.py"), *TINY, "--runs-dir", "/sys/bpl_runs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the run folder /sys/bpl_runs" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_dir_by_permissions(tmp_path, capsys):
    (tmp_path / "ro").mkdir(mode=0o500)
    assert train(TINY + ["--runs-dir", str(tmp_path / "ro"), "--total-timesteps", "8"]) == 2
    assert "cannot write the run folder" in capsys.readouterr().err


def test_a_full_disk_mid_run_keeps_the_previous_checkpoint(tmp_path):
    assert _run(tmp_path, total=64) == 0
    latest = tmp_path / "r/checkpoints/latest.zip"
    before = latest.read_bytes()
    limit = 16 * 1024  # files may not grow past 16 KiB: a checkpoint (~23 KiB) fails

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = _popen(
        tmp_path, "--resume", str(latest), "--total-timesteps", "100000", preexec=small_files
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert "cannot write a checkpoint" in err and "File too large" in err
    assert "Traceback" not in err
    assert latest.read_bytes() == before
    assert RecurrentA2C.load(latest).num_timesteps == 64
    _no_temporaries(tmp_path / "r")


FAILING_ENV = textwrap.dedent("""
    import gymnasium as gym
    import numpy as np

    class Flaky(gym.Env):
        observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Discrete(2)
        steps = 0
        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, np.float32), {}
        def step(self, action):
            Flaky.steps += 1
            if Flaky.steps == 150:
                raise ConnectionError("simulator connection lost")
            return np.zeros(2, np.float32), 0.0, Flaky.steps % 5 == 0, False, {}

    gym.register("FlakyEnv-v0", entry_point=Flaky)
""")


def test_an_environment_raising_mid_rollout_saves_and_names_the_step(tmp_path):
    (tmp_path / "flaky_env_mod.py").write_text(FAILING_ENV)
    proc = _popen(
        tmp_path / "runs",
        "--env", "flaky_env_mod:FlakyEnv-v0", "--env-kwargs", "{}",
        "--total-timesteps", "100000",
        pythonpath=tmp_path,
    )  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert "Traceback" not in err
    assert "raised at its step 75" in err and "ConnectionError: simulator connection lost" in err
    latest = tmp_path / "runs/r/checkpoints/latest.zip"
    assert f"saved {latest}" in err
    assert RecurrentA2C.load(latest).num_timesteps == 148
