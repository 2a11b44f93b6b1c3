"""Evaluate a RecurrentA2C or RecurrentPPO checkpoint: run N episodes and print mean ± std
return and the success rate (where the environment reports ``info["is_success"]``).

    python scripts/evaluate.py runs/<run>/final.zip                  # env from the run
    python scripts/evaluate.py model.zip --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents import load_agent, make_env
from agents.cli import set_threads
from agents.evaluation import evaluate, format_summary


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
    p.add_argument("--seed", type=int, default=12345, help="seed of the episodes (default: 12345)")
    p.add_argument("--stochastic", action="store_true", help="sample actions (default: mode)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1, or $OMP_NUM_THREADS)",
    )
    p.add_argument("--json", default=None, help="also write the summary to this file")
    return p


def _run_config(checkpoint: Path) -> dict:
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        path = folder / "config.json"
        if path.exists():
            return json.loads(path.read_text()).get("args", {})
    return {}


def main(argv: list[str] | None = None) -> int:
    """Evaluate; returns the exit code (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        set_threads(args.threads)
        ckpt = Path(args.checkpoint)
        saved = _run_config(ckpt)
        env_id = args.env or saved.get("env")
        if env_id is None:
            raise ValueError("no --env given and no config.json beside the checkpoint")
        same_env = args.env is None or args.env == saved.get("env")
        saved_kwargs = saved.get("env_kwargs") if same_env else None
        env_kwargs = json.loads(args.env_kwargs or saved_kwargs or "{}")
        if args.episodes < 1 or args.n_envs < 1:
            raise ValueError(
                f"--episodes and --n-envs must be >= 1, got {args.episodes}, {args.n_envs}"
            )
        env = make_env(
            env_id, min(args.n_envs, args.episodes), seed=args.seed, env_kwargs=env_kwargs
        )
        model = load_agent(ckpt, env=env, device=args.device)
    except (ValueError, TypeError) as err:  # TypeError: gymnasium.make's unknown kwargs
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = evaluate(model, env, args.episodes, deterministic=not args.stochastic)
    summary.update(env=env_id, checkpoint=str(ckpt), num_timesteps=model.num_timesteps)
    name = f"{type(model).__name__} {model.credit}"
    print(f"{env_id} {name}, {model.num_timesteps} steps: {format_summary(summary)}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
