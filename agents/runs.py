"""A training run from the command line: flags, run folder, checkpoints, evaluation, resume.

What ``scripts/train.py`` does, here so that ``scripts/compare.py`` and
``scripts/demo_agent.py`` run the same thing. The agent's flags are generated from the
options dataclasses (:mod:`agents.config`): ``--<option-with-dashes>``, help from the
field's ``doc``; a flag left out means the agent's default.

A run folder ``{runs_dir}/{env}__{agent}__{seed}__{time}`` holds TensorBoard scalars and
the configuration as text, ``config.json``, checkpoints (periodic, ``latest.zip`` and
``final.zip``, all written atomically) and ``eval.json``.

Faults: Ctrl-C (any number of times) stops at the next environment step, then a complete
checkpoint is written and the logs closed (exit code 130); a checkpoint being written is
never interrupted. Before every checkpoint and after every update the policy is checked:
NaN/inf parameters, or a parameter norm grown more than :data:`DIVERGENCE_FACTOR` times
since training started, stop training (exit code 3) without saving the diverged model, so
``latest.zip`` holds the last parameters that passed. An environment that raises, or a
checkpoint that cannot be written (full or read-only disk), stops training with a message
naming the step or the file (exit code 4), the previous checkpoints intact.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import TensorBoardOutputFormat, configure
from stable_baselines3.common.utils import LinearSchedule

from bpl.credit import NonFiniteError

from .checkpoint import AGENTS
from .cli import add_renamed_flags, set_threads, tensorboard_command
from .config import STRUCTURAL_KEYS, AgentConfig, PPOConfig
from .env_util import make_env, resolve_env_id
from .evaluation import evaluate, format_summary

USAGE = """Train a recurrent agent on any Gymnasium environment, from id to evaluated checkpoint.

Writes a run folder {runs_dir}/{env}__{agent}__{seed}__{time} holding TensorBoard
scalars and the configuration as text, config.json, checkpoints (periodic, latest.zip
and final.zip, all written atomically) and eval.json. Agent options left out take the
agent's defaults.

    python scripts/train.py --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}' \\
        --credit bp_lambda --total-timesteps 200000
    python scripts/train.py --env my_module:MyEnv-v0          # imports my_module first
    python scripts/train.py --resume runs/<run>/checkpoints/latest.zip --total-timesteps 400000

Exit codes: 0 done, 2 bad input, 3 non-finite loss or diverging parameters (the last
good checkpoint is kept), 4 the environment raised or a file could not be written (the
last checkpoint is kept), 130 interrupted (a checkpoint is saved first).
"""
#: --algo → agent class name
ALGOS = {"a2c": "RecurrentA2C", "ppo": "RecurrentPPO"}
#: options only RecurrentPPO takes
PPO_OPTIONS = tuple(n for n in PPOConfig.names() if n not in AgentConfig.names())
#: flags that may change when a run is resumed
CHANGEABLE = {
    "resume",
    "total_timesteps",
    "no_progress",
    "verbose",
    "threads",
    "device",
    "checkpoint_freq",
    "log_interval",
    "eval_episodes",
    "eval_stochastic",
}
#: old flag → the flag that replaced it
RENAMED = {
    "--lr": "--learning-rate",
    "--lr-schedule": "--learning-rate-schedule",
    "--sg-lr": "--sg-learning-rate",
    "--sg-hidden": "--sg-hidden-sizes",
    "--sg-train-all": "--no-sg-train-output-only",
    "--sg-raw-input": "--no-sg-normalize-input",
}
#: Training stops as diverged when the policy's parameter norm exceeds this many times its
#: norm when training started (normal runs stay within ~1.1x; --learning-rate 1 reached
#: ~20x, 1e6 ~1e7x).
DIVERGENCE_FACTOR = 100.0
#: The final evaluation's environments are seeded with --seed + this (evaluate.py uses
#: the same by default, so both report the same numbers for the same checkpoint).
EVAL_SEED_OFFSET = 10_000
#: Exit codes of :func:`train`.
EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_FAULT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


class TrainingDiverged(NonFiniteError):
    """The policy's parameters became NaN/inf or grew by orders of magnitude."""


class EnvironmentFailed(RuntimeError):
    """The environment raised in ``reset`` or ``step`` (the message names which copy,
    its step and the action)."""


class _GuardedEnv(gym.Wrapper):
    """Re-raise an environment's exception as :class:`EnvironmentFailed` naming the copy,
    its step count and the action."""

    def __init__(self, env: gym.Env, index: int) -> None:
        super().__init__(env)
        self.index, self.steps = index, 0

    def reset(self, **kwargs: Any) -> Any:
        try:
            return self.env.reset(**kwargs)
        except Exception as err:
            raise EnvironmentFailed(
                f"environment {self.index} raised in reset() after its step {self.steps}: "
                f"{type(err).__name__}: {err}"
            ) from err

    def step(self, action: Any) -> Any:
        self.steps += 1
        try:
            return self.env.step(action)
        except Exception as err:
            raise EnvironmentFailed(
                f"environment {self.index} raised at its step {self.steps} (action "
                f"{action!r:.60}): {type(err).__name__}: {err}"
            ) from err


def guard_env(venv: Any) -> Any:
    """Wrap each copy of a ``DummyVecEnv`` so that its exceptions name the copy and step."""
    envs = getattr(venv, "envs", None)
    if isinstance(envs, list):
        venv.envs = [_GuardedEnv(e, i) for i, e in enumerate(envs)]
    return venv


def check_device(name: str) -> str:
    """``name`` if it is a torch device this machine has (or ``auto``).

    :raises ValueError: an unknown device, or a GPU this machine does not have.
    """
    allowed = "cpu, cuda, cuda:N, mps or auto"
    if not isinstance(name, str) or not name:
        raise ValueError(f"--device must be {allowed}, got {name!r}")
    if name == "auto":
        return name
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"--device must be {allowed}, got {name!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {name}: no CUDA GPU is available to torch here "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {name}: MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise ValueError(f"--device must be {allowed}, got {name!r}")
    return name


def check_run_name(name: str) -> str:
    """A run folder name: one path component (no separators, not ``.`` or ``..``).

    :raises ValueError: naming the value and what is allowed.
    """
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name or name in (".", "..") or any(sep in name for sep in seps) or "\x00" in name:
        raise ValueError(
            f"--run-name must be a single folder name inside --runs-dir (no '/' or '\\', "
            f"not '.' or '..'), got {name!r}"
        )
    return name


def _option_flag(add: Any, f: dataclasses.Field) -> None:
    """A flag for one option field: its type from the annotation, help from its doc."""
    kind = str(f.type)
    default = "[]" if f.default == () else f.default
    help_text = f"{f.metadata['doc']} (default: {default})"
    if f.name == "normalize_advantage":
        help_text = f"{f.metadata['doc']} (default: on with --algo ppo, off with a2c)"
    kw: dict[str, Any] = {"help": help_text, "default": None}
    if "choices" in f.metadata:
        kw["choices"] = f.metadata["choices"]
    if kind.startswith("bool"):
        kw["action"] = argparse.BooleanOptionalAction
    elif kind.startswith("tuple"):
        kw.update(type=int, nargs="*", metavar="N")
    elif kind.startswith("int"):
        kw["type"] = int
    elif kind.startswith(("float", "Any")):
        kw["type"] = float
    add(f"--{f.name.replace('_', '-')}", **kw)


def build_parser(suppress_defaults: bool = False) -> argparse.ArgumentParser:
    """The command line; with ``suppress_defaults`` only flags actually given appear."""
    p = argparse.ArgumentParser(
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS if suppress_defaults else None,
    )
    groups: dict[str, argparse._ArgumentGroup] = {}

    def add(*names: str, group: str = "run", default: Any = None, **kw: Any) -> None:
        if group not in groups:
            groups[group] = p.add_argument_group(group)
        if not suppress_defaults:
            kw["default"] = default
        groups[group].add_argument(*names, **kw)

    add(
        "--env",
        group="environment",
        default="bpl/TMaze-v0",
        help="Gymnasium id, or module:EnvId-v0 to import module first (default: bpl/TMaze-v0)",
    )
    add(
        "--env-kwargs",
        group="environment",
        default="{}",
        help="JSON keyword arguments for gymnasium.make, e.g. '{\"corridor_length\": 50}'",
    )
    add("--n-envs", group="environment", type=int, default=8, help="parallel environments (8)")
    add(
        "--algo",
        group="agent",
        default="a2c",
        choices=sorted(ALGOS),
        help="a2c: RecurrentA2C (one step per window); ppo: RecurrentPPO (default: a2c)",
    )
    for f in dataclasses.fields(PPOConfig):
        group = "PPO (--algo ppo)" if f.name in PPO_OPTIONS else "agent"
        _option_flag(lambda *n, _g=group, **kw: add(*n, group=_g, **kw), f)
    add(
        "--learning-rate-schedule",
        group="agent",
        default="constant",
        choices=["constant", "linear"],
        help="policy learning rate over training: constant, "
        "or linear decay from --learning-rate to 0 (default: constant)",
    )
    add(
        "--gate-bias",
        group="policy",
        type=float,
        default=None,
        help="initial GRU update / LSTM forget gate bias, with --chrono-max 0 (default: 1)",
    )
    add(
        "--chrono-max",
        group="policy",
        type=int,
        default=None,
        help="chrono initialisation of the GRU/LSTM gates: memory time scales from 2 to this "
        "many steps (about the task's longest dependency; default: 100 for gru/lstm); "
        "0: constant --gate-bias instead",
    )
    _run_flags(add)
    add_renamed_flags(p, RENAMED)
    return p


def _run_flags(add: Any) -> None:
    add("--total-timesteps", type=int, default=200_000, help="environment steps (200000)")
    add("--seed", type=int, default=0, help="random seed (default: 0)")
    add("--device", default="cpu", help="torch device: cpu, cuda, auto (default: cpu)")
    add(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1, or $OMP_NUM_THREADS)",
    )
    add("--runs-dir", default="runs", help="parent folder of run folders (default: runs)")
    add("--run-name", default=None, help="run folder name (default: env__agent__seed__time)")
    add("--checkpoint-freq", type=int, default=50_000, help="steps between checkpoints (50000)")
    add("--log-interval", type=int, default=50, help="windows between log writes (default: 50)")
    add("--eval-episodes", type=int, default=100, help="episodes in the final evaluation (100)")
    add("--eval-stochastic", action="store_true", help="sample actions in the evaluation")
    add("--resume", default=None, help="checkpoint to continue (its run folder is reused)")
    add("--no-progress", action="store_true", help="no progress bar")
    add("--verbose", type=int, default=0, help="1: print SB3's log table (default: 0)")


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Agent keyword arguments from the parsed flags (options left out: the defaults)."""
    cls = PPOConfig if args.algo == "ppo" else AgentConfig
    kwargs = {n: getattr(args, n) for n in cls.names() if getattr(args, n, None) is not None}
    if "sg_hidden_sizes" in kwargs:
        kwargs["sg_hidden_sizes"] = tuple(kwargs["sg_hidden_sizes"])
    if args.learning_rate_schedule == "linear":
        start = kwargs.get("learning_rate", cls.learning_rate)
        kwargs["learning_rate"] = LinearSchedule(start, 0.0, 1.0)
    policy_kwargs: dict[str, Any] = {}
    if args.gate_bias is not None:
        policy_kwargs["gate_bias"] = args.gate_bias
    if args.chrono_max is not None:
        policy_kwargs["chrono_max"] = args.chrono_max or None
    return {**kwargs, "policy_kwargs": policy_kwargs}


def run_name(env_id: str, credit: str, seed: int, algo: str = "a2c") -> str:
    """``{env}__{agent}__{seed}__{time}`` with the id made safe for a folder name."""
    env = re.sub(r"[^A-Za-z0-9_.-]+", "-", env_id)
    return f"{env}__{ALGOS[algo]}-{credit}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def _policy_norm(model: Any) -> float:
    with torch.no_grad():
        total = sum(float(p.detach().double().pow(2).sum()) for p in model.policy.parameters())
    return math.sqrt(total)


class Health:
    """Whether a model may be saved as good: finite parameters and statistics, and a
    policy parameter norm within :data:`DIVERGENCE_FACTOR` times its norm at the start."""

    def __init__(self, model: Any) -> None:
        self.reference = _policy_norm(model)

    def check(self, model: Any) -> None:
        """:raises TrainingDiverged: naming the step, the norms or the part that is NaN."""
        step = model.num_timesteps
        parts = [("policy", model.policy)]
        if model.gradient_critic is not None:
            parts.append(("gradient critic", model.gradient_critic))
        for name, module in parts:
            for key, value in module.state_dict().items():
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise TrainingDiverged(
                        f"non-finite {name} parameter {key} at step {step}; the update "
                        "that produced it is not saved"
                    )
        norm, limit = _policy_norm(model), DIVERGENCE_FACTOR * max(self.reference, 1.0)
        if not norm <= limit:
            raise TrainingDiverged(
                f"training diverged at step {step}: the policy's parameter norm grew from "
                f"{self.reference:.3g} to {norm:.3g}, more than {DIVERGENCE_FACTOR:g}x "
                "(try a smaller --learning-rate); the diverged parameters are not saved"
            )


class DivergenceGuard(BaseCallback):
    """Check :class:`Health` after every update (at the start of each rollout)."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health

    def _on_rollout_start(self) -> None:
        self.health.check(self.model)

    def _on_step(self) -> bool:
        return True


class _Interrupts:
    """SIGINT handling of a run: while training, saving and closing, an interrupt only
    asks training to stop at the next environment step (:class:`StopOnInterrupt`), so a
    checkpoint is never cut short; while setting up or evaluating the first one raises
    ``KeyboardInterrupt``; every later one is counted and reported, nothing more."""

    def __init__(self) -> None:
        self.count = 0
        self.raising = True
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.count > 0

    def _handler(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1 and self.raising:
            raise KeyboardInterrupt
        note = "stopping after the current step; a checkpoint will be saved"
        if self.count > 1:
            note = "already stopping; the checkpoint is being saved, please wait"
        os.write(2, f"\ninterrupt: {note}\n".encode())  # not print: safe in a handler

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class StopOnInterrupt(BaseCallback):
    """End ``learn`` at the next environment step once an interrupt was requested."""

    def __init__(self, interrupts: _Interrupts) -> None:
        super().__init__()
        self.interrupts = interrupts

    def _on_step(self) -> bool:
        return not self.interrupts.requested


class PeriodicCheckpoint(BaseCallback):
    """Save ``step_XXXXXXXXX.zip`` and ``latest.zip`` every ``every`` steps, each only
    after the model passed ``health`` (else :class:`TrainingDiverged`)."""

    def __init__(self, folder: Path, every: int, health: Health | None = None) -> None:
        super().__init__()
        self.folder, self.every, self.health = folder, every, health
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            if self.health is not None:
                self.health.check(self.model)
            self.model.save(self.folder / f"step_{self.num_timesteps:09d}.zip")
            self.model.save(self.folder / "latest.zip")
            self._next += self.every
        return True


def _write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temporary file, flushed, then renamed)."""
    tmp = path.with_name(f".tmp_{path.name}")
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _same(a: Any, b: Any, key: str = "") -> bool:
    if key == "env_kwargs" and isinstance(a, str) and isinstance(b, str):
        try:  # the same JSON object, whatever its whitespace or key order
            return json.loads(a) == json.loads(b)
        except (json.JSONDecodeError, RecursionError):
            return a == b
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


def _arg_allowed(action: argparse.Action, value: Any) -> bool:
    """Whether a value read back from config.json fits the flag's type."""
    if value is None:
        return True
    if action.choices is not None and action.nargs is None:
        return value in action.choices
    if action.nargs == "*":
        return isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
    if action.type is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if action.type is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
        return isinstance(value, bool)
    return isinstance(value, str)


def _read_run_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(args, model) of a run's config.json, each flag's value checked against its type;
    keys of flags that no longer exist are dropped.

    :raises ValueError: not JSON, no ``args`` object, or a value of the wrong type.
    """
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"--resume: {path} is not a readable JSON config.json ({err})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("args"), dict):
        raise ValueError(
            f"--resume: {path} has no 'args' object; the config.json that train.py writes "
            "holds {'args': {...}, 'model': {...}}"
        )
    model = saved.get("model", {})
    if not isinstance(model, dict):
        raise ValueError(f"--resume: {path} has a 'model' that is not an object: {model!r:.80}")
    actions = {a.dest: a for a in build_parser()._actions if a.help != argparse.SUPPRESS}
    args = {}
    for key, value in saved["args"].items():
        action = actions.get(key)
        if action is None or key == "help":
            continue
        if not _arg_allowed(action, value):
            raise ValueError(
                f"--resume: {path} has args.{key} = {value!r:.80}, not a valid "
                f"{'/'.join(action.option_strings)} value"
            )
        args[key] = value
    return args, model


def _resume_args(args: argparse.Namespace, given: dict[str, Any]) -> tuple:
    """The run's saved flags with ``given`` applied; flags given now must agree with the
    run's configuration, except :data:`CHANGEABLE`. Returns (args, run folder)."""
    ckpt = Path(args.resume)
    if not ckpt.exists() and Path(f"{ckpt}.zip").exists():
        ckpt = Path(f"{ckpt}.zip")
    if not ckpt.exists():
        raise ValueError(f"--resume: checkpoint {ckpt} does not exist")
    if not ckpt.is_file():
        raise ValueError(f"--resume: {ckpt} is not a file")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        raise ValueError(f"--resume: {saved_path} not found beside the checkpoint's run")
    saved_args, saved_model = _read_run_config(saved_path)
    clash = {}
    for k, v in given.items():
        if k in CHANGEABLE or k.startswith("_renamed"):
            continue
        old = saved_model[k] if k in saved_model and k != "learning_rate" else saved_args.get(k)
        if not _same(old, v, k):
            clash[k] = (old, v)
    if clash:
        diff = ", ".join(
            f"--{k.replace('_', '-')}: run has {a!r}, given {b!r}" for k, (a, b) in clash.items()
        )
        raise ValueError(f"--resume: the checkpoint's run has another configuration ({diff})")
    args = argparse.Namespace(**{**vars(args), **saved_args, **given})
    args.resume = str(ckpt)
    return args, run_dir


def prepare(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any], Path, bool]:
    """Parse and check the flags; on --resume merge the run's saved configuration.

    :return: (args, model kwargs, run folder, resuming).
    """
    args = build_parser().parse_args(argv)
    given = vars(build_parser(suppress_defaults=True).parse_args(argv))
    resuming = args.resume is not None
    run_dir = None
    if resuming:
        args, run_dir = _resume_args(args, given)
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        msg = f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}: {err}"
        raise ValueError(msg) from None
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
    for name in ("n_envs", "total_timesteps", "checkpoint_freq", "log_interval", "eval_episodes"):
        value, minimum = getattr(args, name), 0 if name == "total_timesteps" else 1
        if value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")
    if args.algo != "ppo":
        stray = [k for k in PPO_OPTIONS if given.get(k) is not None]
        if stray:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in stray)
            raise ValueError(f"{flags} only apply to --algo ppo, got --algo {args.algo}")
    resolve_env_id(args.env)  # unknown id: error naming the closest ones
    check_device(args.device)
    if run_dir is None:
        if args.run_name is not None:
            check_run_name(args.run_name)
        runs_dir = Path(args.runs_dir)
        if runs_dir.exists() and not runs_dir.is_dir():
            raise ValueError(f"--runs-dir {runs_dir} is a file, not a folder")
        name = args.run_name or run_name(
            args.env, args.credit or AgentConfig.credit, args.seed, args.algo
        )
        run_dir = runs_dir / name
    return args, model_kwargs(args), run_dir, resuming


def _build(args: argparse.Namespace, kwargs: dict[str, Any], resuming: bool) -> tuple:
    """The environments and the agent (new, or loaded from --resume)."""
    set_threads(args.threads)
    env_kwargs = json.loads(args.env_kwargs)
    try:
        env = make_env(args.env, args.n_envs, seed=args.seed, env_kwargs=env_kwargs)
    except (ValueError, TypeError):
        raise
    except Exception as err:  # the environment's own constructor failed
        raise ValueError(
            f"cannot create environment {args.env} with --env-kwargs {args.env_kwargs}: "
            f"{type(err).__name__}: {err}"
        ) from err
    env = guard_env(env)
    cls = AGENTS[ALGOS[args.algo]]
    if resuming:
        structural = {k: kwargs[k] for k in STRUCTURAL_KEYS if k in kwargs}
        model = cls.load(args.resume, env=env, device=args.device, **structural)
        done = model.num_timesteps
        if args.total_timesteps < done:
            raise ValueError(
                f"--total-timesteps {args.total_timesteps} is below the {done} steps the "
                f"checkpoint has already trained; give --total-timesteps > {done} to "
                "continue (nothing was changed)"
            )
        if args.total_timesteps == done and (run_dir_of(args) / "final.zip").exists():
            raise ValueError(
                f"the run is already complete at {done} steps (final.zip exists); give "
                f"--total-timesteps > {done} to continue (nothing was changed)"
            )
        env.seed(args.seed + model.num_timesteps)  # fresh episodes, still reproducible
    else:
        model = cls("MlpRecurrentPolicy", env, seed=args.seed, device=args.device, **kwargs)
    return env, model


def run_dir_of(args: argparse.Namespace) -> Path:
    """The run folder of a --resume checkpoint (``<run>/checkpoints/x.zip`` or
    ``<run>/x.zip``)."""
    ckpt = Path(args.resume)
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def _save(model: Any, path: Path, health: Health) -> None:
    health.check(model)
    model.save(path)


def _learn(
    model: Any,
    args: argparse.Namespace,
    run_dir: Path,
    callback: Any,
    interrupts: _Interrupts | None = None,
) -> int:
    """Train to --total-timesteps with checkpoints; returns 0, 3 (non-finite or diverged),
    4 (the environment raised, or a checkpoint could not be written) or 130."""
    interrupts = interrupts or _Interrupts()
    ckpt_dir = run_dir / "checkpoints"
    latest = ckpt_dir / "latest.zip"
    health = Health(model)
    callbacks = [
        DivergenceGuard(health),
        StopOnInterrupt(interrupts),
        PeriodicCheckpoint(ckpt_dir, args.checkpoint_freq, health),
    ]
    callbacks += [callback] if callback is not None else []
    remaining = args.total_timesteps - model.num_timesteps

    def kept() -> str:
        if latest.exists():
            return f"last good checkpoint: {latest} (continue with --resume {latest})"
        return "no checkpoint was written yet"

    try:
        try:
            if remaining > 0:
                model.learn(
                    remaining,
                    callback=CallbackList(callbacks),
                    log_interval=args.log_interval,
                    reset_num_timesteps=False,
                    progress_bar=not args.no_progress,
                )
        except KeyboardInterrupt:  # raised by code, not by the handler while training
            interrupts.count = max(interrupts.count, 1)
        _save(model, latest, health)
        if interrupts.requested:
            print(
                f"\ninterrupted at step {model.num_timesteps}; saved {latest} "
                f"(continue with --resume {latest})",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        _save(model, run_dir / "final.zip", health)
    except NonFiniteError as err:  # TrainingDiverged included
        print(f"training stopped: {err}\n{kept()}", file=sys.stderr)
        return EXIT_DIVERGED
    except EnvironmentFailed as err:
        saved = "no checkpoint was written"
        try:
            _save(model, latest, health)
            saved = f"saved {latest} (continue with --resume {latest})"
        except (NonFiniteError, OSError) as save_err:
            saved = f"could not save a checkpoint ({save_err}); {kept()}"
        print(f"training stopped at step {model.num_timesteps}: {err}\n{saved}", file=sys.stderr)
        return EXIT_FAULT
    except OSError as err:
        print(
            f"training stopped at step {model.num_timesteps}: cannot write a checkpoint: "
            f"{err}\n{kept()}",
            file=sys.stderr,
        )
        return EXIT_FAULT
    return EXIT_OK


def train(argv: list[str] | None = None, callback: BaseCallback | None = None) -> int:
    """Train, checkpoint, evaluate (``scripts/train.py``); returns the exit code: 0 done,
    2 bad input, 3 non-finite loss or diverging parameters (the last good checkpoint is
    kept), 4 the environment raised or a file could not be written (the last checkpoint
    is kept), 130 interrupted (a checkpoint is saved first; further interrupts wait for
    it).

    :param argv: the flags (None: ``sys.argv``).
    :param callback: an SB3 callback for ``learn`` besides the checkpoints.
    """
    interrupts = _Interrupts()
    interrupts.install()
    try:
        return _train(argv, callback, interrupts)
    except KeyboardInterrupt:
        print("\ninterrupted before training started; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        interrupts.restore()


def _train(argv: list[str] | None, callback: Any, interrupts: _Interrupts) -> int:
    try:
        args, kwargs, run_dir, resuming = prepare(argv)
        env, model = _build(args, kwargs, resuming)
    except (ValueError, TypeError) as err:  # TypeError: gymnasium.make's unknown kwargs
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    flags = {k: v for k, v in vars(args).items() if not k.startswith("_renamed")}
    config = {"args": flags, "model": model.get_config(), "run_dir": str(run_dir)}
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", config)
        logger = configure(str(run_dir), ["tensorboard"] + (["stdout"] if args.verbose else []))
    except OSError as err:
        env.close()
        print(f"error: cannot write the run folder {run_dir}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = "```json\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```"
    for fmt in logger.output_formats:
        if isinstance(fmt, TensorBoardOutputFormat):
            fmt.writer.add_text("config", text, global_step=model.num_timesteps)
    model.set_logger(logger)
    print(f"run folder: {run_dir}")
    interrupts.raising = False  # from here an interrupt stops training at the next step
    try:
        code = _learn(model, args, run_dir, callback, interrupts)
    finally:
        logger.close()
        env.close()
    if code:
        return code
    if interrupts.requested:  # between the last save and here
        return EXIT_INTERRUPTED
    interrupts.raising = True
    try:
        _evaluate(model, args, run_dir)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted during the evaluation; {run_dir / 'final.zip'} is saved, "
            "eval.json was not written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except EnvironmentFailed as err:
        print(f"evaluation stopped: {err}; {run_dir / 'final.zip'} is saved", file=sys.stderr)
        return EXIT_FAULT
    except OSError as err:
        print(f"error: cannot write {run_dir / 'eval.json'}: {err}", file=sys.stderr)
        return EXIT_FAULT
    return EXIT_OK


def _evaluate(model: Any, args: argparse.Namespace, run_dir: Path) -> None:
    env_kwargs = json.loads(args.env_kwargs)
    n = min(8, args.eval_episodes)
    eval_env = guard_env(
        make_env(args.env, n, seed=args.seed + EVAL_SEED_OFFSET, env_kwargs=env_kwargs)
    )
    summary = evaluate(model, eval_env, args.eval_episodes, deterministic=not args.eval_stochastic)
    eval_env.close()
    summary.update(
        env=args.env,
        algo=args.algo,
        credit=model.credit,
        seed=args.seed,
        num_timesteps=model.num_timesteps,
    )
    _write_json(run_dir / "eval.json", summary)
    head = f"{args.env} {type(model).__name__} {model.credit} seed {args.seed}"
    print(f"{head}, {model.num_timesteps} steps: {format_summary(summary)}")
    print(f"saved {run_dir / 'final.zip'} and {run_dir / 'eval.json'}")
    print(f"learning curves: {tensorboard_command(run_dir.parent)}")


__all__ = [
    "ALGOS",
    "DIVERGENCE_FACTOR",
    "EVAL_SEED_OFFSET",
    "DivergenceGuard",
    "EnvironmentFailed",
    "Health",
    "PeriodicCheckpoint",
    "TrainingDiverged",
    "build_parser",
    "check_device",
    "check_run_name",
    "guard_env",
    "model_kwargs",
    "run_name",
    "train",
]
