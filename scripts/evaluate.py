"""Evaluate a RecurrentA2C or RecurrentPPO checkpoint: run N episodes and print mean ± std
return and the success rate (where the environment reports ``info["is_success"]``).

    python scripts/evaluate.py runs/<run>/final.zip                  # env from the run
    python scripts/evaluate.py model.zip --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}'

By default the episodes are seeded as train.py's final evaluation (--seed of the run +
10000, the same number of parallel environments), so the same checkpoint reports the
same numbers as the run's eval.json. Exit codes: 0 done, 2 bad input (a missing,
corrupt or diverged checkpoint included), 4 the environment raised.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents import load_agent, make_env
from agents.cli import add_threads_flag, set_threads
from agents.evaluation import evaluate, format_summary
from agents.runs import EVAL_SEED_OFFSET, EnvironmentFailed, check_device, guard_env


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", help="checkpoint written by train.py or model.save()")
    p.add_argument("--env", default=None, help="env id (default: the run's, from config.json)")
    p.add_argument("--env-kwargs", default=None, help="JSON kwargs for gymnasium.make")
    p.add_argument("--episodes", type=int, default=100, help="episodes to run (default: 100)")
    p.add_argument("--n-envs", type=int, default=8, help="parallel environments (default: 8)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seed of the episodes (default: the run's --seed + {EVAL_SEED_OFFSET}, as "
        f"train.py's eval.json; {EVAL_SEED_OFFSET} without a run)",
    )
    p.add_argument("--stochastic", action="store_true", help="sample actions (default: mode)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_threads_flag(p)
    p.add_argument("--json", default=None, help="also write the summary to this file")
    return p


def _run_config(checkpoint: Path) -> dict:
    """The ``args`` of the run's config.json beside the checkpoint ({} if none)."""
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        path = folder / "config.json"
        if path.exists():
            try:
                saved = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
                raise ValueError(f"{path} is not a readable JSON config.json ({err})") from None
            args = saved.get("args") if isinstance(saved, dict) else None
            if not isinstance(args, dict):
                raise ValueError(f"{path} has no 'args' object; pass --env (and --env-kwargs)")
            return args
    return {}


def _env_kwargs(text: str) -> dict:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"--env-kwargs must be a JSON object, got {text!r}: {err}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Evaluate; returns the exit code (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        set_threads(args.threads)
        check_device(args.device)
        ckpt = Path(args.checkpoint)
        if not ckpt.exists() and Path(f"{ckpt}.zip").exists():
            ckpt = Path(f"{ckpt}.zip")
        if not ckpt.exists():
            raise ValueError(f"no such file: checkpoint {ckpt} does not exist")
        if not ckpt.is_file():
            raise ValueError(f"checkpoint {ckpt} is not a file")
        if args.episodes < 1 or args.n_envs < 1:
            raise ValueError(
                f"--episodes and --n-envs must be >= 1, got {args.episodes}, {args.n_envs}"
            )
        saved = _run_config(ckpt)
        env_id = args.env or saved.get("env")
        if env_id is None:
            raise ValueError(f"no --env given and no config.json beside {ckpt}")
        same_env = args.env is None or args.env == saved.get("env")
        saved_kwargs = saved.get("env_kwargs") if same_env else None
        env_kwargs = _env_kwargs(args.env_kwargs or saved_kwargs or "{}")
        seed = args.seed
        if seed is None:
            run_seed = saved.get("seed", 0) if same_env else 0
            seed = (run_seed if isinstance(run_seed, int) else 0) + EVAL_SEED_OFFSET
        n_envs = min(args.n_envs, args.episodes)
        env = guard_env(make_env(env_id, n_envs, seed=seed, env_kwargs=env_kwargs))
        model = load_agent(ckpt, env=env, device=args.device)
    except (ValueError, TypeError) as err:  # TypeError: gymnasium.make's unknown kwargs
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        summary = evaluate(model, env, args.episodes, deterministic=not args.stochastic)
    except EnvironmentFailed as err:
        print(f"error: the evaluation stopped: {err}", file=sys.stderr)
        return 4
    summary.update(env=env_id, checkpoint=str(ckpt), num_timesteps=model.num_timesteps, seed=seed)
    name = f"{type(model).__name__} {model.credit}"
    print(f"{env_id} {name}, {model.num_timesteps} steps: {format_summary(summary)}")
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(summary, indent=2))
        except OSError as err:
            print(f"error: cannot write --json {args.json}: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
