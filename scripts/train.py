"""Train a recurrent agent on any Gymnasium environment, from id to evaluated checkpoint.

Writes a run folder ``{runs_dir}/{env}__{agent}__{seed}__{time}`` holding TensorBoard
scalars and the full configuration as text, ``config.json``, checkpoints (periodic,
``latest.zip`` and ``final.zip``, all written atomically) and ``eval.json``.

    python scripts/train.py --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}' \\
        --credit bp_lambda --total-timesteps 200000
    python scripts/train.py --env my_module:MyEnv-v0          # imports my_module first
    python scripts/train.py --resume runs/<run>/checkpoints/latest.zip --total-timesteps 400000

Exit codes: 0 done, 2 bad input, 3 non-finite loss (the last good checkpoint is kept),
130 interrupted (a checkpoint is saved first).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python scripts/train.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat, configure
from stable_baselines3.common.utils import LinearSchedule

from agents import AGENTS, CREDIT_MODES, NonFiniteError, make_env, resolve_env_id
from agents.evaluation import evaluate, format_summary
from agents.recurrent_a2c import STRUCTURAL_KEYS


def build_parser(suppress_defaults: bool = False) -> argparse.ArgumentParser:
    """The command line; with ``suppress_defaults`` only flags actually given appear."""
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS if suppress_defaults else None,
    )

    def add(*names: str, default: Any = None, **kw: Any) -> None:
        if not suppress_defaults:
            kw["default"] = default
            if "help" in kw and default is not None and kw.get("action") != "store_true":
                kw["help"] += f" (default: {default})"
        p.add_argument(*names, **kw)

    g = p.add_argument_group("environment")
    add("--env", default="bpl/TMaze-v0", help="Gymnasium id, or module:EnvId-v0 to import module")
    add(
        "--env-kwargs",
        default="{}",
        help="JSON keyword arguments for gymnasium.make, e.g. '{\"corridor_length\": 50}'",
    )
    add("--n-envs", type=int, default=8, help="parallel environments")
    g = p.add_argument_group("agent")
    add(
        "--algo",
        default="a2c",
        choices=["a2c", "ppo"],
        help="a2c: RecurrentA2C (one step per window); ppo: RecurrentPPO (--n-epochs "
        "clipped passes per window)",
    )
    add("--credit", default="bp_lambda", choices=CREDIT_MODES, help="credit assignment of the core")
    add("--core", default="gru", choices=["rnn", "gru", "lstm"], help="recurrent cell")
    add("--hidden-size", type=int, default=64, help="units in the core")
    add(
        "--gate-bias",
        type=float,
        default=1.0,
        help="initial GRU update / LSTM forget gate bias (with --chrono-max 0)",
    )
    add(
        "--chrono-max",
        type=int,
        default=None,
        help="chrono initialisation of the GRU/LSTM gates: memory time scales from 2 to this "
        "many steps (use ~ the task's longest dependency); default: 100 for gru/lstm; "
        "0: constant --gate-bias instead",
    )
    add("--n-steps", type=int, default=8, help="window length per environment (1 = online)")
    add("--lr", type=float, default=1e-3, help="learning rate of the policy")
    add(
        "--lr-schedule",
        default="constant",
        choices=["constant", "linear"],
        help="policy learning rate over training: constant, or linear decay from --lr to 0",
    )
    add("--gamma", type=float, default=0.99, help="RL discount")
    add("--gae-lambda", type=float, default=0.95, help="GAE lambda in [0, 1]")
    add("--ent-coef", type=float, default=0.01, help="entropy bonus")
    add("--vf-coef", type=float, default=0.5, help="value loss coefficient")
    add("--max-grad-norm", type=float, default=0.5, help="gradient clipping norm")
    add(
        "--normalize-advantage",
        action="store_true",
        help="standardise advantages per window (always on with --algo ppo)",
    )
    g = p.add_argument_group("PPO (--algo ppo)")
    add("--n-epochs", type=int, default=10, help="clipped-surrogate passes over each window")
    add("--clip-range", type=float, default=0.2, help="PPO clip range epsilon > 0")
    add(
        "--target-kl",
        type=float,
        default=None,
        help="stop a window's passes when the KL estimate exceeds 1.5x this (default: never)",
    )
    add(
        "--normalize-reward",
        action="store_true",
        help="divide rewards by a running std of the discounted return (as VecNormalize)",
    )
    g = p.add_argument_group("gradient critic (bp_lambda, dni)")
    add("--sg-gamma", type=float, default=0.99, help="gradient critic discount in [0, 1]")
    add("--sg-lambda", type=float, default=1.0, help="BP(lambda) trace decay in [0, 1]")
    add("--sg-beta", type=float, default=1.0, help="scale of the injected synthetic gradient")
    add("--sg-lr", type=float, default=3e-3, help="gradient critic learning rate (Adam)")
    add(
        "--sg-hidden",
        default="",
        help="comma-separated hidden sizes of the critic, e.g. 16 (default '': linear)",
    )
    add(
        "--sg-train-all",
        action="store_true",
        help="with --sg-hidden, train the hidden layers too (full trace; slow)",
    )
    add(
        "--sg-raw-input",
        action="store_true",
        help="the critic sees z as it is, not standardised per unit (sg_normalize_input=False)",
    )
    add("--log-sg-cosine", action="store_true", help="log bpl/sg_cosine (extra backward sweep)")
    g = p.add_argument_group("run")
    add("--total-timesteps", type=int, default=200_000, help="total environment steps")
    add("--seed", type=int, default=0, help="random seed")
    add("--device", default="cpu", help="torch device (cpu, cuda, auto)")
    add("--threads", type=int, default=1, help="torch CPU threads")
    add("--runs-dir", default="runs", help="parent folder of run folders")
    add("--run-name", default=None, help="run folder name (default: env__agent__seed__time)")
    add("--checkpoint-freq", type=int, default=50_000, help="steps between checkpoints")
    add("--log-interval", type=int, default=50, help="windows between log writes")
    add("--eval-episodes", type=int, default=100, help="episodes in the final evaluation")
    add("--eval-stochastic", action="store_true", help="sample actions in the evaluation")
    add("--resume", default=None, help="checkpoint to continue (its run folder is reused)")
    add("--no-progress", action="store_true", help="no progress bar")
    add("--verbose", type=int, default=0, help="1: print SB3's log table")
    del g
    return p


def _sg_hidden(text: str) -> tuple[int, ...]:
    text = str(text).strip()
    if not text:
        return ()
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ValueError(f"--sg-hidden must be comma-separated integers, got {text!r}") from None


def _chrono(value: int | None) -> int | str | None:
    """--chrono-max: None (flag absent) → the policy's default, 0 → off, n → n."""
    if value is None:
        return "auto"
    return None if value == 0 else value


#: --algo → agent class name
ALGOS = {"a2c": "RecurrentA2C", "ppo": "RecurrentPPO"}
#: flags that only RecurrentPPO takes
PPO_FLAGS = ("n_epochs", "clip_range", "target_kl")


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Agent keyword arguments from the parsed flags (RecurrentA2C's, plus PPO's)."""
    kwargs = {
        "credit": args.credit,
        "core": args.core,
        "hidden_size": args.hidden_size,
        "n_steps": args.n_steps,
        "learning_rate": (
            LinearSchedule(args.lr, 0.0, 1.0) if args.lr_schedule == "linear" else args.lr
        ),
        "gamma": args.gamma,
        "gae_lambda": args.gae_lambda,
        "ent_coef": args.ent_coef,
        "vf_coef": args.vf_coef,
        "max_grad_norm": args.max_grad_norm,
        "normalize_advantage": args.normalize_advantage,
        "normalize_reward": bool(args.normalize_reward),
        "sg_gamma": args.sg_gamma,
        "sg_lambda": args.sg_lambda,
        "sg_beta": args.sg_beta,
        "sg_learning_rate": args.sg_lr,
        "sg_hidden_sizes": _sg_hidden(args.sg_hidden),
        "sg_train_output_only": not args.sg_train_all,
        "sg_normalize_input": not args.sg_raw_input,
        "log_sg_cosine": args.log_sg_cosine,
        "policy_kwargs": {"gate_bias": args.gate_bias, "chrono_max": _chrono(args.chrono_max)},
    }
    if args.algo == "ppo":
        kwargs.update(
            n_epochs=args.n_epochs,
            clip_range=args.clip_range,
            target_kl=args.target_kl,
            normalize_advantage=True,
        )
    return kwargs


def run_name(env_id: str, credit: str, seed: int, algo: str = "a2c") -> str:
    """``{env}__{agent}__{seed}__{time}`` with the id made safe for a folder name."""
    env = re.sub(r"[^A-Za-z0-9_.-]+", "-", env_id)
    return f"{env}__{ALGOS[algo]}-{credit}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


class PeriodicCheckpoint(BaseCallback):
    """Save ``step_XXXXXXXXX.zip`` and ``latest.zip`` every ``every`` steps."""

    def __init__(self, folder: Path, every: int) -> None:
        super().__init__()
        self.folder, self.every = folder, every
        self._next = None

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


def _config_text(config: dict) -> str:
    return "```json\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```"


def prepare(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any], Path, bool]:
    """Parse flags, validate them, and on --resume merge the run's saved configuration.

    :return: (args, model kwargs, run folder, resuming).
    """
    args = build_parser().parse_args(argv)
    given = vars(build_parser(suppress_defaults=True).parse_args(argv))
    resuming = args.resume is not None
    if resuming:
        ckpt = Path(args.resume)
        if not ckpt.exists() and Path(f"{ckpt}.zip").exists():
            ckpt = Path(f"{ckpt}.zip")
        if not ckpt.exists():
            raise ValueError(f"--resume: checkpoint {ckpt} does not exist")
        run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        saved_path = run_dir / "config.json"
        if not saved_path.exists():
            raise ValueError(f"--resume: {saved_path} not found beside the checkpoint's run")
        saved = json.loads(saved_path.read_text())["args"]
        # flags given now must agree with the run, except what may change between sessions
        changeable = {
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
        clash = {
            k: (saved.get(k), v)
            for k, v in given.items()
            if k not in changeable and saved.get(k) != v
        }
        if clash:
            diff = ", ".join(
                f"--{k.replace('_', '-')}: run has {a!r}, given {b!r}"
                for k, (a, b) in clash.items()
            )
            raise ValueError(f"--resume: the checkpoint's run has another configuration ({diff})")
        merged = dict(vars(args))  # defaults for flags newer than the run
        merged.update(saved)
        merged.update(given)
        args = argparse.Namespace(**merged)
        args.resume = str(ckpt)
    else:
        run_dir = None
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}: {err}"
        ) from None
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
    for name in (
        "n_envs",
        "total_timesteps",
        "checkpoint_freq",
        "log_interval",
        "eval_episodes",
        "threads",
    ):
        value = getattr(args, name)
        minimum = 0 if name == "total_timesteps" else 1
        if value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")
    if args.algo != "ppo":
        stray = [k for k in PPO_FLAGS if k in given]
        if stray:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in stray)
            raise ValueError(f"{flags} only apply to --algo ppo, got --algo {args.algo}")
    resolve_env_id(args.env)  # unknown id: error naming the closest ones
    kwargs = model_kwargs(args)
    if run_dir is None:
        name = args.run_name or run_name(args.env, args.credit, args.seed, args.algo)
        run_dir = Path(args.runs_dir) / name
    return args, kwargs, run_dir, resuming


def main(argv: list[str] | None = None) -> int:
    """Train, checkpoint, evaluate; returns the exit code."""
    try:
        args, kwargs, run_dir, resuming = prepare(argv)
        env_kwargs = json.loads(args.env_kwargs)
        torch.set_num_threads(args.threads)
        env = make_env(args.env, args.n_envs, seed=args.seed, env_kwargs=env_kwargs)
        if resuming:
            model = AGENTS[ALGOS[args.algo]].load(
                args.resume,
                env=env,
                device=args.device,
                **{k: kwargs[k] for k in STRUCTURAL_KEYS},
            )
            env.seed(args.seed + model.num_timesteps)  # fresh episodes, still reproducible
        else:
            model = AGENTS[ALGOS[args.algo]](
                "MlpRecurrentPolicy", env, seed=args.seed, device=args.device, **kwargs
            )
    except (ValueError, TypeError) as err:  # TypeError: gymnasium.make's unknown kwargs
        print(f"error: {err}", file=sys.stderr)
        return 2

    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    config = {"args": vars(args), "model": model.get_config(), "run_dir": str(run_dir)}
    _write_json(run_dir / "config.json", config)
    formats = ["tensorboard"] + (["stdout"] if args.verbose else [])
    logger = configure(str(run_dir), formats)
    for fmt in logger.output_formats:
        if isinstance(fmt, TensorBoardOutputFormat):
            fmt.writer.add_text("config", _config_text(config), global_step=model.num_timesteps)
    model.set_logger(logger)
    remaining = args.total_timesteps - model.num_timesteps
    print(f"run folder: {run_dir}")
    print(f"tensorboard --logdir {args.runs_dir if not resuming else run_dir.parent}")
    code = 0
    try:
        if remaining > 0:
            model.learn(
                remaining,
                callback=PeriodicCheckpoint(ckpt_dir, args.checkpoint_freq),
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
        code = 3
    except KeyboardInterrupt:
        model.save(ckpt_dir / "latest.zip")
        print(
            f"\ninterrupted at step {model.num_timesteps}; saved {ckpt_dir / 'latest.zip'} "
            f"(continue with --resume {ckpt_dir / 'latest.zip'})",
            file=sys.stderr,
        )
        code = 130
    finally:
        logger.close()
        env.close()
    if code:
        return code

    eval_env = make_env(
        args.env, min(8, args.eval_episodes), seed=args.seed + 10_000, env_kwargs=env_kwargs
    )
    summary = evaluate(model, eval_env, args.eval_episodes, deterministic=not args.eval_stochastic)
    eval_env.close()
    summary.update(
        env=args.env,
        algo=args.algo,
        credit=args.credit,
        seed=args.seed,
        num_timesteps=model.num_timesteps,
    )
    _write_json(run_dir / "eval.json", summary)
    head = (
        f"{args.env} {ALGOS[args.algo]} {args.credit} seed {args.seed}, {model.num_timesteps} steps"
    )
    print(f"{head}: {format_summary(summary)}")
    print(f"saved {run_dir / 'final.zip'} and {run_dir / 'eval.json'}")
    print(f"look at it: tensorboard --logdir {run_dir.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
