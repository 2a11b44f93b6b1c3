"""Learn a synthetic gradient with BP(λ) on a delayed-loss task and watch it align.

A fixed random tanh RNN sees a cue at step 0 and is scored only at the last step; the
gradient critic ĝ(z_t) must predict, at every earlier state, the gradient that loss
will send back. For λ ∈ {1, 0} the script trains ĝ by accumulate BP(λ), online, and
prints the mean cosine between ĝ_t and the exact BPTT future gradient G_t as it learns.

    python scripts/demo.py                 # about 8 s on one CPU thread (2 × 300 passes)
    python scripts/demo.py --delay 40 --hidden-size 32 --sg-lambda 1 0.5 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

import bpl
from agents.cli import add_renamed_flags, set_threads
from bpl.experiments import delayed_loss_problem, fit_critic, parse_hidden_sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hidden-size", type=int, default=16, help="RNN units H (default 16)")
    p.add_argument("--delay", type=int, default=20, help="steps from cue to loss (default 20)")
    p.add_argument("--gain", type=float, default=1.0, help="scale of the RNN's W_hh (default 1)")
    p.add_argument(
        "--sg-hidden-sizes",
        default="32",
        help="hidden layer sizes of the gradient critic, e.g. 32 or 64,32; '' for a linear "
        "critic (default 32)",
    )
    p.add_argument(
        "--sg-lambda",
        type=float,
        nargs="+",
        default=[1.0, 0.0],
        help="BP(λ)'s trace decay λ, one run per value (default 1 0)",
    )
    p.add_argument("--iterations", type=int, default=300, help="passes over the task (default 300)")
    p.add_argument(
        "--sg-learning-rate",
        type=float,
        default=1e-2,
        help="the critic's Adam learning rate (default 1e-2)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the task and critic (default 1)")
    p.add_argument("--json", type=Path, default=None, help="also write the curves to this file")
    add_renamed_flags(
        p,
        {
            "--critic-hidden": "--sg-hidden-sizes",
            "--lams": "--sg-lambda",
            "--lr": "--sg-learning-rate",
        },
    )
    args = p.parse_args(argv)
    try:
        args.sg_hidden_sizes = parse_hidden_sizes(args.sg_hidden_sizes)
    except ValueError as err:
        p.error(str(err))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads()  # small problem: one thread ($OMP_NUM_THREADS if set)
    rollout = delayed_loss_problem(
        hidden_size=args.hidden_size, delay=args.delay, gain=args.gain, seed=args.seed
    )
    shape = args.sg_hidden_sizes or "linear"
    print(
        f"tanh RNN H={args.hidden_size}, loss only at the last of {args.delay} steps; "
        f"gradient critic hidden layers: {shape}"
    )
    curves: dict[str, list[float]] = {}
    report_every = max(1, args.iterations // 6)
    for lam in args.sg_lambda:
        torch.manual_seed(args.seed)
        critic = bpl.SyntheticGradient(
            args.hidden_size, hidden_sizes=args.sg_hidden_sizes, activation="tanh"
        )
        learner = bpl.BPLambda(critic, gamma=1.0, lam=lam)
        opt = torch.optim.Adam(critic.parameters(), lr=args.sg_learning_rate)
        bar = tqdm(total=args.iterations, desc=f"BP({lam:g})", leave=False)
        lines: list[str] = []

        def report(i: int, cos: float, bar=bar, lines=lines) -> None:
            bar.update(1)
            bar.set_postfix(alignment=f"{cos:.3f}")
            if (i + 1) % report_every == 0 or i == 0:
                lines.append(f"  iteration {i + 1:4d}: mean cos(ĝ_t, G_t) = {cos:+.3f}")

        history = fit_critic(learner, opt, rollout, args.iterations, on_iteration=report)
        bar.close()
        print(f"BP(λ={lam:g})")
        print("\n".join(lines))
        curves[f"lam={lam:g}"] = history.tolist()
    final = {k: sum(v[-10:]) / len(v[-10:]) for k, v in curves.items()}
    print(
        "final alignment (mean of last 10 passes): "
        + ", ".join(f"{k}: {v:.3f}" for k, v in final.items())
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "curves": curves, "final": final},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
