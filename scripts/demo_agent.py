"""Main job: train the BP(λ) agent on a T-maze, beside TBPTT with the same window.

Trains ``RecurrentA2C`` twice on ``bpl/TMaze-v0`` (same seed, window, budget): once with
``credit="bp_lambda"`` and once with ``credit="tbptt"``, each a normal ``scripts/train.py``
run under ``runs/``, then prints both evaluations (success rate = correct turns) and the
``tensorboard --logdir runs`` line to look at the curves.

    python scripts/demo_agent.py                     # the README's main job
    python scripts/demo_agent.py --corridor-length 50 --total-timesteps 300000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python scripts/demo_agent.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    import train as train_script
except ImportError:  # imported as scripts.demo_agent
    from scripts import train as train_script


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corridor-length", type=int, default=20, help="T-maze L (default: 20)")
    p.add_argument("--n-steps", type=int, default=8, help="window of both agents (default: 8)")
    p.add_argument(
        "--total-timesteps", type=int, default=150_000, help="steps per agent (default: 150000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--runs-dir", default="runs", help="TensorBoard parent folder (default: runs)")
    p.add_argument(
        "--credits",
        nargs="+",
        default=["bp_lambda", "tbptt"],
        help="modes (default: bp_lambda tbptt)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train each mode, then print the comparison; returns the exit code."""
    args = build_parser().parse_args(argv)
    rows = []
    for credit in args.credits:
        name = train_script.run_name("bpl/TMaze-v0", credit, args.seed)
        code = train_script.main(
            [
                "--env",
                "bpl/TMaze-v0",
                "--env-kwargs",
                json.dumps({"corridor_length": args.corridor_length}),
                "--credit",
                credit,
                "--n-steps",
                str(args.n_steps),
                "--total-timesteps",
                str(args.total_timesteps),
                "--seed",
                str(args.seed),
                "--runs-dir",
                args.runs_dir,
                "--run-name",
                name,
            ]  # fmt: skip
            + (["--no-progress"] if args.no_progress else [])
        )
        if code != 0:
            return code
        rows.append(json.loads((Path(args.runs_dir) / name / "eval.json").read_text()))
    print(f"\nT-maze, corridor length {args.corridor_length}, window n_steps={args.n_steps}, ")
    print(f"{args.total_timesteps} steps per agent, seed {args.seed}:")
    for row in rows:
        print(
            f"  {row['credit']:>9}: correct turns {100 * row['success_rate']:5.1f}%, "
            f"return {row['mean_return']:.2f} ± {row['std_return']:.2f}"
        )
    print(f"\ntensorboard --logdir {args.runs_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
