"""Train the BP(λ) agent on a T-maze beside TBPTT and episode BPTT with the same window.

Trains ``RecurrentA2C`` once per credit mode (same seed, window and budget; by default
``bp_lambda``, ``tbptt`` and the episode-``bptt`` reference), each a normal training run
under ``runs/`` (as ``scripts/train.py``), then prints the evaluations (success rate =
correct turns) and the command that shows the learning curves in TensorBoard.

The default T-maze has corridor L = 50 with a time limit of 4(L+1) steps and GRU gates
chrono-initialised up to 2L steps, so the comparison is about memory: TBPTT(8) cannot
carry the cue's credit over 50 steps. Measured (seed 0, 150k steps, docs/agents.md):
BP(λ) 100%, TBPTT 41%, BPTT 100% correct turns.

    python scripts/demo_agent.py
    python scripts/demo_agent.py --task cartpole-novel          # return instead of success
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

from agents.cli import add_threads_flag, set_threads, tensorboard_command
from agents.runs import run_name, train

TASKS = {
    "tmaze": ("bpl/TMaze-v0", 150_000),
    "cartpole-novel": ("bpl/CartPoleNoVel-v1", 100_000),
}
#: env steps/s of RecurrentA2C per credit mode with one thread on a 2-core CPU
#: (docs/results/agent_throughput.md), for the estimate printed before training
STEPS_PER_S = {"bp_lambda": 1000, "dni": 4000, "tbptt": 5000, "bptt": 3000, "immediate": 5000}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", choices=sorted(TASKS), default="tmaze", help="task (default: tmaze)")
    p.add_argument("--corridor-length", type=int, default=50, help="T-maze L (default: 50)")
    p.add_argument(
        "--max-steps", type=int, default=None, help="T-maze time limit (default: 4(L+1))"
    )
    p.add_argument(
        "--chrono-max",
        type=int,
        default=None,
        help="T-maze: chrono initialisation of the GRU gates up to this many steps "
        "(default: 2L; 0 = constant gate bias)",
    )
    p.add_argument("--n-steps", type=int, default=8, help="window of every agent (default: 8)")
    p.add_argument(
        "--total-timesteps", type=int, default=None, help="steps per agent (default: per task)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--runs-dir", default="runs", help="TensorBoard parent folder (default: runs)")
    p.add_argument(
        "--credits", nargs="+", default=["bp_lambda", "tbptt", "bptt"], help="credit modes"
    )
    add_threads_flag(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


class _Progress(BaseCallback):
    """Advance a shared progress bar by the steps each training collects."""

    def __init__(self, bar: tqdm | None) -> None:
        super().__init__()
        self.bar, self._seen = bar, 0

    def _on_training_start(self) -> None:
        self._seen = self.num_timesteps

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.num_timesteps - self._seen)
        self._seen = self.num_timesteps
        return True


def _plan(args: argparse.Namespace) -> tuple[str, dict, list[str], int]:
    """(env id, env kwargs, extra train flags, steps per agent) for the task."""
    env_id, budget = TASKS[args.task]
    env_kwargs: dict = {}
    extra: list[str] = []
    if args.task == "tmaze":
        max_steps = args.max_steps or 4 * (args.corridor_length + 1)
        env_kwargs = {"corridor_length": args.corridor_length, "max_steps": max_steps}
        chrono = 2 * args.corridor_length if args.chrono_max is None else args.chrono_max
        extra = ["--chrono-max", str(chrono)]
    return env_id, env_kwargs, extra, args.total_timesteps or budget


def main(argv: list[str] | None = None) -> int:
    """Train each mode, then print the comparison; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        threads = set_threads(args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    env_id, env_kwargs, extra, steps = _plan(args)
    seconds = sum(steps / STEPS_PER_S.get(c, 1000) for c in args.credits)
    print(
        f"{env_id} {env_kwargs or ''}: RecurrentA2C with credit "
        f"{', '.join(args.credits)}, one after another; {steps} steps each, window "
        f"n_steps={args.n_steps}, seed {args.seed}, {threads} torch thread(s).\n"
        f"Expect about {max(1, round(seconds / 60))} min on a 2-core CPU (measured rates; "
        "the progress bar's estimate is this machine's), plus the evaluations.",
        flush=True,
    )
    bar = None if args.no_progress else tqdm(total=steps * len(args.credits), unit="step")
    rows = []
    for credit in args.credits:
        if bar is not None:
            bar.set_description(credit)
        name = run_name(env_id, credit, args.seed)
        flags = ["--env", env_id, "--env-kwargs", json.dumps(env_kwargs), "--credit", credit]
        flags += ["--n-steps", str(args.n_steps), "--total-timesteps", str(steps)]
        flags += ["--seed", str(args.seed), "--runs-dir", args.runs_dir, "--run-name", name]
        flags += ["--threads", str(threads), "--no-progress", *extra]
        code = train(flags, callback=_Progress(bar))
        if code != 0:
            return code
        rows.append(json.loads((Path(args.runs_dir) / name / "eval.json").read_text()))
    if bar is not None:
        bar.close()
    print(f"\n{env_id} {env_kwargs or ''}: window n_steps={args.n_steps}, {steps} steps per agent")
    for row in rows:
        line = f"  {row['credit']:>9}: return {row['mean_return']:.2f} ± {row['std_return']:.2f}"
        if row.get("success_rate") is not None:
            line += f", correct turns {100 * row['success_rate']:.1f}%"
        print(line)
    print(f"\nlearning curves: {tensorboard_command(args.runs_dir)}  (then http://localhost:6006)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
