"""Probe one run of experiment (c): sequential digits with an LSTM, watched while it trains.

Trains the setup of ``reproduce_paper.py`` (c) — sklearn 8×8 digits row by row, LSTM,
γ = 0.9, λ = 1, β = 0.1, Adam (network 3e-3 clipped at norm 1, critic 1e-3 unclipped),
batches of 32 — for one method, window and seed, and every ``--every`` batches prints the
test accuracy, the critic's alignment cos(l_t + ĝ_t, dL/dz_t) on 64 training sequences,
and the mean norms of the state z_t and of the critic's prediction ĝ(z_t) at the last
step. With the critic's update clipped at norm 1 (``--sg-max-grad-norm 1``) the
predictions of an H = 30 LSTM's critic grow without bound (docs/results/paper_c_digits.md):

    python scripts/probes/probe_digits.py --method "bp_lambda(1)" --k 1 --batches 500 \\
        --sg-max-grad-norm 1
    python scripts/probes/probe_digits.py --method "bp_lambda(1)" --k 1 --batches 500

Methods: ``tbptt``, ``dni``, ``bp_lambda(λ)``, ``immediate``, ``bptt``; ``+std`` after a
synthetic-gradient method gives its critic standardised input. Needs scikit-learn
(``pip install 'bplambda[digits]'``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json

import torch

import bpl
from agents.cli import add_renamed_flags, add_threads_flag, set_threads
from bpl.experiments import (
    SequenceLearner,
    SequentialDigits,
    check_positive_flags,
    method_kwargs,
    parse_method,
)


def probe(
    method: str,
    k: int,
    hidden: int,
    batches: int,
    every: int,
    seed: int,
    sg_beta: float = 0.1,
    sg_max_grad_norm: float | None = None,
) -> list[dict]:
    """Train one learner; return one row of measurements every ``every`` batches."""
    task = SequentialDigits("sklearn", rows=True, seed=0)
    test = task.test_set()
    torch.manual_seed(seed)
    cell = bpl.LSTMCell(task.input_size, hidden)
    learner = SequenceLearner(
        cell,
        10,
        loss="ce",
        k=k,
        sg_gamma=0.9,
        sg_beta=sg_beta,
        learning_rate=3e-3,
        sg_learning_rate=1e-3,
        max_grad_norm=1.0,
        sg_max_grad_norm=sg_max_grad_norm,
        **method_kwargs(method),
    )
    gen = torch.Generator().manual_seed(1000 + seed)
    probe_batch = task.sample(64, generator=5)
    rows = []
    for b in range(1, batches + 1):
        learner.train_batch(*task.sample(32, gen))
        if b % every and b != batches:
            continue
        row = {"batch": b, "accuracy": learner.evaluate(*test)["accuracy"]}
        with torch.no_grad():
            z = cell.initial_state(probe_batch.inputs.shape[1])
            for x in probe_batch.inputs:
                z = cell(x, z)
            row["state_norm"] = float(z.norm(dim=1).mean())
            if learner.gradient_critic is not None:
                row["prediction_norm"] = float(learner.synthetic_gradient(z).norm(dim=1).mean())
        if learner.gradient_critic is not None:
            row["alignment"] = learner.alignment(*probe_batch)[1]
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--method", default="bp_lambda(1)", help="method (default: bp_lambda(1))")
    p.add_argument("--k", type=int, default=1, help="window (default: 1)")
    p.add_argument("--hidden", type=int, default=30, help="LSTM units (default: 30)")
    p.add_argument("--batches", type=int, default=500, help="training batches (default: 500)")
    p.add_argument("--every", type=int, default=100, help="report every N batches (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--sg-beta", type=float, default=0.1, help="β on ĝ (default: 0.1, as (c))")
    p.add_argument(
        "--sg-max-grad-norm",
        type=float,
        default=None,
        help="clip the critic's update to this norm (default: unclipped, as (c))",
    )
    add_threads_flag(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_renamed_flags(
        p, {"--beta": "--sg-beta", "--synth-clip": "--sg-max-grad-norm 1 (clip at norm 1)"}
    )
    return p


def _check(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad flag."""
    check_positive_flags(args, ("k", "hidden", "batches", "every"))
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if not args.sg_beta >= 0:
        raise ValueError(f"--sg-beta must be >= 0, got {args.sg_beta}")
    if args.sg_max_grad_norm is not None and not args.sg_max_grad_norm > 0:
        raise ValueError(f"--sg-max-grad-norm must be > 0, got {args.sg_max_grad_norm}")
    parse_method(args.method)


def main(argv: list[str] | None = None) -> list[dict]:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        _check(args)
    except ValueError as err:
        p.error(str(err))
    if importlib.util.find_spec("sklearn") is None:
        p.error("the digits need scikit-learn: pip install 'bplambda[digits]'")
    set_threads(args.threads)
    rows = probe(
        args.method,
        args.k,
        args.hidden,
        args.batches,
        args.every,
        args.seed,
        args.sg_beta,
        args.sg_max_grad_norm,
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    clip = "unclipped" if args.sg_max_grad_norm is None else f"{args.sg_max_grad_norm:g}"
    print(
        f"{args.method}, k {args.k}, LSTM H = {args.hidden}, seed {args.seed}, "
        f"β {args.sg_beta}, critic's update clip: {clip}"
    )
    print("| batch | test accuracy | alignment | ‖z_T‖ | ‖ĝ(z_T)‖ |")
    print("|---|---|---|---|---|")
    for r in rows:
        align = f"{r['alignment']:.3f}" if "alignment" in r else "–"
        pred = f"{r['prediction_norm']:.3g}" if "prediction_norm" in r else "–"
        print(f"| {r['batch']} | {r['accuracy']:.3f} | {align} | {r['state_norm']:.2f} | {pred} |")
    return rows


if __name__ == "__main__":
    main()
