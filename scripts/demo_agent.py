"""Main job: train the BP(λ) agent beside TBPTT with the same window, then compare.

Trains ``RecurrentA2C`` once per credit mode (same seed, window and budget), each a
normal ``scripts/train.py`` run under ``runs/``, then prints both evaluations and the
``tensorboard --logdir runs`` line to look at the learning curves.

Tasks (measured results and timings in docs/agents.md):

* ``cartpole-novel`` — ``bpl/CartPoleNoVel-v1`` (positions only), 100k steps per agent,
  about 3 minutes on 2 cores. Measured: BP(λ) return ≈ 490, TBPTT(8) ≈ 155.
* ``tmaze`` — ``bpl/TMaze-v0`` with ``--corridor-length`` (default 20), success rate =
  correct turns. Measured: neither mode beat chance at L = 50 within 150k steps.

    python scripts/demo_agent.py                           # cartpole-novel
    python scripts/demo_agent.py --task tmaze --corridor-length 20 --total-timesteps 150000
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

TASKS = {
    "cartpole-novel": ("bpl/CartPoleNoVel-v1", 100_000),
    "tmaze": ("bpl/TMaze-v0", 150_000),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", choices=sorted(TASKS), default="cartpole-novel", help="task")
    p.add_argument("--corridor-length", type=int, default=20, help="T-maze L (default: 20)")
    p.add_argument("--n-steps", type=int, default=8, help="window of every agent (default: 8)")
    p.add_argument("--total-timesteps", type=int, default=None, help="steps per agent")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--runs-dir", default="runs", help="TensorBoard parent folder")
    p.add_argument("--credits", nargs="+", default=["bp_lambda", "tbptt"], help="modes")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train each mode, then print the comparison; returns the exit code."""
    args = build_parser().parse_args(argv)
    env_id, budget = TASKS[args.task]
    steps = args.total_timesteps or budget
    env_kwargs = {"corridor_length": args.corridor_length} if args.task == "tmaze" else {}
    rows = []
    for credit in args.credits:
        name = train_script.run_name(env_id, credit, args.seed)
        code = train_script.main(
            [
                "--env",
                env_id,
                "--env-kwargs",
                json.dumps(env_kwargs),
                "--credit",
                credit,
                "--n-steps",
                str(args.n_steps),
                "--total-timesteps",
                str(steps),
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
    print(f"\n{env_id} {env_kwargs or ''}: window n_steps={args.n_steps}, {steps} steps per agent")
    for row in rows:
        line = f"  {row['credit']:>9}: return {row['mean_return']:.2f} ± {row['std_return']:.2f}"
        if row.get("success_rate") is not None:
            line += f", correct turns {100 * row['success_rate']:.1f}%"
        print(line)
    print(f"\ntensorboard --logdir {args.runs_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
