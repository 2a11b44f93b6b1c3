"""The command line of a training run (``scripts/train.py``): flags, run folder, resume.

The agent's flags are generated from the options dataclasses (:mod:`agents.config`):
``--<option-with-dashes>``, help from the field's ``doc``; a flag left out means the
agent's default. :func:`prepare` parses and checks them, names the run folder
``{runs_dir}/{env}__{agent}__{seed}__{time}`` and, on ``--resume``, merges the run's
saved ``config.json`` (flags given again must agree with it, except :data:`CHANGEABLE`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.utils import LinearSchedule

from .cli import add_renamed_flags
from .config import AgentConfig, PPOConfig
from .env_util import resolve_env_id
from .hyperparams import POLICY_KEYS, apply_hyperparams, saved_record

USAGE = """Train a recurrent agent on any Gymnasium environment, from id to evaluated checkpoint.

Writes a run folder {runs_dir}/{env}__{agent}__{seed}__{time} holding TensorBoard
scalars and the configuration as text, config.json, checkpoints (periodic, latest.zip
and final.zip, all written atomically) and eval.json. Agent options left out take the
entry for the env in agents/hyperparams/<algo>.yml (--hyperparams), else the agent's
defaults; flags given override the entry.

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
        "--hyperparams",
        group="agent",
        default=None,
        metavar="FILE|none",
        help="per-environment options: the entry for --env in FILE (default: the package's "
        "agents/hyperparams/<algo>.yml); none: the agent's defaults. Flags given override it",
    )
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
    add(
        "--encoder-size",
        group="policy",
        type=int,
        default=None,
        help="width of the tanh layer between the observation and the core; 0: the "
        "observation goes straight in, as sb3-contrib's MlpLstmPolicy (default: 64)",
    )
    add(
        "--head-size",
        group="policy",
        type=int,
        default=None,
        help="width of the tanh layer of the policy and value heads on the core; "
        "0: linear heads (default: 64)",
    )
    add(
        "--normalize-obs",
        group="policy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="standardise observations with running statistics inside the policy "
        "(default: yes; sb3-contrib's RecurrentPPO does not)",
    )
    add(
        "--value-trains-core",
        group="policy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let the value loss's gradient reach the core and the gradient critic "
        "(default: yes; sb3-contrib's RecurrentPPO keeps it out)",
    )
    add(
        "--value-core",
        group="policy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="give the value head its own recurrent core, trained by the value loss alone, "
        "as sb3-contrib's critic LSTM (default: no with a2c, the value head reads the "
        "actor's core; yes with ppo, unless --no-value-trains-core)",
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
    add(
        "--log-interval",
        type=int,
        default=None,
        help="rollouts between log writes (default: about every 4096 env steps)",
    )
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
    for key in POLICY_KEYS:
        if getattr(args, key, None) is not None:
            policy_kwargs[key] = getattr(args, key)
    if "chrono_max" in policy_kwargs:
        policy_kwargs["chrono_max"] = policy_kwargs["chrono_max"] or None  # 0: constant bias
    return {**kwargs, "policy_kwargs": policy_kwargs}


def run_name(env_id: str, credit: str, seed: int, algo: str = "a2c") -> str:
    """``{env}__{agent}__{seed}__{time}`` with the id made safe for a folder name."""
    env = re.sub(r"[^A-Za-z0-9_.-]+", "-", env_id)
    return f"{env}__{ALGOS[algo]}-{credit}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


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
    if not resuming:  # a resumed run keeps its saved configuration
        args._hyperparams = apply_hyperparams(args, given, env_kwargs)
    else:
        args._hyperparams = saved_record(run_dir / "config.json")
    for name in ("n_envs", "total_timesteps", "checkpoint_freq", "log_interval", "eval_episodes"):
        value, minimum = getattr(args, name), 0 if name == "total_timesteps" else 1
        if value is not None and value < minimum:
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


def run_dir_of(args: argparse.Namespace) -> Path:
    """The run folder of a --resume checkpoint (``<run>/checkpoints/x.zip`` or
    ``<run>/x.zip``)."""
    ckpt = Path(args.resume)
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


__all__ = [
    "ALGOS",
    "CHANGEABLE",
    "PPO_OPTIONS",
    "RENAMED",
    "USAGE",
    "build_parser",
    "check_device",
    "check_run_name",
    "model_kwargs",
    "prepare",
    "run_dir_of",
    "run_name",
]
