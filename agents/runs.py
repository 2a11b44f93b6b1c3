"""A training run from the command line: flags, run folder, checkpoints, evaluation, resume.

What ``scripts/train.py`` does, here so that ``scripts/compare.py`` and
``scripts/demo_agent.py`` run the same thing. The agent's flags are generated from the
options dataclasses (:mod:`agents.config`): ``--<option-with-dashes>``, help from the
field's ``doc``; a flag left out means the agent's default.

A run folder ``{runs_dir}/{env}__{agent}__{seed}__{time}`` holds TensorBoard scalars and
the configuration as text, ``config.json``, checkpoints (periodic, ``latest.zip`` and
``final.zip``, all written atomically) and ``eval.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

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

Exit codes: 0 done, 2 bad input, 3 non-finite loss (the last good checkpoint is kept),
130 interrupted (a checkpoint is saved first).
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


class PeriodicCheckpoint(BaseCallback):
    """Save ``step_XXXXXXXXX.zip`` and ``latest.zip`` every ``every`` steps."""

    def __init__(self, folder: Path, every: int) -> None:
        super().__init__()
        self.folder, self.every = folder, every
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.model.save(self.folder / f"step_{self.num_timesteps:09d}.zip")
            self.model.save(self.folder / "latest.zip")
            self._next += self.every
        return True


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".tmp_{path.name}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


def _resume_args(args: argparse.Namespace, given: dict[str, Any]) -> tuple:
    """The run's saved flags with ``given`` applied; flags given now must agree with the
    run's configuration, except :data:`CHANGEABLE`. Returns (args, run folder)."""
    ckpt = Path(args.resume)
    if not ckpt.exists() and Path(f"{ckpt}.zip").exists():
        ckpt = Path(f"{ckpt}.zip")
    if not ckpt.exists():
        raise ValueError(f"--resume: checkpoint {ckpt} does not exist")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        raise ValueError(f"--resume: {saved_path} not found beside the checkpoint's run")
    saved = json.loads(saved_path.read_text())
    saved_args, saved_model = saved["args"], saved.get("model", {})
    clash = {}
    for k, v in given.items():
        if k in CHANGEABLE or k.startswith("_renamed"):
            continue
        old = saved_model[k] if k in saved_model and k != "learning_rate" else saved_args.get(k)
        if not _same(old, v):
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
    if run_dir is None:
        name = args.run_name or run_name(
            args.env, args.credit or AgentConfig.credit, args.seed, args.algo
        )
        run_dir = Path(args.runs_dir) / name
    return args, model_kwargs(args), run_dir, resuming


def _build(args: argparse.Namespace, kwargs: dict[str, Any], resuming: bool) -> tuple:
    """The environments and the agent (new, or loaded from --resume)."""
    set_threads(args.threads)
    env_kwargs = json.loads(args.env_kwargs)
    env = make_env(args.env, args.n_envs, seed=args.seed, env_kwargs=env_kwargs)
    cls = AGENTS[ALGOS[args.algo]]
    if resuming:
        structural = {k: kwargs[k] for k in STRUCTURAL_KEYS if k in kwargs}
        model = cls.load(args.resume, env=env, device=args.device, **structural)
        env.seed(args.seed + model.num_timesteps)  # fresh episodes, still reproducible
    else:
        model = cls("MlpRecurrentPolicy", env, seed=args.seed, device=args.device, **kwargs)
    return env, model


def _learn(model: Any, args: argparse.Namespace, run_dir: Path, callback: Any) -> int:
    """Train to --total-timesteps with checkpoints; returns 0, 3 (non-finite) or 130."""
    ckpt_dir = run_dir / "checkpoints"
    callbacks = [PeriodicCheckpoint(ckpt_dir, args.checkpoint_freq)]
    callbacks += [callback] if callback is not None else []
    remaining = args.total_timesteps - model.num_timesteps
    try:
        if remaining > 0:
            model.learn(
                remaining,
                callback=CallbackList(callbacks),
                log_interval=args.log_interval,
                reset_num_timesteps=False,
                progress_bar=not args.no_progress,
            )
        model.save(ckpt_dir / "latest.zip")
        model.save(run_dir / "final.zip")
    except NonFiniteError as err:
        last = ckpt_dir / "latest.zip"
        kept = f"last good checkpoint: {last}" if last.exists() else "no checkpoint was written yet"
        print(f"training stopped: {err}\n{kept}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        model.save(ckpt_dir / "latest.zip")
        print(
            f"\ninterrupted at step {model.num_timesteps}; saved {ckpt_dir / 'latest.zip'} "
            f"(continue with --resume {ckpt_dir / 'latest.zip'})",
            file=sys.stderr,
        )
        return 130
    return 0


def train(argv: list[str] | None = None, callback: BaseCallback | None = None) -> int:
    """Train, checkpoint, evaluate (``scripts/train.py``); returns the exit code: 0 done,
    2 bad input, 3 non-finite loss (the last good checkpoint is kept), 130 interrupted
    (a checkpoint is saved first).

    :param argv: the flags (None: ``sys.argv``).
    :param callback: an SB3 callback for ``learn`` besides the checkpoints.
    """
    try:
        args, kwargs, run_dir, resuming = prepare(argv)
        env, model = _build(args, kwargs, resuming)
    except (ValueError, TypeError) as err:  # TypeError: gymnasium.make's unknown kwargs
        print(f"error: {err}", file=sys.stderr)
        return 2
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    flags = {k: v for k, v in vars(args).items() if not k.startswith("_renamed")}
    config = {"args": flags, "model": model.get_config(), "run_dir": str(run_dir)}
    _write_json(run_dir / "config.json", config)
    logger = configure(str(run_dir), ["tensorboard"] + (["stdout"] if args.verbose else []))
    text = "```json\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```"
    for fmt in logger.output_formats:
        if isinstance(fmt, TensorBoardOutputFormat):
            fmt.writer.add_text("config", text, global_step=model.num_timesteps)
    model.set_logger(logger)
    print(f"run folder: {run_dir}")
    try:
        code = _learn(model, args, run_dir, callback)
    finally:
        logger.close()
        env.close()
    if code:
        return code
    _evaluate(model, args, run_dir)
    return 0


def _evaluate(model: Any, args: argparse.Namespace, run_dir: Path) -> None:
    env_kwargs = json.loads(args.env_kwargs)
    n = min(8, args.eval_episodes)
    eval_env = make_env(args.env, n, seed=args.seed + 10_000, env_kwargs=env_kwargs)
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


__all__ = ["ALGOS", "PeriodicCheckpoint", "build_parser", "model_kwargs", "run_name", "train"]
