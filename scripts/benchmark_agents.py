"""Throughput (env steps/s) of RecurrentA2C's credit modes, and of this package's
RecurrentPPO, beside sb3-contrib's RecurrentPPO, and the alignment cost of cheaper
gradient critics, in one run on this machine.

Every agent trains for ``--steps`` steps with 8 envs and hidden size 64 on the same
environment, one after another in one process (same threads, same load). Throughput is
steps / wall-clock time of ``learn`` (rollouts + updates), after a short warm-up.

Alignment (``--alignment``): for each gradient-critic variant, a second run with the
policy frozen (learning rate 1e-12, as in the paper's frozen-RNN measurement) logs
``bpl/sg_cosine``, the cosine between ĝ(z_t) and the exact discounted future gradient
G_t from a backward sweep over stored steps; the table reports its mean over the second
half of the run.

    python scripts/benchmark_agents.py                         # ~5 minutes on 2 cores
    python scripts/benchmark_agents.py --steps 8000 --no-alignment --out results/bench.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.logger import Logger, configure

from agents import RecurrentA2C, RecurrentPPO, make_env
from agents.cli import add_threads_flag, set_threads

#: (label, RecurrentA2C keyword arguments; ``agent=RecurrentPPO`` for this package's PPO,
#: whose critic is RecurrentA2C's, so no alignment run); hidden size and envs are set by
#: the flags.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("tbptt gru", dict(credit="tbptt")),
    ("immediate gru (one-step gradients)", dict(credit="immediate")),
    (
        "bp_lambda gru, linear critic (full trace; default)",
        dict(credit="bp_lambda", sg_trace="exact"),
    ),
    (
        "bp_lambda gru, linear critic, raw state input",
        dict(credit="bp_lambda", sg_normalize_input=False),
    ),
    (
        "bp_lambda gru, linear critic, diagonal trace",
        dict(credit="bp_lambda", sg_trace="diagonal"),
    ),
    (
        "bp_lambda gru, linear critic, block:16 trace",
        dict(credit="bp_lambda", sg_trace="block:16"),
    ),
    ("bp_lambda gru, critic 32 frozen", dict(credit="bp_lambda", sg_hidden_sizes=(32,))),
    ("bp_lambda gru, critic 16 frozen", dict(credit="bp_lambda", sg_hidden_sizes=(16,))),
    ("bp_lambda gru, critic 8 frozen", dict(credit="bp_lambda", sg_hidden_sizes=(8,))),
    ("dni gru, linear critic", dict(credit="dni")),
    ("bptt gru", dict(credit="bptt")),
    (
        "tbptt gru, 10 epochs, value on the actor's core",
        dict(credit="tbptt", agent=RecurrentPPO, n_epochs=10, policy_kwargs={"value_core": False}),
    ),
    (
        "bp_lambda gru, 10 epochs, value on the actor's core",
        dict(
            credit="bp_lambda", agent=RecurrentPPO, n_epochs=10, policy_kwargs={"value_core": False}
        ),
    ),
]


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--env", default="bpl/CartPoleNoVel-v1", help="env id")
    p.add_argument("--env-kwargs", default="{}", help="JSON kwargs for gymnasium.make")
    p.add_argument("--steps", type=int, default=16_384, help="timed steps per agent")
    p.add_argument("--n-envs", type=int, default=8, help="parallel environments")
    p.add_argument("--hidden-size", type=int, default=64, help="core units")
    p.add_argument("--n-steps", type=int, default=8, help="RecurrentA2C window")
    add_threads_flag(p)
    p.add_argument("--no-ppo", action="store_true", help="skip RecurrentPPO")
    p.add_argument("--no-alignment", action="store_true", help="skip the sg_cosine runs")
    p.add_argument("--only", nargs="*", default=None, help="labels (substrings) to run")
    p.add_argument("--out", default=None, help="also write the Markdown table here")
    return p


def _timed_learn(model: Any, steps: int) -> float:
    model.learn(max(steps // 8, 512))  # warm-up: first allocations, env resets
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


class _Capture(Logger):
    """A logger that keeps every dumped ``bpl/sg_cosine`` value."""

    def __init__(self) -> None:
        super().__init__(folder=None, output_formats=[])
        self.values: list[float] = []

    def dump(self, step: int = 0) -> None:
        if "bpl/sg_cosine" in self.name_to_value:
            self.values.append(float(self.name_to_value["bpl/sg_cosine"]))
        super().dump(step)


def alignment(args: argparse.Namespace, kwargs: dict[str, Any], env_kwargs: dict) -> float:
    """Mean bpl/sg_cosine over the second half of a frozen-policy run."""
    env = make_env(args.env, args.n_envs, seed=1, env_kwargs=env_kwargs)
    model = RecurrentA2C(
        "MlpRecurrentPolicy",
        env,
        seed=1,
        device="cpu",
        hidden_size=args.hidden_size,
        n_steps=args.n_steps,
        learning_rate=1e-12,
        log_sg_cosine=True,
        sg_cosine_horizon=128,
        **kwargs,
    )
    cap = _Capture()
    model.set_logger(cap)
    model.learn(args.steps, log_interval=16)
    vals = cap.values[len(cap.values) // 2 :]
    return float(np.mean(vals)) if vals else float("nan")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        threads = set_threads(args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    env_kwargs = json.loads(args.env_kwargs)
    rows: list[tuple[str, float, str]] = []
    silent = configure(None, [])
    if not args.no_ppo:
        try:
            from sb3_contrib import RecurrentPPO
        except ImportError:
            print("sb3-contrib not installed: no RecurrentPPO row (pip install sb3-contrib)")
        else:
            env = make_env(args.env, args.n_envs, seed=0, env_kwargs=env_kwargs)
            model = RecurrentPPO(
                "MlpLstmPolicy",
                env,
                seed=0,
                device="cpu",
                policy_kwargs={"lstm_hidden_size": args.hidden_size},
            )
            model.set_logger(silent)
            fps = _timed_learn(model, args.steps)
            rows.append(("RecurrentPPO (sb3-contrib defaults, LSTM)", fps, "–"))
            print(f"{rows[-1][0]}: {fps:.0f} steps/s", flush=True)
    for label, kwargs in VARIANTS:
        if args.only and not any(s in label for s in args.only):
            continue
        env = make_env(args.env, args.n_envs, seed=0, env_kwargs=env_kwargs)
        kwargs = dict(kwargs)
        agent = kwargs.pop("agent", RecurrentA2C)
        model = agent(
            "MlpRecurrentPolicy",
            env,
            seed=0,
            device="cpu",
            hidden_size=args.hidden_size,
            n_steps=args.n_steps,
            **kwargs,
        )
        model.set_logger(silent)
        fps = _timed_learn(model, args.steps)
        cos = "–"
        if (
            not args.no_alignment
            and agent is RecurrentA2C
            and kwargs["credit"] in ("bp_lambda", "dni")
        ):
            cos = f"{alignment(args, kwargs, env_kwargs):.3f}"
        rows.append((f"{agent.__name__} {label}", fps, cos))
        print(f"{rows[-1][0]}: {fps:.0f} steps/s, sg_cosine {cos}", flush=True)
    ref = rows[0][1] if rows and rows[0][0].startswith("RecurrentPPO") else None
    lines = [
        f"`{args.env}`, {args.n_envs} envs, hidden size {args.hidden_size}, window "
        f"{args.n_steps} (this package's agents), {args.steps} timed steps, "
        f"{threads} torch thread(s).",
        "",
        "| agent | env steps/s | × RecurrentPPO | sg_cosine (frozen policy) |",
        "|---|---|---|---|",
    ]
    for label, fps, cos in rows:
        ratio = f"{fps / ref:.2f}" if ref else "–"
        lines.append(f"| {label} | {fps:.0f} | {ratio} | {cos} |")
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
